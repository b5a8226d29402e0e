#pragma once
// Box localisation metrics (docs/metrics.md): IoU of axis-aligned boxes in continuous
// coordinates, and mean average precision at an IoU threshold (greedy matching by score,
// all-point interpolated precision envelope, as PASCAL VOC 2010+).

#include <string>
#include <vector>

namespace lumen::metrics {

struct Box {
    double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  ///< corners, x1 <= x2 and y1 <= y2
};

struct GroundTruthBox {
    std::string image, label;
    Box box;
};

struct DetectedBox {
    std::string image, label;
    double score = 0;
    Box box;
};

/// Intersection over union; 0 when the union is empty.
double iou(const Box& a, const Box& b);

struct DetectionReport {
    double iouThreshold = 0.5;
    std::vector<std::string> labels;       ///< labels with at least one ground-truth box
    std::vector<double> averagePrecision;  ///< per entry of `labels`
    double meanAveragePrecision = 0;
};

/// A detection is a true positive when its IoU with the best still unmatched ground-truth box of
/// the same image and label is >= iouThreshold. Labels without ground truth are left out.
DetectionReport evaluateDetections(const std::vector<GroundTruthBox>& truth, const std::vector<DetectedBox>& detections,
                                   double iouThreshold);

}  // namespace lumen::metrics
