// The demo's angiography cines (XA DICOM) and the audit's baseline/new predictions.
#include "demo/demo_support.h"
#include "demo/demo_dicom.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numbers>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::demo::detail {

namespace {

// ------------------------------------------------------------------------------------------
// Angiography cines and predictions

constexpr int kCineSize = 128, kCineFrames = 16;
const std::array<std::string, 18> kSegments = {"left_main", "prox_lad", "mid_lad",    "dist_lad", "D1",
                                               "D2",        "lcx",      "dist_lcx",   "om1",      "om2",
                                               "prox_rca",  "mid_rca",  "dist_rca",   "pda",      "posterolateral",
                                               "bx",        "lvp",      "lima_or_svg"};
const std::array<std::string, 5> kHeads = {"_stenosis", "_stenosis_binary", "_calcif_binary", "_cto", "_thrombus"};

struct Pt {
    double x, y;
};
struct Vessel {
    std::array<Pt, 4> ctrl;  // cubic Bézier, normalised coordinates
    double width0, width1;   // pixels at start and end
    double stenosisAt = -1, stenosisDepth = 0;
};

Pt bezier(const std::array<Pt, 4>& p, double t) {
    const double u = 1 - t;
    const double a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t;
    return {a * p[0].x + b * p[1].x + c * p[2].x + d * p[3].x, a * p[0].y + b * p[1].y + c * p[2].y + d * p[3].y};
}

std::vector<Vessel> planVesselTree(Rng& rng) {
    std::vector<Vessel> tree;
    const auto j = [&](double a) { return rng.uniform(-a, a); };
    // Two main trunks from an ostium near the top, then side branches off them.
    const Pt ostium{0.42 + j(0.05), 0.16 + j(0.04)};
    for (int m = 0; m < 2; ++m) {
        const double dir = m == 0 ? 1.0 : -1.0;
        Vessel v{{ostium,
                  {ostium.x + dir * 0.12 + j(0.05), ostium.y + 0.18 + j(0.05)},
                  {0.5 + dir * 0.2 + j(0.06), 0.55 + j(0.06)},
                  {0.5 + dir * 0.12 + j(0.08), 0.9 + j(0.04)}},
                 4.0 + j(0.4),
                 2.0 + j(0.3)};
        if (rng.chance(0.5)) v.stenosisAt = rng.uniform(0.25, 0.7), v.stenosisDepth = rng.uniform(0.4, 0.75);
        tree.push_back(v);
        const int branches = rng.integer(2, 3);
        for (int b = 0; b < branches; ++b) {
            const double t = rng.uniform(0.2, 0.75);
            const Pt s = bezier(v.ctrl, t);
            const double side = rng.chance(0.5) ? 1.0 : -1.0;
            const double len = rng.uniform(0.18, 0.32);
            Vessel br{{s,
                       {s.x + side * 0.06 + j(0.03), s.y + 0.05 + j(0.03)},
                       {s.x + side * len * 0.7 + j(0.04), s.y + len * 0.5 + j(0.04)},
                       {s.x + side * len + j(0.04), s.y + len * 0.8 + j(0.05)}},
                      2.4 + j(0.3),
                      1.2 + j(0.2)};
            if (rng.chance(0.2)) br.stenosisAt = rng.uniform(0.3, 0.7), br.stenosisDepth = rng.uniform(0.4, 0.7);
            tree.push_back(br);
        }
    }
    // The catheter: a thin line from the bottom edge up to the ostium.
    tree.push_back({{Pt{0.62 + j(0.05), 1.05}, {0.6, 0.7}, {0.5 + j(0.03), 0.3}, ostium}, 1.6, 1.6});
    return tree;
}

void renderCine(const std::vector<Vessel>& tree, int view, std::uint64_t seed, std::vector<std::uint8_t>& out) {
    Rng rng(seed);
    constexpr int S = kCineSize;
    out.assign(static_cast<std::size_t>(S) * S * kCineFrames, 0);
    std::vector<float> background(static_cast<std::size_t>(S) * S);
    for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) {
            const double dx = (x + 0.5) / S - 0.5, dy = (y + 0.5) / S - 0.5;
            // Bright field, darker corners (collimation/vignetting), a denser diaphragm dome.
            double v = 182.0 - 70.0 * (dx * dx + dy * dy);
            if (dy > 0.28 - 0.6 * dx * dx) v -= 22.0;
            background[static_cast<std::size_t>(y) * S + x] = static_cast<float>(v);
        }
    addSmoothNoise(background, S, S, 5, 9.0, rng);
    // The second view looks from another angle: rotate and mirror the projection.
    const double angle = view == 1 ? rng.uniform(-0.15, 0.15) : 0.65 + rng.uniform(-0.15, 0.15);
    const double mirror = view == 1 ? 1.0 : -1.0;
    const double phase0 = rng.uniform(0, 2 * std::numbers::pi);
    std::vector<float> mask(static_cast<std::size_t>(S) * S);
    for (int f = 0; f < kCineFrames; ++f) {
        const double phase = phase0 + 2 * std::numbers::pi * f / kCineFrames;  // one beat per cine
        const double scale = 1.0 + 0.05 * std::sin(phase);
        const double shiftX = 0.025 * std::sin(phase), shiftY = 0.02 * std::sin(phase + 0.9);
        const double contrast = 0.35 + 0.65 * smoothstep(f / 4.0);  // contrast washing in
        const auto project = [&](Pt p) {
            double x = (p.x - 0.5) * scale * mirror, y = (p.y - 0.45) * scale;
            const double c = std::cos(angle), s = std::sin(angle);
            return Pt{(0.5 + x * c - y * s + shiftX) * S, (0.45 + x * s + y * c + shiftY) * S};
        };
        std::fill(mask.begin(), mask.end(), 0.0f);
        for (const auto& v : tree) {
            double length = 0;
            Pt prev = project(bezier(v.ctrl, 0));
            for (int i = 1; i <= 32; ++i) {
                const Pt p = project(bezier(v.ctrl, i / 32.0));
                length += std::hypot(p.x - prev.x, p.y - prev.y);
                prev = p;
            }
            const int steps = std::max(2, static_cast<int>(length / 0.5));
            for (int i = 0; i <= steps; ++i) {
                const double t = static_cast<double>(i) / steps;
                const Pt p = project(bezier(v.ctrl, t));
                double r = 0.5 * (v.width0 + (v.width1 - v.width0) * t);
                if (v.stenosisAt >= 0)
                    r *= 1.0 - v.stenosisDepth * std::exp(-0.5 * std::pow((t - v.stenosisAt) / 0.025, 2));
                const int xa = std::max(0, static_cast<int>(p.x - r - 1)),
                          xb = std::min(S - 1, static_cast<int>(p.x + r + 1));
                const int ya = std::max(0, static_cast<int>(p.y - r - 1)),
                          yb = std::min(S - 1, static_cast<int>(p.y + r + 1));
                for (int y = ya; y <= yb; ++y)
                    for (int x = xa; x <= xb; ++x) {
                        const double d = std::hypot(x + 0.5 - p.x, y + 0.5 - p.y);
                        const double w = clampd(r + 0.5 - d, 0.0, 1.0) *
                                         (0.7 + 0.3 * std::sqrt(clampd(1.0 - d / (r + 0.5), 0.0, 1.0)));
                        float& m = mask[static_cast<std::size_t>(y) * S + x];
                        m = std::max(m, static_cast<float>(w));
                    }
            }
        }
        std::uint8_t* frame = out.data() + static_cast<std::size_t>(f) * S * S;
        for (std::size_t n = 0; n < mask.size(); ++n)
            frame[n] = toByte(background[n] - 115.0 * contrast * mask[n] + 3.0 * rng.noise());
    }
}

