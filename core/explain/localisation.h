#pragma once
// Explanations measured against annotated boxes (docs/explain.md, "Explanations against
// boxes"): a CAM of the cache is mapped back onto its original image through the inverse of
// the model input transform (shorter side resized, centre crop) and compared with the boxes
// of its (image, label): pointing game, IoU of the box around the CAM's top region, AP@0.5 and
// AP@0.75 over images, and the same numbers for a control that pairs each CAM with another
// image's boxes of the same label. Torch-free (lumen_core).

#include "explain/heatmap.h"
#include "metrics/localization.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lumen::explain {

/// One annotated box in original image pixels: it covers [x, x + w] × [y, y + h] (pixel i
/// covers [i, i + 1)), as NIH's BBox_List_2017.csv and the demo's boxes.csv give it.
struct AnnotatedBox {
    std::string image, label;
    double x = 0, y = 0, w = 0, h = 0;
    std::size_t line = 0;  ///< where it was read
    metrics::Box box() const { return {x, y, x + w, y + h}; }
};

struct BoxTable {
    std::filesystem::path file;
    std::vector<AnnotatedBox> boxes;
};

/// Reads a boxes CSV: a header whose first field is "image" or "Image Index" (the demo's
/// `image,finding,x,y,w,h`, NIH's `Image Index,Finding Label,Bbox [x,y,w,h]` with its three
/// unnamed columns), then image, label, x, y, w, h per row; further cells must be empty.
/// Throws data::DataError naming file, line and column (unreadable file, missing header,
/// too few cells, a value that is not a finite number, w or h not > 0, a non-empty extra cell).
BoxTable readBoxes(const std::filesystem::path& file);

/// Where the model input lies in the original image, per axis: input coordinate
/// u = X · scale − offset for image coordinate X (continuous, pixel i covers [i, i + 1)).
/// For a square input S × S (the tasks' transform, explain/model_input.cpp): the shorter side
/// becomes S, the longer round(L · S / shorter) (data::augmentImage), then the centre crop
/// starts at floor((resized − S) / 2); scale = resized / original per axis. A non-square input
/// is a plain resize (offset 0).
struct InputGeometry {
    double scaleX = 1, scaleY = 1, offsetX = 0, offsetY = 0;
    double toImageX(double u) const { return (u + offsetX) / scaleX; }
    double toImageY(double v) const { return (v + offsetY) / scaleY; }
};
InputGeometry inputGeometry(std::size_t imageH, std::size_t imageW, std::size_t inputH, std::size_t inputW);

/// A raw 2-D CAM drawn on its original image (imageH × imageW): `upsample`d to the model input,
/// then sampled bilinearly at each image pixel's centre through inputGeometry; pixels outside
/// the centre crop (the model never saw them) are 0. Not normalised.
Heatmap camOnImage(const Heatmap& raw, std::size_t inputH, std::size_t inputW, std::size_t imageH, std::size_t imageW);

/// What one CAM gives in input pixels (inputH × inputW after `upsample` and `normalised`):
/// the hottest pixel (first in row-major order among equals) and the bounding box of the
/// largest 8-connected component of pixels >= threshold (ties: the component met first in
/// row-major order). `empty` when the CAM is constant (nothing to point at).
struct CamRegion {
    bool empty = true;
    std::size_t hotRow = 0, hotCol = 0;
    std::size_t rowMin = 0, rowMax = 0, colMin = 0, colMax = 0;  ///< inclusive pixel bounds
    std::size_t pixels = 0;                                      ///< of the component
};
CamRegion camRegion(const Heatmap& normalisedInput, double threshold);

struct LocalisationOptions {
    double threshold = 0.5;   ///< top region: normalised CAM >= threshold (of its max 1)
    std::uint64_t seed = 20;  ///< the control's derangement
    /// (height, width) of the image of a CAM; default (unset): an error. The CLI and the GUI
    /// use imageSizeFinder.
    std::function<std::pair<std::size_t, std::size_t>(const CamEntry&)> imageSize;
};

/// Finds an entry's image by its id as a path under one of `roots`, else by file name
/// anywhere below them (scanned once), and reads its size (io::readMedia). Throws
/// std::runtime_error naming the id when none is found.
std::function<std::pair<std::size_t, std::size_t>(const CamEntry&)> imageSizeFinder(
    std::vector<std::filesystem::path> roots);

/// The result of one (image, label) CAM against its boxes and against the control's.
struct PairResult {
    std::string id, image, label;  ///< cache id; box table image name
    double score = 0;              ///< prob if present, else the logit score
    std::size_t boxes = 0;
    std::size_t imageH = 0, imageW = 0;
    bool empty = false;         ///< constant CAM: miss, IoU 0, no detection
    double hotX = 0, hotY = 0;  ///< hottest pixel's centre in image pixels
    metrics::Box camBox;        ///< the top region's box in image pixels
    bool hit = false;           ///< hottest pixel inside one of the boxes
    double iou = 0;             ///< best IoU of camBox with the boxes
    std::string controlImage;   ///< whose boxes the control uses ("" when n = 1)
    bool controlHit = false;
    double controlIou = 0;
};

struct LabelScores {
    std::size_t cams = 0, boxes = 0, hits = 0;
    double pointing = 0, meanIou = 0;
    double ap50 = 0, ap75 = 0;
};

struct LabelResult {
    std::string label;
    LabelScores real;
    std::optional<LabelScores> control;  ///< empty when only one CAM of the label has boxes
};

struct LocalisationReport {
    std::filesystem::path cacheDir, boxesFile;
    double threshold = 0.5;
    std::uint64_t seed = 20;
    std::vector<PairResult> pairs;    ///< label, then image order
    std::vector<LabelResult> labels;  ///< sorted by label
    LabelResult overall;              ///< "all": counts summed, pointing / IoU over all pairs, mAP
    std::size_t camsWithoutBoxes = 0;
    std::size_t boxesWithoutCam = 0;
};

/// The control's pairing for n CAMs: Sattolo's algorithm (one n-cycle, so no CAM keeps its
/// own image) driven by splitmix64(seed): for i = n−1 … 1, j = next() mod i, swap(p[i], p[j]).
/// CAM i is scored against the boxes of CAM p[i]'s image. n < 2: identity.
std::vector<std::size_t> controlDerangement(std::size_t n, std::uint64_t seed);

/// Evaluates every CAM of `cache` whose (image, label) has boxes (the id matched as it is,
/// else by its file name). Throws std::runtime_error when no CAM has boxes, naming both files.
LocalisationReport evaluateLocalisation(const CamCache& cache, const BoxTable& boxes,
                                        const LocalisationOptions& options);

/// localisation.json (options, rule, per label and overall, per pair) and localisation.csv (one
/// row per pair) in `dir`, both written atomically.
void writeLocalisation(const LocalisationReport& report, const std::filesystem::path& dir);
/// The per-label table as text (boxes, pointing, mean IoU, AP@0.5, AP@0.75 and the control's).
std::string localisationTable(const LocalisationReport& report);

}  // namespace lumen::explain
