#pragma once
// The torch-free first half of generateCams (explain/cam_job.h): the image list, the outputs
// chosen per image and what the CAM cache already holds. Shared by the facade in lumen_core
// (which skips loading liblumen_ml when nothing is left to compute) and the LibTorch half.

#include "explain/cam_job.h"
#include "explain/heatmap.h"

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lumen::explain {

/// One image (or .npy array) to explain.
struct CamInput {
    std::string id;
    std::filesystem::path file;
};

struct CamPlan {
    std::vector<CamInput> items;              ///< the list, after maxImages
    std::vector<std::string> numericColumns;  ///< label-name candidates from a predictions table's header
    std::string methodName;                   ///< "gradcam" / "gradcam++" / "hirescam"
    std::string layerKey;                     ///< the layer part of the cache key ("default" when none named)
    std::filesystem::path cacheDir;
    CamCache cache;  ///< as read (entries' files joined with the dir)
    std::map<std::pair<std::string, std::string>, std::size_t> entryIndex;  ///< (id, label) -> entry
    std::vector<std::string> scoreNames;  ///< scores.csv: output names and logits per id
    std::map<std::string, std::vector<double>> scoreLogits;
    std::vector<std::size_t> todo;  ///< indices into items that need the model
    std::size_t reused = 0;         ///< CAMs of the other images, already cached
};

/// Validates the options, lists the images and reads the cache; throws naming what is wrong.
CamPlan planCams(const CamJobOptions& options);

/// "gradcam" / "gradcam++" / "hirescam" for the accepted spellings; throws std::invalid_argument otherwise.
std::string canonicalCamMethod(const std::string& name);

/// The outputs to explain for one image: "all", "top:N" (highest logits first, ties to the
/// lower index) or comma-separated names / indices. Throws naming an unknown one.
std::vector<int> chooseCamTargets(const std::string& spec, const std::vector<double>& logits,
                                  const std::vector<std::string>& names);

/// Writes scores.csv (id, one logit column per output name) atomically.
void writeCamScores(const std::filesystem::path& file, const std::vector<std::string>& names,
                    const std::map<std::string, std::vector<double>>& logits);

}  // namespace lumen::explain