void writeCine(const DemoOptions& o, const fs::path& path, const std::string& studyId, int studyIndex, int view,
               const std::vector<std::uint8_t>& pixels) {
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    put(ds, DCM_SpecificCharacterSet, "ISO_IR 100", path);
    put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY\\SINGLE PLANE", path);
    put(ds, DCM_SOPClassUID, UID_XRayAngiographicImageStorage, path);
    put(ds, DCM_SOPInstanceUID, uid(o.seed, kUidXaInstance, studyIndex, view), path);
    put(ds, DCM_StudyDate, "20240103", path);
    put(ds, DCM_StudyTime, "141500", path);
    put(ds, DCM_AccessionNumber, studyId, path);
    put(ds, DCM_Modality, "XA", path);
    put(ds, DCM_Manufacturer, "Lumen demo", path);
    put(ds, DCM_StudyDescription, "Synthetic coronary angiography", path);
    put(ds, DCM_SeriesDescription, view == 1 ? "LAO cranial" : "RAO caudal", path);
    put(ds, DCM_PatientName, "Demo^S" + studyId, path);
    put(ds, DCM_PatientID, studyId, path);
    put(ds, DCM_PatientSex, "O", path);
    put(ds, DCM_KVP, "80", path);
    put(ds, DCM_RadiationSetting, "GR", path);
    put(ds, DCM_CineRate, "15", path);
    put(ds, DCM_FrameTime, "66.7", path);
    put(ds, DCM_RecommendedDisplayFrameRate, "15", path);
    put(ds, DCM_PositionerPrimaryAngle, view == 1 ? "30" : "-30", path);
    put(ds, DCM_PositionerSecondaryAngle, view == 1 ? "20" : "-20", path);
    put(ds, DCM_StudyInstanceUID, uid(o.seed, kUidXaStudy, studyIndex), path);
    put(ds, DCM_SeriesInstanceUID, uid(o.seed, kUidXaSeries, studyIndex, view), path);
    put(ds, DCM_StudyID, studyId, path);
    put(ds, DCM_SeriesNumber, std::to_string(view), path);
    put(ds, DCM_InstanceNumber, "1", path);
    putU16(ds, DCM_SamplesPerPixel, 1, path);
    put(ds, DCM_PhotometricInterpretation, "MONOCHROME2", path);
    put(ds, DCM_NumberOfFrames, std::to_string(kCineFrames), path);
    if (ds.putAndInsertTagKey(DCM_FrameIncrementPointer, DCM_FrameTime).bad())
        throw std::runtime_error("demo workspace: cannot set FrameIncrementPointer in " + path.string());
    putU16(ds, DCM_Rows, kCineSize, path);
    putU16(ds, DCM_Columns, kCineSize, path);
    putU16(ds, DCM_BitsAllocated, 8, path);
    putU16(ds, DCM_BitsStored, 8, path);
    putU16(ds, DCM_HighBit, 7, path);
    putU16(ds, DCM_PixelRepresentation, 0, path);
    put(ds, DCM_PixelIntensityRelationship, "LIN", path);
    const OFCondition c =
        ds.putAndInsertUint8Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size()));
    if (c.bad())
        throw std::runtime_error("demo workspace: cannot set pixel data in " + path.string() + ": " + c.text());
    saveDicom(file, path);
}

}  // namespace

