#include "explain/video_cam.h"

#include <stdexcept>
#include <string>

namespace lumen::explain {

StudyVideoCams studyVideoCams(nn::AngioMultiview& model, const torch::Tensor& videos, const torch::Tensor& mask,
                              const std::vector<std::int64_t>& columns, CamMethod method) {
    if (videos.dim() != 6 || videos.size(0) != 1 || mask.dim() != 2 || mask.size(0) != 1)
        throw std::invalid_argument("video Grad-CAM: expected one study, videos (1, V, C, T, H, W) and mask (1, V)");
    for (const auto k : columns)
        if (k < 0 || k >= model->numOutputs())
            throw std::invalid_argument("video Grad-CAM: output column " + std::to_string(k) + " of " +
                                        std::to_string(model->numOutputs()));
    const auto m = mask.to(torch::kBool);
    const auto real = m[0].nonzero().squeeze(1);
    StudyVideoCams out;
    for (std::int64_t i = 0; i < real.size(0); ++i) out.views.push_back(real[i].item<std::int64_t>());
    // The encoder up to its last stage without a graph; from the maps on, with one.
    nn::VideoFeatureMap features;
    {
        torch::NoGradGuard noGrad;
        features = model->encoder()->camFeatures(videos[0].index_select(0, real));  // map (R, C, t, h, w)
    }
    const auto maps = features.map.detach().to(torch::kFloat).requires_grad_(true);
    torch::AutoGradMode grad(true);
    const auto pooled = model->encoder()->camHead(
        {maps, features.token.defined() ? features.token.detach().to(torch::kFloat) : torch::Tensor()});  // (R, D)
    const auto v = videos.size(1);
    const auto embeddings = torch::zeros({v, pooled.size(1)}, pooled.options()).index_copy(0, real, pooled);
    const auto result = model->forwardFromEmbeddings(embeddings.unsqueeze(0), m);
    out.outputs = result.outputs.detach();
    for (const auto k : columns) {
        const auto g = torch::autograd::grad({result.outputs[0][k]}, {maps}, {}, /*retain_graph=*/true,
                                             /*create_graph=*/false, /*allow_unused=*/true)[0];
        out.cams.push_back(g.defined() ? camFromGradient(maps, g, method)
                                       : torch::zeros({maps.size(0), maps.size(2), maps.size(3), maps.size(4)}));
    }
    return out;
}

}  // namespace lumen::explain
