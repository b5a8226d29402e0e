#pragma once
// Class-activation heatmaps without LibTorch: resampling, normalisation, top-k masks, and the
// on-disk CAM cache that the explain engine writes and the viewers read (docs/explain.md).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lumen::explain {

/// A CAM on a 2-D (h,w) or 3-D (d,h,w) grid; values row-major.
struct Heatmap {
    std::vector<std::size_t> shape;
    std::vector<float> values;
};

/// Bilinear / trilinear resampling with half-pixel centres: equals
/// torch.nn.functional.interpolate(mode='bilinear'|'trilinear', align_corners=False).
/// Throws std::invalid_argument when the ranks differ, a size is 0 or values do not fit shape.
Heatmap upsample(const Heatmap& h, const std::vector<std::size_t>& targetShape);
/// Min-max to [0,1] (a constant map becomes all zeros).
Heatmap normalised(const Heatmap& h);
/// Fraction-of-pixels top-k: 1 where the value is among the k = floor(ratio*n) largest
/// (ties by index, like nn::topkMask), else 0. NaN ranks below every number.
std::vector<std::uint8_t> topFractionMask(const Heatmap& h, double ratio);

/// One cached CAM: (image or study id, label) -> raw CAM file and its numbers.
struct CamEntry {
    std::string id, label;
    int target = 0;  ///< output column the CAM explains
    /// The .npy file. index.csv stores it relative to the cache dir; readCamCache joins it
    /// with the dir, so in memory it is a usable path (writeCamCacheIndex makes it relative again).
    std::filesystem::path file;
    double score = 0;                                ///< the explained score (logit) of `target`
    double rawMin = 0, rawMax = 0;                   ///< range of the raw CAM
    std::size_t inputH = 0, inputW = 0, inputD = 1;  ///< model input size the CAM maps onto
    std::optional<double> prob, probDrop, camDrop;   ///< faithfulness; empty when not computed
};

/// The CAM cache of one (model file, layer, method): a folder
///   <workspace>/cache/cam/<key>/   key = first 16 hex of sha256(model file bytes) + "_" + layer + "_" + method
/// holding index.csv, meta.json (model, layer, method) and one <safe id>__<safe label>.npy per
/// entry: the RAW CAM (after ReLU, before normalisation) at feature resolution, float32.
struct CamCache {
    std::filesystem::path dir;
    std::string model, layer, method;
    std::vector<CamEntry> entries;
    const CamEntry* find(const std::string& id, const std::string& label) const;
};

/// The cache folder for (model file, layer, method) under `workspace`; throws
/// std::runtime_error naming the model file when it cannot be read. Layer and method
/// characters outside [A-Za-z0-9._+-] become '_' ("gradcam++" stays). The model hash is memoised per
/// (path, size, mtime) in the process.
std::filesystem::path camCacheDir(const std::filesystem::path& workspace, const std::filesystem::path& modelFile,
                                  const std::string& layer, const std::string& method);
/// The file name of an entry: "<safe id>__<safe label>.npy"; an id or label that had to be
/// changed to be safe gets "-" + 8 hex of its sha256 appended, so distinct ids never collide.
std::string camFileName(const std::string& id, const std::string& label);
/// Reads dir/index.csv (and meta.json when present). A missing index gives an empty cache
/// for `dir`; a bad one throws data::DataError naming the file, line and column.
CamCache readCamCache(const std::filesystem::path& dir);
/// Writes index.csv and meta.json atomically (creating dir); entries in their order.
void writeCamCacheIndex(const CamCache& cache);
/// Reads e.file (as readCamCache returns it: already joined with the cache dir) as a 2-D/3-D
/// Heatmap; throws io::ReadError naming the file.
Heatmap loadCam(const CamEntry& e);
/// Same, with a bare file name in e.file taken relative to `cacheDir`.
Heatmap loadCam(const CamEntry& e, const std::filesystem::path& cacheDir);
/// Writes `h` as float32 .npy at e.file (a bare file name under `cacheDir`), atomically.
void saveCam(const Heatmap& h, const CamEntry& e, const std::filesystem::path& cacheDir);

}  // namespace lumen::explain
