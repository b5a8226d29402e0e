// The demo's angiography cines (XA DICOM) and the audit's baseline/new predictions.
#include "demo/demo_coronary.h"
#include "demo/demo_dicom.h"
#include "demo/demo_support.h"

#include "data/column_names.h"

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

const std::array<std::string, 5> kHeads = {"_stenosis", "_stenosis_binary", "_calcif_binary", "_cto", "_thrombus"};

std::string projection(int view) {
    const auto a = viewAngles(view);
    std::string out = (a[0] > 0 ? "LAO " : "RAO ") + std::to_string(std::abs(a[0]));
    if (a[1] != 0) out += (a[1] > 0 ? " CRA " : " CAU ") + std::to_string(std::abs(a[1]));
    return out;
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
    put(ds, DCM_SeriesDescription, (view % 2 == 1 ? "Left coronary " : "Right coronary ") + projection(view), path);
    put(ds, DCM_PatientName, "Demo^S" + studyId, path);
    put(ds, DCM_PatientID, studyId, path);
    put(ds, DCM_PatientSex, "O", path);
    put(ds, DCM_KVP, "80", path);
    put(ds, DCM_RadiationSetting, "GR", path);
    put(ds, DCM_CineRate, "15", path);
    put(ds, DCM_FrameTime, "66.7", path);
    put(ds, DCM_RecommendedDisplayFrameRate, "15", path);
    put(ds, DCM_PositionerPrimaryAngle, std::to_string(viewAngles(view)[0]), path);
    put(ds, DCM_PositionerSecondaryAngle, std::to_string(viewAngles(view)[1]), path);
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

namespace {

// The manifest row's 90 label cells of one study (head-major, as the predictions tables):
// every segment the anatomy has is labelled (0 where nothing is planted), the graft is not.
std::string labelCells(const CoronaryStudy& study) {
    std::string cells;
    for (int h = 0; h < 5; ++h)
        for (std::size_t s = 0; s < 18; ++s) {
            cells += ",";
            if (!study.drawn[s]) continue;
            const auto& f = study.findings[s];
            const double v[5] = {f.stenosis, f.stenosis >= 70 ? 1.0 : 0.0, f.calcified ? 1.0 : 0.0,
                                 f.occluded() ? 1.0 : 0.0, f.thrombus ? 1.0 : 0.0};
            cells += shortest(v[h]);
        }
    return cells;
}

std::string findingRows(const std::string& id, const CoronaryStudy& study) {
    std::string rows;
    const auto& names = data::coronarySegments();
    for (std::size_t s = 0; s < 18; ++s) {
        const auto& f = study.findings[s];
        if (f.stenosis <= 0 && !f.calcified) continue;
        rows += id + "," + names[s] + "," + shortest(f.stenosis) + "," + fixed(f.at, 3) + "," +
                (f.calcified ? "1" : "0") + "," + (f.occluded() ? "1" : "0") + "," + (f.thrombus ? "1" : "0") + "\n";
    }
    return rows;
}

}  // namespace

int writeAngio(const DemoOptions& o, const std::vector<std::string>& ids, Output& out, double p0, double p1) {
    const fs::path base = "angio";
    out.makeDir(base / "studies");
    std::vector<std::string> studyIds(ids.begin(), ids.begin() + o.angioStudies);
    std::sort(studyIds.begin(), studyIds.end());
    const int n = static_cast<int>(studyIds.size());
    // 2, 3 or 4 views in turn: left, right, left, right.
    const auto viewsOf = [](int s) { return 2 + s % 3; };
    std::vector<CoronaryStudy> studies(static_cast<std::size_t>(n));
    std::vector<std::string> splits(static_cast<std::size_t>(n));
    for (int s = 0; s < n; ++s) {
        Rng plan(streamSeed(o.seed, kAngioPlan, 1 + static_cast<std::uint64_t>(s)));
        studies[static_cast<std::size_t>(s)] = planCoronaryStudy(plan, viewsOf(s));
        const double u = plan.uniform();
        splits[static_cast<std::size_t>(s)] = u < 0.6 ? "train" : u < 0.85 ? "val" : "test";
    }
    parallelFor(
        n, out,
        [&](int s) {
            const std::string& id = studyIds[static_cast<std::size_t>(s)];
            const fs::path dir = base / "studies" / ("S" + id);
            out.makeDir(dir);
            std::vector<std::uint8_t> pixels;
            for (int view = 1; view <= viewsOf(s); ++view) {
                const fs::path rel = dir / ("view" + std::to_string(view) + ".dcm");
                renderCoronaryView(studies[static_cast<std::size_t>(s)], view,
                                   streamSeed(o.seed, kAngioPixels, static_cast<std::uint64_t>(s) * 4 + view), pixels);
                writeCine(o, out.root() / rel, id, s, view, pixels);
                out.record(rel);
            }
        },
        [&](int done) {
            out.progress(p0 + (p1 - p0) * done / std::max(1, n),
                         "angiography: " + std::to_string(done) + "/" + std::to_string(n) + " studies");
        });
    std::string csv = "study_id,view,path,frames\n";
    std::string manifest = "study_id,patient_id,path,view,split";
    for (const auto& h : kHeads)
        for (const auto& seg : data::coronarySegments()) manifest += "," + seg + h;
    manifest += "\n";
    std::string findings = "study_id,segment,stenosis,position,calcified,cto,thrombus\n";
    int cines = 0;
    for (int s = 0; s < n; ++s) {
        const std::string& id = studyIds[static_cast<std::size_t>(s)];
        const auto& study = studies[static_cast<std::size_t>(s)];
        const std::string cells = labelCells(study);
        for (int view = 1; view <= viewsOf(s); ++view, ++cines) {
            const std::string rel = "studies/S" + id + "/view" + std::to_string(view) + ".dcm";
            csv += id + "," + std::to_string(view) + ",angio/" + rel + "," + std::to_string(kCineFrames) + "\n";
            manifest += id + "," + id + "," + rel + "," + projection(view) + "," + splits[static_cast<std::size_t>(s)] +
                        cells + "\n";
        }
        findings += findingRows(id, study);
    }
    out.writeText(base / "studies.csv", csv);
    out.writeText(base / "manifest.csv", manifest);
    out.writeText(base / "findings.csv", findings);
    return cines;
}

namespace {

std::vector<std::string> predictionColumns() {
    std::vector<std::string> cols;
    for (const auto& h : kHeads)
        for (const auto& s : data::coronarySegments()) cols.push_back(s + h);
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
