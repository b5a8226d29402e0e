#include "nn/video_encoder.h"

#include "nn/mvit.h"
#include "nn/video_resnet.h"

#include <stdexcept>

namespace lumen::nn {

std::shared_ptr<VideoEncoderImpl> makeVideoEncoder(const VideoEncoderOptions& options) {
    if (options.arch == "mvit_v2_s") return std::make_shared<MViTImpl>(options);
    if (options.arch == "r3d_18" || options.arch == "mc3_18" || options.arch == "r2plus1d_18")
        return std::make_shared<VideoResNetImpl>(options);
    throw std::invalid_argument("model.encoder: unknown video encoder \"" + options.arch +
                                "\" (known: r3d_18, mc3_18, r2plus1d_18, mvit_v2_s)");
}

PrefixedLoadReport loadVideoEncoderWeights(VideoEncoderImpl& encoder, const std::filesystem::path& path,
                                           const std::string& prefix) {
    return loadPrefixedStateDict(encoder, path, prefix, encoder.anchorKey(),
                                 "video encoder weights (" + encoder.options().arch + ")");
}

}  // namespace lumen::nn
