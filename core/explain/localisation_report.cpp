// evaluateLocalisation and its outputs (localisation.json / .csv, the text table).
#include "explain/localisation.h"

#include "data/csv_records.h"
#include "util/atomic_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace lumen::explain {
namespace fs = std::filesystem;

namespace {

using BoxKey = std::pair<std::string, std::string>;  // (image, label)

bool inside(const metrics::Box& b, double x, double y) { return x >= b.x1 && x <= b.x2 && y >= b.y1 && y <= b.y2; }

/// Hit and best IoU of one pair's CAM against a set of boxes.
std::pair<bool, double> score(const PairResult& p, const std::vector<const AnnotatedBox*>& boxes) {
    bool hit = false;
    double best = 0;
    if (p.empty) return {false, 0.0};
    for (const auto* b : boxes) {
        hit = hit || inside(b->box(), p.hotX, p.hotY);
        best = std::max(best, metrics::iou(p.camBox, b->box()));
    }
    return {hit, best};
}

/// Pointing, mean IoU and AP@0.5/0.75 of pairs whose box sets are `truthOf(i)`.
LabelScores scoresOf(const std::vector<const PairResult*>& pairs, const std::vector<bool>& hits,
                     const std::vector<double>& ious,
                     const std::vector<const std::vector<const AnnotatedBox*>*>& truthOf) {
    LabelScores s;
    std::vector<metrics::GroundTruthBox> truth;
    std::vector<metrics::DetectedBox> dets;
    double iouSum = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        const PairResult& p = *pairs[i];
        ++s.cams;
        s.boxes += truthOf[i]->size();
        s.hits += hits[i] ? 1 : 0;
        iouSum += ious[i];
        for (const auto* b : *truthOf[i]) truth.push_back({p.id, p.label, b->box()});
        if (!p.empty) dets.push_back({p.id, p.label, p.score, p.camBox});
    }
    s.pointing = s.cams ? double(s.hits) / double(s.cams) : 0.0;
    s.meanIou = s.cams ? iouSum / double(s.cams) : 0.0;
    s.ap50 = metrics::evaluateDetections(truth, dets, 0.5).meanAveragePrecision;
    s.ap75 = metrics::evaluateDetections(truth, dets, 0.75).meanAveragePrecision;
    return s;
}

PairResult mapPair(const CamEntry& e, const std::string& image, const LocalisationOptions& o) {
    if (e.inputD > 1) throw std::runtime_error("CAM \"" + e.id + "\" / " + e.label + " is 3-D: boxes are 2-D");
    const Heatmap raw = loadCam(e);
    if (raw.shape.size() != 2) throw std::runtime_error(e.file.string() + ": expected a 2-D CAM");
    const Heatmap up = normalised(upsample(raw, {e.inputH, e.inputW}));
    const CamRegion region = camRegion(up, o.threshold);
    PairResult p;
    p.id = e.id;
    p.image = image;
    p.label = e.label;
    p.score = e.prob ? *e.prob : e.score;
    std::tie(p.imageH, p.imageW) = o.imageSize(e);
    const InputGeometry g = inputGeometry(p.imageH, p.imageW, e.inputH, e.inputW);
    p.empty = region.empty;
    if (!region.empty) {
        p.hotX = g.toImageX(double(region.hotCol) + 0.5);
        p.hotY = g.toImageY(double(region.hotRow) + 0.5);
        p.camBox = {g.toImageX(double(region.colMin)), g.toImageY(double(region.rowMin)),
                    g.toImageX(double(region.colMax) + 1), g.toImageY(double(region.rowMax) + 1)};
    }
    return p;
}

LabelScores average(const std::vector<LabelScores>& per) {
    LabelScores all;
    double iouSum = 0;
    for (const auto& s : per) {
        all.cams += s.cams, all.boxes += s.boxes, all.hits += s.hits;
        iouSum += s.meanIou * double(s.cams);
        all.ap50 += s.ap50 / double(per.size());
        all.ap75 += s.ap75 / double(per.size());
    }
    all.pointing = all.cams ? double(all.hits) / double(all.cams) : 0.0;
    all.meanIou = all.cams ? iouSum / double(all.cams) : 0.0;
    return all;
}

}  // namespace

