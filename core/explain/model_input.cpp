#include "explain/model_input.h"

#include "data/augment.h"
#include "data/loader.h"
#include "io/npy_reader.h"
#include "io/read_error.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>

namespace lumen::explain {
namespace {

/// HU window [centre, width] to [0, 1] (the CT task's rule), then mean/std as for images.
torch::Tensor windowed(const torch::Tensor& t, const std::vector<float>& w) {
    const float lo = w.at(0) - w.at(1) / 2;
    return ((t - lo) / w.at(1)).clamp(0, 1);
}

torch::Tensor resizeSpatial(const torch::Tensor& x, const std::vector<std::size_t>& shape) {
    std::vector<std::int64_t> size(shape.begin(), shape.end());
    if (std::equal(size.begin(), size.end(), x.sizes().begin() + 1)) return x;
    namespace F = torch::nn::functional;
    auto options = F::InterpolateFuncOptions().size(size).align_corners(false);
    if (shape.size() == 2) options.mode(torch::kBilinear);
    else options.mode(torch::kTrilinear);
    return F::interpolate(x.unsqueeze(0), options).squeeze(0);
}

/// Per channel (t[c] - mean[c]) / std[c]; a shorter list repeats its last value.
torch::Tensor normalised(torch::Tensor t, const std::vector<float>& mean, const std::vector<float>& stdev) {
    if (mean.empty()) return t;
    for (std::int64_t c = 0; c < t.size(0); ++c) {
        const float m = mean[std::min<std::size_t>(static_cast<std::size_t>(c), mean.size() - 1)];
        const float s =
            stdev.empty() ? 1.0f : stdev[std::min<std::size_t>(static_cast<std::size_t>(c), stdev.size() - 1)];
        t[c] = (t[c] - m) / s;
    }
    return t;
}

}  // namespace

torch::Tensor loadModelInput(const std::filesystem::path& file, const std::vector<std::size_t>& shape, int channels,
                             const std::vector<float>& mean, const std::vector<float>& stdev,
                             const std::vector<float>& huWindow) {
    const auto sr = static_cast<std::int64_t>(shape.size());
    std::string ext = file.extension().string();
    for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (ext == ".npy") {
        // Arrays are the model input as it is (already normalised) unless an HU window is given;
        // only the size is adapted.
        io::NpyArray a = io::readNpy(file);
        std::vector<std::int64_t> dims(a.shape.begin(), a.shape.end());
        torch::Tensor t = torch::from_blob(a.values.data(), dims, torch::kFloat).clone();
        if (t.dim() == sr) t = t.unsqueeze(0);
        if (!huWindow.empty()) t = windowed(t, huWindow);
        if (t.dim() != sr + 1 || t.size(0) != channels)
            throw io::ReadError(file, "expected an array (" + std::to_string(channels) + ", " + (sr == 3 ? "D, " : "") +
                                          "H, W) for this model, got " + std::to_string(a.shape.size()) + "-D");
        t = resizeSpatial(t, shape);
        return huWindow.empty() ? t : normalised(t, mean, stdev);
    }
    if (sr != 2) throw io::ReadError(file, "3-D models take .npy volumes (C, D, H, W) here (see docs/explain.md)");
    const cv::Mat unit = data::loadUnitImage(file, channels);
    cv::Mat img;
    if (shape[0] == shape[1]) {
        // The tasks' evaluation transform: shorter side to the size, centre crop.
        data::AugmentOptions a;
        a.resize = static_cast<int>(shape[0]);
        a.crop = static_cast<int>(shape[0]);
        img = data::augmentImage(unit, a, 0);
    } else {
        cv::resize(unit, img, cv::Size(static_cast<int>(shape[1]), static_cast<int>(shape[0])), 0, 0, cv::INTER_LINEAR);
    }
    img = img.isContinuous() ? img : img.clone();
    torch::Tensor t =
        torch::from_blob(img.data, {img.rows, img.cols, img.channels()}, torch::kFloat).permute({2, 0, 1}).clone();
    if (channels == 3) t = t.flip({0});  // OpenCV's BGR -> RGB, as the image dataset does
    return normalised(t, mean, stdev);
}

}  // namespace lumen::explain
