#include "data/angio_manifest.h"

#include "data/column_names.h"
#include "data/csv_records.h"
#include "data/splits.h"
#include "io/dicom_load.h"

#include <dcmtk/dcmdata/dcdeftag.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

namespace lumen::data {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trimmed(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string number(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

bool isMissing(const std::string& cell) {
    return cell.empty() || cell == "nan" || cell == "NaN" || cell == "NA" || cell == "null";
}

struct Columns {
    int study = -1, patient = -1, path = -1, view = -1, split = -1;
    std::vector<std::pair<int, std::size_t>> labels;  ///< (csv column, output column)
};

Columns findColumns(const CsvRecord& header, const std::vector<std::string>& segments, AngioManifest& m) {
    Columns c;
    std::map<std::string, std::size_t> outputOf;
    for (std::size_t s = 0; s < segments.size(); ++s)
        for (std::size_t h = 0; h < angioHeads().size(); ++h) outputOf[segments[s] + "_" + angioHeads()[h]] = s * 5 + h;
    for (std::size_t i = 0; i < header.fields.size(); ++i) {
        const std::string name = trimmed(header.fields[i]);
        const int col = static_cast<int>(i);
        if (name == "study_id") c.study = col;
        else if (name == "patient_id") c.patient = col;
        else if (name == "path") c.path = col;
        else if (name == "view") c.view = col;
        else if (name == "split") c.split = col;
        else if (auto it = outputOf.find(name); it != outputOf.end()) {
            c.labels.emplace_back(col, it->second);
            m.labelColumns.push_back(name);
        } else {
            m.ignoredColumns.push_back(name);
        }
    }
    if (c.study < 0) throw DataError(m.file, header.line, 0, "study_id", "no study_id column");
    if (c.path < 0) throw DataError(m.file, header.line, 0, "path", "no path column");
    return c;
}

double parseLabel(const std::string& cell, bool stenosis, const std::filesystem::path& file, std::size_t line,
                  std::size_t column, const std::string& name) {
    if (isMissing(cell)) return kNaN;
    char* end = nullptr;
    const double v = std::strtod(cell.c_str(), &end);
    if (end == cell.c_str() || *end != '\0' || !std::isfinite(v))
        throw DataError(file, line, column, name,
                        "\"" + cell + "\" is not a number (leave it empty when not labelled)");
    if (stenosis && (v < 0 || v > 100))
        throw DataError(file, line, column, name, "stenosis " + cell + " % is outside 0..100");
    if (!stenosis && v != 0 && v != 1) throw DataError(file, line, column, name, "\"" + cell + "\" is not 0 or 1");
    return v;
}

/// A study-level text (patient, split) that rows must agree on.
void agree(std::string& have, std::size_t& haveLine, const std::string& value, std::size_t line,
           const std::filesystem::path& file, std::size_t column, const std::string& name) {
    if (value.empty()) return;
    if (have.empty()) {
        have = value;
        haveLine = line;
    } else if (have != value) {
        throw DataError(file, line, column, name,
                        "\"" + value + "\" disagrees with \"" + have + "\" on line " + std::to_string(haveLine) +
                            " for the same study");
    }
}

}  // namespace

const std::vector<std::string>& angioHeads() {
    static const std::vector<std::string> heads{"stenosis", "stenosis_binary", "calcif_binary", "cto", "thrombus"};
    return heads;
}

std::filesystem::path AngioManifest::resolve(const AngioVideo& v) const {
    const std::filesystem::path p(v.path);
    if (p.is_absolute()) return p;
    return (std::filesystem::is_directory(file) ? file : file.parent_path()) / p;
}

std::vector<const AngioStudy*> AngioManifest::split(const std::string& name) const {
    std::vector<const AngioStudy*> out;
    for (const auto& s : studies)
        if (s.split == name) out.push_back(&s);
    return out;
}

std::vector<std::string> AngioManifest::outputColumns() const {
    std::vector<std::string> out;
    for (const auto& s : segments)
        for (const auto& h : angioHeads()) out.push_back(s + "_" + h);
    return out;
}

std::size_t AngioManifest::labelledCount() const {
    std::size_t n = 0;
    for (const auto& s : studies)
        for (double v : s.labels) n += std::isnan(v) ? 0 : 1;
    return n;
}

bool isAngioManifestFile(const std::filesystem::path& file) {
    if (std::filesystem::is_directory(file)) return false;
    std::ifstream in(file, std::ios::binary);
    std::string header;
    if (!in || !std::getline(in, header)) return false;
    if (header.size() >= 3 && header.compare(0, 3, "\xEF\xBB\xBF") == 0) header.erase(0, 3);  // UTF-8 BOM
    const auto records = parseCsvRecords(header, file);
    if (records.empty()) return false;
    const auto& names = records.front().fields;
    const auto has = [&](const char* name) { return std::find(names.begin(), names.end(), name) != names.end(); };
    return has("study_id") && !has("id");
}

Manifest videosAsManifest(const AngioManifest& m) {
    Manifest out;
    out.file = m.file;
    // The binary columns (every head but stenosis %) positive in some study, in column order.
    const std::size_t outputs = m.segments.size() * angioHeads().size();
    const auto positive = [&](const AngioStudy& s, std::size_t c) { return c < s.labels.size() && s.labels[c] == 1.0; };
    std::vector<std::size_t> columns;
    const auto names = m.outputColumns();
    for (std::size_t c = 0; c < outputs; ++c) {
        if (c % angioHeads().size() == 0) continue;  // stenosis %, not a label
        if (std::any_of(m.studies.begin(), m.studies.end(), [&](const AngioStudy& s) { return positive(s, c); })) {
            columns.push_back(c);
            out.labelNames.push_back(names[c]);
        }
    }
    for (const auto& study : m.studies) {
        std::vector<std::string> labels;
        for (std::size_t k = 0; k < columns.size(); ++k)
            if (positive(study, columns[k])) labels.push_back(out.labelNames[k]);
        for (const auto& video : study.videos)
            out.rows.push_back({study.studyId, study.patientId, std::filesystem::absolute(m.resolve(video)).string(),
                                labels, study.split});
    }
    return out;
}

Manifest loadManifestOrVideos(const std::filesystem::path& path, AngioManifest* angio) {
    if (!isAngioManifestFile(path)) return loadManifestOrFolder(path);
    AngioManifest m = readAngioManifest(path);
    Manifest videos = videosAsManifest(m);
    if (angio) *angio = std::move(m);
    return videos;
}

AngioManifest readAngioManifest(const std::filesystem::path& csv, const std::vector<std::string>& segments) {
    AngioManifest m;
    m.file = csv;
    m.segments = segments.empty() ? coronarySegments() : segments;
    const auto records = readCsvRecords(csv);
    if (records.empty()) throw DataError(csv, "empty file (no header)");
    const Columns c = findColumns(records.front(), m.segments, m);
    const std::size_t width = records.front().fields.size(), outputs = m.segments.size() * 5;
    std::map<std::string, std::size_t> indexOf;
    struct Seen {
        std::size_t patientLine = 0, splitLine = 0;
        std::vector<std::size_t> labelLine;
    };
    std::vector<Seen> seen;
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        if (rec.fields.size() != width)
            throw DataError(csv, rec.line, 0, {},
                            std::to_string(rec.fields.size()) + " fields, the header has " + std::to_string(width));
        const auto cell = [&](int col) { return col < 0 ? std::string() : trimmed(rec.fields[std::size_t(col)]); };
        const std::string id = cell(c.study), path = cell(c.path);
        if (id.empty()) throw DataError(csv, rec.line, std::size_t(c.study) + 1, "study_id", "empty study id");
        if (path.empty()) throw DataError(csv, rec.line, std::size_t(c.path) + 1, "path", "empty path");
        auto [it, added] = indexOf.emplace(id, m.studies.size());
        if (added) {
            m.studies.push_back({id, {}, {}, {}, std::vector<double>(outputs, kNaN)});
            seen.push_back({0, 0, std::vector<std::size_t>(outputs, 0)});
        }
        AngioStudy& s = m.studies[it->second];
        Seen& sn = seen[it->second];
        agree(s.patientId, sn.patientLine, cell(c.patient), rec.line, csv, std::size_t(c.patient) + 1, "patient_id");
        agree(s.split, sn.splitLine, cell(c.split), rec.line, csv, std::size_t(c.split) + 1, "split");
        s.videos.push_back({path, cell(c.view), rec.line});
        for (const auto& [col, out] : c.labels) {
            const std::string& name = trimmed(records.front().fields[std::size_t(col)]);
            const double v = parseLabel(cell(col), out % 5 == 0, csv, rec.line, std::size_t(col) + 1, name);
            if (std::isnan(v)) continue;
            if (std::isnan(s.labels[out])) {
                s.labels[out] = v;
                sn.labelLine[out] = rec.line;
            } else if (s.labels[out] != v) {
                throw DataError(csv, rec.line, std::size_t(col) + 1, name,
                                cell(col) + " disagrees with " + number(s.labels[out]) + " on line " +
                                    std::to_string(sn.labelLine[out]) + " for study " + id);
            }
        }
    }
    if (m.studies.empty()) throw DataError(csv, "no rows (a header only)");
    return m;
}

std::string projectionName(double primary, double secondary) {
    const long p = std::lround(primary), s = std::lround(secondary);
    std::string out;
    if (p != 0) out = (p > 0 ? "LAO " : "RAO ") + std::to_string(std::labs(p));
    if (s != 0) out += (out.empty() ? "" : " ") + std::string(s > 0 ? "CRA " : "CAU ") + std::to_string(std::labs(s));
    return out.empty() ? "AP" : out;
}

AngioManifest angioManifestOfDicomFolder(const std::filesystem::path& folder, std::vector<std::string>* skipped,
                                         const std::vector<std::string>& segments) {
    AngioManifest m;
    m.file = folder;
    m.segments = segments.empty() ? coronarySegments() : segments;
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (auto it = std::filesystem::recursive_directory_iterator(folder, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec) && it->path().filename().string().front() != '.') files.push_back(it->path());
    if (ec) throw DataError(folder, "cannot list the folder: " + ec.message());
    std::sort(files.begin(), files.end());
    std::map<std::string, AngioStudy> byUid;
    for (const auto& f : files) {
        DcmFileFormat dcm;
        try {
            io::detail::loadDicomFile(f, dcm, /*headerOnly=*/true, f.string());
        } catch (const std::exception& e) {
            if (skipped && f.extension() == ".dcm") skipped->push_back(f.string() + ": " + e.what());
            continue;
        }
        DcmDataset* ds = dcm.getDataset();
        Sint32 frames = 1;
        OFString uid, patient;
        if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 2) continue;  // not a cine
        if (ds->findAndGetOFString(DCM_StudyInstanceUID, uid).bad() || uid.empty()) {
            if (skipped) skipped->push_back(f.string() + ": no StudyInstanceUID");
            continue;
        }
        ds->findAndGetOFString(DCM_PatientID, patient);
        Float64 primary = 0, secondary = 0;
        std::string view;
        if (ds->findAndGetFloat64(DCM_PositionerPrimaryAngle, primary).good() |
            ds->findAndGetFloat64(DCM_PositionerSecondaryAngle, secondary).good())
            view = projectionName(primary, secondary);
        AngioStudy& s = byUid[uid.c_str()];
        s.studyId = uid.c_str();
        s.patientId = patient.c_str();
        s.labels.assign(m.segments.size() * 5, kNaN);
        s.videos.push_back({std::filesystem::absolute(f).string(), view, 0});
    }
    if (byUid.empty()) throw DataError(folder, "no multi-frame DICOM (angiography cine) under this folder");
    for (auto& [uid, s] : byUid) m.studies.push_back(std::move(s));
    return m;
}

}  // namespace lumen::data