LocalisationReport evaluateLocalisation(const CamCache& cache, const BoxTable& table, const LocalisationOptions& o) {
    if (!o.imageSize) throw std::invalid_argument("evaluateLocalisation: no image size function");
    LocalisationReport report;
    report.cacheDir = cache.dir;
    report.boxesFile = table.file;
    report.threshold = o.threshold;
    report.seed = o.seed;
    std::map<BoxKey, std::vector<const AnnotatedBox*>> byKey;
    for (const auto& b : table.boxes) byKey[{b.image, b.label}].push_back(&b);
    std::set<BoxKey> used;
    for (const auto& e : cache.entries) {
        std::string image = e.id;
        if (!byKey.count({image, e.label})) image = fs::path(e.id).filename().string();
        if (!byKey.count({image, e.label}) || used.count({image, e.label})) {
            ++report.camsWithoutBoxes;
            continue;
        }
        used.insert({image, e.label});
        report.pairs.push_back(mapPair(e, image, o));
        report.pairs.back().boxes = byKey[{image, e.label}].size();
    }
    if (report.pairs.empty())
        throw std::runtime_error("no CAM of " + cache.dir.string() + " has a box in " + table.file.string() +
                                 " (ids are matched as they are, then by file name; labels exactly)");
    for (const auto& [key, boxes] : byKey)
        if (!used.count(key)) report.boxesWithoutCam += boxes.size();
    std::stable_sort(report.pairs.begin(), report.pairs.end(), [](const PairResult& a, const PairResult& b) {
        return std::tie(a.label, a.image, a.id) < std::tie(b.label, b.image, b.id);
    });

    std::vector<LabelScores> realPer, controlPer;
    for (std::size_t begin = 0; begin < report.pairs.size();) {
        std::size_t end = begin;
        while (end < report.pairs.size() && report.pairs[end].label == report.pairs[begin].label) ++end;
        const std::size_t n = end - begin;
        std::vector<const PairResult*> pairs;
        std::vector<const std::vector<const AnnotatedBox*>*> own, other;
        std::vector<bool> hits, controlHits;
        std::vector<double> ious, controlIous;
        const auto perm = controlDerangement(n, o.seed);
        for (std::size_t i = 0; i < n; ++i) {
            PairResult& p = report.pairs[begin + i];
            const auto& mine = byKey.at({p.image, p.label});
            std::tie(p.hit, p.iou) = score(p, mine);
            pairs.push_back(&p);
            own.push_back(&mine);
            hits.push_back(p.hit);
            ious.push_back(p.iou);
            if (n < 2) continue;
            const PairResult& q = report.pairs[begin + perm[i]];
            const auto& theirs = byKey.at({q.image, q.label});
            p.controlImage = q.image;
            std::tie(p.controlHit, p.controlIou) = score(p, theirs);
            other.push_back(&theirs);
            controlHits.push_back(p.controlHit);
            controlIous.push_back(p.controlIou);
        }
        LabelResult r;
        r.label = report.pairs[begin].label;
        r.real = scoresOf(pairs, hits, ious, own);
        realPer.push_back(r.real);
        if (n >= 2) {
            r.control = scoresOf(pairs, controlHits, controlIous, other);
            controlPer.push_back(*r.control);
        }
        report.labels.push_back(r);
        begin = end;
    }
    report.overall.label = "all";
    report.overall.real = average(realPer);
    if (!controlPer.empty()) report.overall.control = average(controlPer);
    return report;
}

