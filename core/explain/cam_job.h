#pragma once
// Batch Grad-CAM over an image list as a job: the torch-free entry point. Callable from
// lumen_core users (lumen-cli, widgets' jobs, plugins): the work runs in liblumen_ml, loaded
// from beside liblumen_core on first use (util/sibling_library.h), so nothing here includes
// or links LibTorch. Results go to the CAM cache of explain/heatmap.h (docs/explain.md).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::explain {

struct CamJobOptions {
    /// TorchScript file (forward_features + forward_head, or forward -> (logits, features)) or a
    /// Lumen roi_consistency checkpoint (its labels, image size and normalisation are used).
    std::filesystem::path model;
    /// What to explain: a CSV (column "path" if present, else the first column, each an image
    /// file relative to `imageRoot`; predictions tables work as they are), infer's preds.json
    /// (objects with "image" or "id", optional "path", "labels" naming the outputs) or a folder
    /// (its .png/.jpg/.jpeg/.bmp/.tif/.tiff/.dcm/.npy files, sorted; ids relative to the
    /// folder). Ids without a path are found by name in `workspace`.
    std::filesystem::path images;
    /// Where relative paths of the CSV point; default: the CSV's folder.
    std::filesystem::path imageRoot;
    std::filesystem::path workspace;  ///< the cache goes to camCacheDir(workspace, model, layer, method)
    std::filesystem::path cacheDir;   ///< overrides that folder when set (lumen-cli explain --out)
    std::string layer;                ///< "" = the model's default (its last feature map)
    std::string method = "gradcam";   ///< "gradcam" | "gradcam++" | "hirescam"
    /// "all" | "top:N" (the N highest-scoring outputs of each image) | names or indices,
    /// comma-separated ("Effusion,Mass" or "0,3").
    std::string labels = "all";
    /// Output names; empty: the checkpoint's, else the CSV's numeric column names when their
    /// count matches (a "Label.prob_full" column counts as "Label"), else "0", "1", ...
    std::vector<std::string> labelNames;
    /// Model input (H, W) or (D, H, W); empty: the checkpoint's image size, else 224 x 224.
    /// Images are resized (shorter side) and centre-cropped to it, as the tasks' evaluation does.
    std::vector<std::size_t> inputShape;
    /// Per-channel normalisation after scaling to [0, 1]; empty: the checkpoint's, else
    /// ImageNet's (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) for 3 channels, none otherwise.
    std::vector<float> mean, stdev;
    bool noNormalisation = false;        ///< true: no mean/std at all
    int channels = 3;                    ///< image channels the model takes (1 or 3)
    bool faithfulness = true;            ///< compute prob, prob_drop, cam_drop
    double keepRatio = 0.1;              ///< the CAM's top fraction removed for prob_drop
    std::string activation = "sigmoid";  ///< "sigmoid" | "softmax" | "none" (prob from the logits)
    int batchSize = 8;
    int threads = 0;             ///< LibTorch threads; 0 = all cores
    std::string device = "cpu";  ///< where the model runs: auto, cpu, cuda, cuda:N (train/device.h)
    std::size_t maxImages = 0;   ///< 0 = all
};

struct CamJobSummary {
    std::filesystem::path cacheDir;
    std::size_t images = 0;    ///< images in the list
    std::size_t computed = 0;  ///< CAMs computed in this run
    std::size_t reused = 0;    ///< CAMs already in the cache
    double seconds = 0;        ///< wall time of this run
    double secondsPerCam = 0;  ///< of the computed ones (forward + backward + faithfulness)
    std::string text() const;  ///< one line for logs and job results
};

/// One layer of a model as `lumen-cli explain --list-layers` shows it.
struct LayerInfo {
    std::string path;                 ///< submodule path ("layer4", "features.denseblock4")
    std::vector<std::int64_t> shape;  ///< its output on the probe input; empty when unknown
    std::string note;                 ///< why it cannot be explained, or how tokens become a grid
    bool explainable = false;         ///< a feature map (N,C,h,w)/(N,C,d,h,w) or tokens forming a grid
};

struct LayerListing {
    std::string model;                      ///< what was loaded
    std::vector<std::int64_t> probeShape;   ///< the probe input (1, C, H, W) / (1, C, D, H, W)
    std::vector<std::int64_t> outputShape;  ///< forward's output (its first tensor) on the probe
    std::string defaultLayer;               ///< what `explain` uses when no layer is named
    std::vector<LayerInfo> layers;          ///< execution order, then the layers that cannot be tapped
};

/// The layers of a model file and their output shapes on a probe input (`inputShape` (H,W) or
/// (D,H,W) and `channels`; empty / 0: guessed from its first convolution, 224² or 16×112²).
/// Runs in liblumen_ml. Throws std::runtime_error naming the file.
LayerListing listLayers(const std::filesystem::path& model, const std::vector<std::size_t>& inputShape = {},
                        int channels = 0);

/// Computes the CAMs that the cache lacks and writes them (index rewritten atomically every
/// few seconds and at the end, so a cancelled run keeps what it did). Progress with ETA and
/// cancellation through `job`. Throws std::runtime_error naming the file / row / option that
/// is wrong; jobs::Cancelled when cancelled.
CamJobSummary generateCams(const CamJobOptions& options, jobs::JobContext& job);

}  // namespace lumen::explain