// Distinct 7-digit study ids, all below 1,000,000 so every one has a leading zero that a
// reader must keep (they are strings, not numbers).
std::vector<std::string> drawStudyIds(std::uint64_t seed, int count) {
    Rng rng(streamSeed(seed, kAngioPlan));
    std::set<int> used;
    std::vector<std::string> ids;
    while (static_cast<int>(ids.size()) < count) {
        const int v = rng.integer(1000, 999999);
        if (used.insert(v).second) ids.push_back(padded(v, 7));
    }
    return ids;
}

int writeAngio(const DemoOptions& o, const std::vector<std::string>& ids, Output& out, double p0, double p1) {
    const fs::path base = "angio";
    out.makeDir(base / "studies");
    std::vector<std::string> studyIds(ids.begin(), ids.begin() + o.angioStudies);
    std::sort(studyIds.begin(), studyIds.end());
    std::string csv = "study_id,view,path,frames\n";
    int cines = 0;
    const int n = static_cast<int>(studyIds.size());
    for (int s = 0; s < n; ++s) {
        out.checkCancelled();
        const std::string& id = studyIds[static_cast<std::size_t>(s)];
        const fs::path dir = base / "studies" / ("S" + id);
        out.makeDir(dir);
        Rng plan(streamSeed(o.seed, kAngioPlan, 1 + static_cast<std::uint64_t>(s)));
        const auto tree = planVesselTree(plan);
        for (int view = 1; view <= 2; ++view) {
            const fs::path rel = dir / ("view" + std::to_string(view) + ".dcm");
            std::vector<std::uint8_t> pixels;
            renderCine(tree, view, streamSeed(o.seed, kAngioPixels, static_cast<std::uint64_t>(s) * 2 + view), pixels);
            writeCine(o, out.root() / rel, id, s, view, pixels);
            out.record(rel);
            csv +=
                id + "," + std::to_string(view) + "," + rel.generic_string() + "," + std::to_string(kCineFrames) + "\n";
            ++cines;
        }
        out.progress(p0 + (p1 - p0) * (s + 1) / std::max(1, n),
                     "angiography: " + std::to_string(s + 1) + "/" + std::to_string(n) + " studies");
    }
    out.writeText(base / "studies.csv", csv);
    return cines;
}

namespace {

std::vector<std::string> predictionColumns() {
    std::vector<std::string> cols;
    for (const auto& h : kHeads)
        for (const auto& s : kSegments) cols.push_back(s + h);
    return cols;
}

}  // namespace

