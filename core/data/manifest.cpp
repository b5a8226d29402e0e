#include "data/manifest.h"

#include "data/csv_records.h"
#include "util/atomic_file.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <unordered_map>

namespace lumen::data {
namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

// Split names become file names (train.csv, train_ids.txt): keep them to a safe alphabet.
bool validSplitName(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

const std::set<std::string> kFixedColumns = {"id", "patient_id", "path", "labels", "split"};

// Why `name` cannot be a label, or empty when it can: a label becomes a column of the written
// manifest and a part of a '|'-joined labels cell, so it must read back as itself.
std::string labelNameProblem(const std::string& name) {
    if (name.empty() || trim(name) != name) return "a label may not be empty or start or end with a space";
    if (name.find('|') != std::string::npos) return "label \"" + name + "\" may not contain '|'";
    if (kFixedColumns.count(name)) return "label \"" + name + "\" is the name of a manifest column";
    return {};
}

}  // namespace

std::vector<std::string> splitLabels(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto bar = text.find('|', start);
        const auto part = trim(text.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
        if (!part.empty()) out.push_back(part);
        if (bar == std::string::npos) break;
        start = bar + 1;
    }
    return out;
}

fs::path Manifest::resolve(const ManifestRow& row) const {
    const fs::path p(row.path);
    if (p.is_absolute()) return p;
    return file.parent_path() / p;
}

Manifest Manifest::filterSplit(const std::string& split) const {
    Manifest m;
    m.file = file;
    m.labelNames = labelNames;
    for (const auto& r : rows)
        if (r.split == split) m.rows.push_back(r);
    return m;
}

std::vector<fs::path> Manifest::missingFiles() const {
    std::vector<fs::path> out;
    for (const auto& r : rows) {
        const fs::path p = resolve(r);
        std::error_code ec;
        if (!fs::is_regular_file(p, ec) && !fs::is_directory(p, ec)) out.push_back(p);
    }
    return out;
}

std::vector<std::string> Manifest::splitNames() const {
    std::vector<std::string> seen;
    for (const auto& r : rows)
        if (std::find(seen.begin(), seen.end(), r.split) == seen.end()) seen.push_back(r.split);
    // train, val, test first (tables read in pipeline order), then others as they appear, "" last.
    std::vector<std::string> out;
    for (const char* known : {"train", "val", "test"})
        if (std::find(seen.begin(), seen.end(), known) != seen.end()) out.push_back(known);
    for (const auto& s : seen)
        if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    if (std::find(seen.begin(), seen.end(), "") != seen.end()) out.push_back("");
    return out;
}

int Manifest::labelIndex(const std::string& label) const {
    const auto it = std::find(labelNames.begin(), labelNames.end(), label);
    return it == labelNames.end() ? -1 : int(it - labelNames.begin());
}

namespace {

// The header's columns: the fixed ones by name, and the label columns with their names,
// checked against the given vocabulary.
struct ManifestHeader {
    std::map<std::string, std::size_t> fixed;
    std::vector<std::size_t> labelColumns;
    std::vector<std::string> columnLabels;
};

ManifestHeader readHeader(const std::vector<std::string>& header, std::size_t headerLine, const fs::path& csv,
                          const ManifestReadOptions& options) {
    ManifestHeader h;
    auto& fixed = h.fixed;
    auto& labelColumns = h.labelColumns;
    auto& columnLabels = h.columnLabels;
    for (std::size_t c = 0; c < header.size(); ++c) {
        const std::string name = trim(header[c]);
        if (name.empty()) throw ManifestError(csv, headerLine, c + 1, {}, "empty column name");
        if (kFixedColumns.count(name)) {
            if (fixed.count(name)) throw ManifestError(csv, headerLine, c + 1, name, "column appears twice");
            fixed[name] = c;
        } else {
            labelColumns.push_back(c);
        }
    }
    for (const char* required : {"id", "path"})
        if (!fixed.count(required))
            throw ManifestError(
                csv, headerLine, 0, {},
                std::string("no column \"") + required + "\" (expected a header: id,patient_id,path,labels,split)");

    for (const auto& name : options.labelNames)
        if (const auto problem = labelNameProblem(name); !problem.empty())
            throw ManifestError(csv, "the given vocabulary: " + problem);
    for (auto c : labelColumns) {
        const std::string name = trim(header[c]);
        if (const auto problem = labelNameProblem(name); !problem.empty())
            throw ManifestError(csv, headerLine, c + 1, name, problem);
        if (std::find(columnLabels.begin(), columnLabels.end(), name) != columnLabels.end())
            throw ManifestError(csv, headerLine, c + 1, name, "label column appears twice");
        if (!options.labelNames.empty() &&
            std::find(options.labelNames.begin(), options.labelNames.end(), name) == options.labelNames.end())
            throw ManifestError(csv, headerLine, c + 1, name, "label not in the given vocabulary");
        columnLabels.push_back(name);
    }
    return h;
}

}  // namespace

Manifest readManifest(const fs::path& csv, const ManifestReadOptions& options) {
    std::vector<CsvRecord> records;
    try {
        records = readCsvRecords(csv);
    } catch (const DataError& e) {
        throw ManifestError(e.file(), e.line(), e.column(), e.columnName(), e.reason());
    }
    if (records.empty()) throw ManifestError(csv, "empty file (expected a header: id,patient_id,path,labels,split)");
    const auto& header = records.front().fields;
    const std::size_t headerLine = records.front().line;

    const ManifestHeader h = readHeader(header, headerLine, csv, options);
    const auto& fixed = h.fixed;
    const auto& labelColumns = h.labelColumns;
    const auto& columnLabels = h.columnLabels;
    Manifest m;
    m.file = csv;
    const bool closedVocabulary = !options.labelNames.empty() || !columnLabels.empty();
    m.labelNames = !options.labelNames.empty() ? options.labelNames : columnLabels;

    auto col = [&](const char* name) -> long { return fixed.count(name) ? long(fixed.at(name)) : -1; };
    const long idCol = col("id"), patientCol = col("patient_id"), pathCol = col("path"), labelsCol = col("labels"),
               splitCol = col("split");
    std::unordered_map<std::string, std::size_t> lineOfId;
    std::set<std::string> seenLabels;
    m.rows.reserve(records.size() - 1);
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        const auto& f = rec.fields;
        if (f.size() != header.size())
            throw ManifestError(csv, rec.line, std::min(f.size(), header.size()) + 1, {},
                                std::to_string(f.size()) + " fields, the header has " + std::to_string(header.size()));
        auto fail = [&](long c, const std::string& why) {
            throw ManifestError(csv, rec.line, std::size_t(c) + 1, trim(header[std::size_t(c)]), why);
        };
        ManifestRow row;
        row.id = trim(f[std::size_t(idCol)]);
        if (row.id.empty()) fail(idCol, "empty id");
        const auto [it, inserted] = lineOfId.emplace(row.id, rec.line);
        if (!inserted)
            fail(idCol, "duplicate id \"" + row.id + "\" (first on line " + std::to_string(it->second) + ")");
        row.path = trim(f[std::size_t(pathCol)]);
        if (row.path.empty()) fail(pathCol, "empty path");
        if (patientCol >= 0) row.patientId = trim(f[std::size_t(patientCol)]);
        if (splitCol >= 0) {
            row.split = trim(f[std::size_t(splitCol)]);
            if (!validSplitName(row.split))
                fail(splitCol, "split \"" + row.split + "\" may only hold letters, digits, '_' and '-'");
        }
        if (labelsCol >= 0) {
            row.labels = splitLabels(f[std::size_t(labelsCol)]);
            std::sort(row.labels.begin(), row.labels.end());
            if (std::adjacent_find(row.labels.begin(), row.labels.end()) != row.labels.end())
                fail(labelsCol, "a label appears twice in \"" + f[std::size_t(labelsCol)] + "\"");
            for (const auto& l : row.labels) {
                if (const auto problem = labelNameProblem(l); !problem.empty()) fail(labelsCol, problem);
                if (closedVocabulary && m.labelIndex(l) < 0)
                    fail(labelsCol, "label \"" + l + "\" is not in the vocabulary");
                seenLabels.insert(l);
            }
        }
        // Label columns: 0/1 (empty = 0); they must agree with `labels` when both are given.
        std::vector<std::string> fromColumns;
        for (std::size_t k = 0; k < labelColumns.size(); ++k) {
            const std::size_t c = labelColumns[k];
            const std::string v = trim(f[c]);
            const bool one = v == "1" || v == "1.0", zero = v.empty() || v == "0" || v == "0.0";
            if (!one && !zero) fail(long(c), "expected 0 or 1, got \"" + v + "\"");
            if (one) fromColumns.push_back(columnLabels[k]);
        }
        if (!labelColumns.empty()) {
            std::sort(fromColumns.begin(), fromColumns.end());
            if (labelsCol < 0) {
                row.labels = fromColumns;
            } else if (fromColumns != row.labels) {
                // Only labels that have a column can be compared.
                std::vector<std::string> withColumn;
                for (const auto& l : row.labels)
                    if (std::find(columnLabels.begin(), columnLabels.end(), l) != columnLabels.end())
                        withColumn.push_back(l);
                if (withColumn != fromColumns)
                    fail(labelsCol, "labels \"" + f[std::size_t(labelsCol)] + "\" disagree with the label columns");
            }
        }
        m.rows.push_back(std::move(row));
    }
    if (!closedVocabulary) m.labelNames.assign(seenLabels.begin(), seenLabels.end());
    return m;
}