namespace {

std::string num(double v) {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

nlohmann::json scoresJson(const LabelScores& s) {
    return {{"cams", s.cams},        {"boxes", s.boxes}, {"pointing_hits", s.hits}, {"pointing_game", s.pointing},
            {"mean_iou", s.meanIou}, {"ap50", s.ap50},   {"ap75", s.ap75}};
}

nlohmann::json labelJson(const LabelResult& r) {
    nlohmann::json j = scoresJson(r.real);
    j["label"] = r.label;
    j["control"] = r.control ? scoresJson(*r.control) : nlohmann::json(nullptr);
    return j;
}

}  // namespace

void writeLocalisation(const LocalisationReport& r, const fs::path& dir) {
    nlohmann::json j;
    j["cache"] = r.cacheDir.string();
    j["boxes_file"] = r.boxesFile.string();
    j["threshold"] = r.threshold;
    j["seed"] = r.seed;
    j["rule"] =
        "CAM upsampled to the model input (bilinear, half-pixel centres), min-max normalised, mapped to the image "
        "through the inverse of resize (shorter side) + centre crop; pointing game: centre of the hottest pixel "
        "inside a box (edges included); CAM box: bounding box of the largest 8-connected component of pixels >= "
        "threshold; AP: one detection per CAM scored by prob (else logit), VOC all-point; control: each CAM against "
        "the boxes of another image of the same label (Sattolo derangement, splitmix64(seed))";
    j["cams_without_boxes"] = r.camsWithoutBoxes;
    j["boxes_without_cam"] = r.boxesWithoutCam;
    j["labels"] = nlohmann::json::array();
    for (const auto& l : r.labels) j["labels"].push_back(labelJson(l));
    j["overall"] = labelJson(r.overall);
    std::string csv =
        "id,image,label,score,boxes,image_h,image_w,empty,hot_x,hot_y,cam_x1,cam_y1,cam_x2,cam_y2,hit,iou,"
        "control_image,control_hit,control_iou\n";
    j["pairs"] = nlohmann::json::array();
    for (const auto& p : r.pairs) {
        j["pairs"].push_back({{"id", p.id},
                              {"image", p.image},
                              {"label", p.label},
                              {"score", p.score},
                              {"boxes", p.boxes},
                              {"empty", p.empty},
                              {"hot", {p.hotX, p.hotY}},
                              {"cam_box", {p.camBox.x1, p.camBox.y1, p.camBox.x2, p.camBox.y2}},
                              {"hit", p.hit},
                              {"iou", p.iou},
                              {"control_image", p.controlImage},
                              {"control_hit", p.controlHit},
                              {"control_iou", p.controlIou}});
        csv += data::csvField(p.id) + "," + data::csvField(p.image) + "," + data::csvField(p.label) + "," +
               num(p.score) + "," + std::to_string(p.boxes) + "," + std::to_string(p.imageH) + "," +
               std::to_string(p.imageW) + "," + (p.empty ? "1" : "0") + "," + num(p.hotX) + "," + num(p.hotY) + "," +
               num(p.camBox.x1) + "," + num(p.camBox.y1) + "," + num(p.camBox.x2) + "," + num(p.camBox.y2) + "," +
               (p.hit ? "1" : "0") + "," + num(p.iou) + "," + data::csvField(p.controlImage) + "," +
               (p.controlImage.empty() ? "" : (p.controlHit ? "1" : "0")) + "," +
               (p.controlImage.empty() ? "" : num(p.controlIou)) + "\n";
    }
    util::writeFileAtomically(dir / "localisation.json", j.dump(2) + "\n");
    util::writeFileAtomically(dir / "localisation.csv", csv);
}

std::string localisationTable(const LocalisationReport& r) {
    std::ostringstream out;
    std::size_t width = 5;
    for (const auto& l : r.labels) width = std::max(width, l.label.size());
    out << std::left << std::setw(int(width) + 2) << "label" << std::right << std::setw(6) << "CAMs" << std::setw(7)
        << "boxes" << std::setw(10) << "pointing" << std::setw(10) << "mean IoU" << std::setw(8) << "AP@0.5"
        << std::setw(9) << "AP@0.75"
        << "  | control: pointing  IoU   AP@0.5  AP@0.75\n";
    const auto row = [&](const LabelResult& l) {
        out << std::left << std::setw(int(width) + 2) << l.label << std::right << std::setw(6) << l.real.cams
            << std::setw(7) << l.real.boxes << std::fixed << std::setprecision(3) << std::setw(10) << l.real.pointing
            << std::setw(10) << l.real.meanIou << std::setw(8) << l.real.ap50 << std::setw(9) << l.real.ap75;
        if (l.control)
            out << "  |          " << std::setw(6) << l.control->pointing << std::setw(7) << l.control->meanIou
                << std::setw(8) << l.control->ap50 << std::setw(9) << l.control->ap75;
        else out << "  |          (one image: no control)";
        out << "\n";
    };
    for (const auto& l : r.labels) row(l);
    row(r.overall);
    out << r.pairs.size() << " CAMs with boxes; " << r.camsWithoutBoxes << " CAMs without boxes; " << r.boxesWithoutCam
        << " boxes without a CAM\n";
    return out.str();
}

}  // namespace lumen::explain
