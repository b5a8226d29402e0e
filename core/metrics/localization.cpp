#include "metrics/localization.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>

namespace lumen::metrics {

double iou(const Box& a, const Box& b) {
    const double iw = std::max(0.0, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
    const double ih = std::max(0.0, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
    const double inter = iw * ih;
    const double areaA = std::max(0.0, a.x2 - a.x1) * std::max(0.0, a.y2 - a.y1);
    const double areaB = std::max(0.0, b.x2 - b.x1) * std::max(0.0, b.y2 - b.y1);
    const double uni = areaA + areaB - inter;
    return uni > 0 ? inter / uni : 0.0;
}

DetectionReport evaluateDetections(const std::vector<GroundTruthBox>& truth, const std::vector<DetectedBox>& detections,
                                   double iouThreshold) {
    if (!(iouThreshold > 0 && iouThreshold <= 1)) throw std::invalid_argument("IoU threshold must lie in (0, 1]");
    DetectionReport report;
    report.iouThreshold = iouThreshold;
    std::set<std::string> labels;
    for (const auto& g : truth) labels.insert(g.label);
    for (const auto& label : labels) {
        // Ground-truth boxes of this label per image, with a matched flag each.
        std::map<std::string, std::vector<std::pair<Box, bool>>> byImage;
        double positives = 0;
        for (const auto& g : truth)
            if (g.label == label) byImage[g.image].push_back({g.box, false}), ++positives;
        std::vector<const DetectedBox*> dets;
        for (const auto& d : detections)
            if (d.label == label) dets.push_back(&d);
        std::stable_sort(dets.begin(), dets.end(), [](auto* a, auto* b) { return a->score > b->score; });
        std::vector<double> precision, recall;
        double tp = 0, fp = 0;
        for (const auto* d : dets) {
            auto it = byImage.find(d->image);
            double bestIou = 0;
            std::pair<Box, bool>* best = nullptr;
            if (it != byImage.end())
                for (auto& g : it->second) {
                    if (g.second) continue;
                    const double v = iou(d->box, g.first);
                    if (v > bestIou) bestIou = v, best = &g;
                }
            if (best && bestIou >= iouThreshold) {
                best->second = true;
                ++tp;
            } else {
                ++fp;
            }
            precision.push_back(tp / (tp + fp));
            recall.push_back(tp / positives);
        }
        // Area under the monotone precision envelope, at every recall step.
        for (std::size_t i = precision.size(); i-- > 1;) precision[i - 1] = std::max(precision[i - 1], precision[i]);
        double ap = 0, prevRecall = 0;
        for (std::size_t i = 0; i < precision.size(); ++i) {
            ap += (recall[i] - prevRecall) * precision[i];
            prevRecall = recall[i];
        }
        report.labels.push_back(label);
        report.averagePrecision.push_back(ap);
    }
    if (!report.averagePrecision.empty())
        report.meanAveragePrecision =
            std::accumulate(report.averagePrecision.begin(), report.averagePrecision.end(), 0.0) /
            double(report.averagePrecision.size());
    return report;
}

}  // namespace lumen::metrics