std::string manifestCsv(const Manifest& m) {
    std::string out = "id,patient_id,path,labels,split";
    for (const auto& l : m.labelNames) {
        if (const auto problem = labelNameProblem(l); !problem.empty())
            throw ManifestError(m.file, 0, 0, "labels", problem);
        out += "," + csvField(l);
    }
    out += "\n";
    std::vector<char> flags(m.labelNames.size());
    for (std::size_t r = 0; r < m.rows.size(); ++r) {
        const auto& row = m.rows[r];
        std::string labels;
        std::fill(flags.begin(), flags.end(), 0);
        for (const auto& l : row.labels) {
            const int k = m.labelIndex(l);
            if (k < 0)
                throw ManifestError(m.file, 0, 0, "labels",
                                    "row " + std::to_string(r + 1) + " (id " + row.id + "): label \"" + l +
                                        "\" is not in the vocabulary");
            flags[std::size_t(k)] = 1;
            labels += (labels.empty() ? "" : "|") + l;
        }
        out += csvField(row.id) + "," + csvField(row.patientId) + "," + csvField(row.path) + "," + csvField(labels) +
               "," + csvField(row.split);
        for (char f : flags) out += f ? ",1" : ",0";
        out += "\n";
    }
    return out;
}

Manifest manifestOfFolder(const fs::path& folder) {
    static const std::vector<std::string> kImages = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm"};
    Manifest m;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
            if (it->is_directory(ec)) it.disable_recursion_pending();
            continue;
        }
        std::string ext = it->path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (!it->is_regular_file(ec) || std::find(kImages.begin(), kImages.end(), ext) == kImages.end()) continue;
        ManifestRow row;
        row.id = fs::relative(it->path(), folder, ec).generic_string();
        row.patientId = row.id;
        row.path = fs::absolute(it->path()).string();
        m.rows.push_back(std::move(row));
    }
    if (m.rows.empty()) throw ManifestError(folder, "no images (.png, .jpg, .bmp, .tif, .dcm) in this folder");
    std::sort(m.rows.begin(), m.rows.end(), [](const ManifestRow& a, const ManifestRow& b) { return a.id < b.id; });
    return m;
}

void writeManifest(const Manifest& m, const fs::path& csv) {
    util::writeFileAtomically(csv, manifestCsv(m));  // throws naming the file
}

}  // namespace lumen::data