int writePredictions(const DemoOptions& o, const std::vector<std::string>& ids, Output& out, double p0, double p1) {
    out.progress(p0, "predictions");
    const fs::path base = "predictions";
    out.makeDir(base);
    Rng rng(streamSeed(o.seed, kPredictions));
    const int rows = o.predictionStudies;
    // The last two baseline ids are missing from `new`, which has one id of its own.
    const bool exclusive = rows >= 3;
    std::vector<std::string> baseIds(ids.begin(), ids.begin() + rows);
    std::vector<std::string> newIds(ids.begin(), ids.begin() + (exclusive ? rows - 2 : rows));
    if (exclusive) newIds.push_back(ids[static_cast<std::size_t>(rows)]);

    constexpr int kCols = 90;
    const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    std::map<std::string, std::array<double, kCols>> values;
    for (const auto& id : ids) {
        std::array<double, kCols> v{};
        const double risk = rng.normal(0.0, 1.0);  // a patient-level tendency shared by segments
        for (int s = 0; s < 18; ++s) {
            const double r = rng.uniform() + 0.08 * risk;
            double sten = r < 0.5 ? rng.uniform(0, 20) : r < 0.82 ? rng.uniform(20, 69) : rng.uniform(70, 100);
            sten = clampd(sten, 0.0, 100.0);
            v[static_cast<std::size_t>(s)] = sten;
            v[static_cast<std::size_t>(18 + s)] = sigmoid((sten - 70.0) / 7.0 + rng.normal(0, 0.6));
            v[static_cast<std::size_t>(36 + s)] = sigmoid(-1.5 + sten / 35.0 + 0.5 * risk + rng.normal(0, 1.0));
            v[static_cast<std::size_t>(54 + s)] = sigmoid(-3.5 + (sten > 95 ? 6.0 : 0.0) + rng.normal(0, 1.3));
            v[static_cast<std::size_t>(72 + s)] = sigmoid(-3.0 + sten / 50.0 + rng.normal(0, 1.2));
        }
        values[id] = v;
    }
    // `new` reproduces the baseline up to tiny numerical noise, as a rerun on other hardware would.
    std::map<std::string, std::array<double, kCols>> newValues;
    for (const auto& id : newIds) {
        auto v = values[id];
        for (int c = 0; c < kCols; ++c) {
            double& x = v[static_cast<std::size_t>(c)];
            x = c < 18 ? clampd(x + rng.normal(0, 0.05), 0.0, 100.0) : clampd(x + rng.normal(0, 0.0005), 0.0, 1.0);
        }
        newValues[id] = v;
    }
    const auto missingCells = [&](int count, int nrows) {
        std::set<std::pair<int, int>> cells;
        while (nrows > 0 && static_cast<int>(cells.size()) < std::min(count, nrows * kCols))
            cells.insert({rng.integer(0, nrows - 1), rng.integer(0, kCols - 1)});
        return cells;
    };
    const auto table = [&](const std::vector<std::string>& order,
                           std::map<std::string, std::array<double, kCols>>& vals,
                           const std::set<std::pair<int, int>>& missing) {
        std::string csv = "study_id," + join(predictionColumns(), ",") + "\n";
        for (std::size_t r = 0; r < order.size(); ++r) {
            csv += order[r];
            const auto& v = vals[order[r]];
            for (int c = 0; c < kCols; ++c) {
                csv += ",";
                if (!missing.count({static_cast<int>(r), c})) csv += fixed(v[static_cast<std::size_t>(c)], 6);
            }
            csv += "\n";
        }
        return csv;
    };
    std::sort(baseIds.begin(), baseIds.end());
    rng.shuffle(newIds);
    const auto baseMissing = missingCells(6, static_cast<int>(baseIds.size()));
    const auto newMissing = missingCells(5, static_cast<int>(newIds.size()));
    out.writeText(base / "baseline.csv", table(baseIds, values, baseMissing));
    out.writeText(base / "new.csv", table(newIds, newValues, newMissing));
    // The five heads as audit categories, as in the original reproducibility report.
    out.writeText(base / "categories.yaml",
                  "# Audit categories for lumen-cli audit --categories: one per prediction head.\n"
                  "categories:\n"
                  "  - {name: Stenosis Regression, pattern: \"_stenosis$\"}\n"
                  "  - {name: Stenosis Binary, pattern: \"_stenosis_binary$\"}\n"
                  "  - {name: Calcif Binary, pattern: \"_calcif_binary$\"}\n"
                  "  - {name: CTO, pattern: \"_cto$\"}\n"
                  "  - {name: Thrombus, pattern: \"_thrombus$\"}\n");
    out.progress(p1, "predictions: " + std::to_string(rows) + " studies");
    return rows;
}

}  // namespace lumen::demo::detail
