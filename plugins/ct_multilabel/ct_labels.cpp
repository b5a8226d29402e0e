#include "ct_labels.h"

#include "data/csv_records.h"
#include "plugin/task_kit.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>

namespace lumen::ct {

namespace fs = std::filesystem;

namespace {

/// The column holding patients: data.patient_column (an error when absent), else patient_id or
/// PatientID when present; -1 when none.
int patientColumn(const config::Config& c, const LabelTable& t, const std::function<int(const std::string&)>& col) {
    if (const auto named = c.get<std::string>("data.patient_column"); !named.empty()) {
        const int i = col(named);
        if (i < 0) throw std::runtime_error(t.file.string() + ": no \"" + named + "\" column (data.patient_column)");
        return i;
    }
    for (const char* name : {"patient_id", "PatientID"})
        if (const int i = col(name); i >= 0) return i;
    return -1;
}

/// Fills each row's patient and says where they came from.
void assignPatients(LabelTable& t, int patientIdx, const std::string& patientName,
                    const std::vector<std::vector<std::string>>& fields) {
    std::size_t fromColumn = 0, fromName = 0;
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
        auto& row = t.rows[r];
        const auto& f = fields[r];
        if (patientIdx >= 0 && static_cast<int>(f.size()) > patientIdx && !f[std::size_t(patientIdx)].empty()) {
            row.patient = f[std::size_t(patientIdx)];
            ++fromColumn;
        } else if (auto p = ctRatePatient(row.id); !p.empty()) {
            row.patient = std::move(p);
            ++fromName;
        } else {
            row.patient = row.id;
        }
    }
    std::set<std::string> patients;
    for (const auto& r : t.rows) patients.insert(r.patient);
    t.patientSource = std::to_string(patients.size()) + " patients for " + std::to_string(t.rows.size()) + " volumes (";
    if (fromColumn > 0) t.patientSource += std::to_string(fromColumn) + " from the \"" + patientName + "\" column, ";
    if (fromName > 0) t.patientSource += std::to_string(fromName) + " from CT-RATE names, ";
    t.patientSource += std::to_string(t.rows.size() - fromColumn - fromName) + " one per volume)";
}

}  // namespace

std::string ctRatePatient(const std::string& id) {
    static const std::regex name(R"(^(.+_[0-9]+)_[A-Za-z]+_[0-9]+(\.nii(\.gz)?)?$)");
    std::smatch m;
    return std::regex_match(id, m, name) ? m[1].str() : std::string();
}

LabelTable readLabels(const config::Config& c, const fs::path& ws, bool needTargets) {
    LabelTable t;
    t.file = plugin::inWorkspace(ws, c.get<std::string>("data.labels_csv"));
    const auto records = data::readCsvRecords(t.file);
    if (records.empty()) throw std::runtime_error(t.file.string() + ": empty labels CSV");
    const auto& header = records[0].fields;
    const auto col = [&](const std::string& name) -> int {
        for (std::size_t i = 0; i < header.size(); ++i)
            if (header[i] == name) return static_cast<int>(i);
        return -1;
    };
    const auto idCol = c.get<std::string>("data.id_column");
    const int idIdx = col(idCol);
    if (idIdx < 0) throw std::runtime_error(t.file.string() + ": no \"" + idCol + "\" column (data.id_column)");
    const int splitIdx = col(c.get<std::string>("data.split_column"));
    t.hasSplit = splitIdx >= 0;
    const int patientIdx = patientColumn(c, t, col);
    std::vector<std::vector<std::string>> rowFields;
    const auto labels = c.get<std::vector<std::string>>("labels");
    std::vector<int> labelIdx;
    std::vector<std::string> missing;
    for (const auto& l : labels) {
        labelIdx.push_back(col(l));
        if (labelIdx.back() < 0) missing.push_back(l);
    }
    t.hasTargets = missing.empty();
    if (!missing.empty() && (needTargets || missing.size() < labels.size())) {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + ("\"" + m + "\"");
        throw std::runtime_error(t.file.string() + ": no column for label(s) " + list + " (labels)");
    }
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& f = records[r].fields;
        Row row;
        row.line = records[r].line;
        if (static_cast<int>(f.size()) <= idIdx || f[std::size_t(idIdx)].empty())
            throw std::runtime_error(t.file.string() + ":" + std::to_string(row.line) + ": no " + idCol);
        row.id = f[std::size_t(idIdx)];
        if (splitIdx >= 0 && static_cast<int>(f.size()) > splitIdx) row.split = f[std::size_t(splitIdx)];
        if (t.hasTargets) {
            for (std::size_t k = 0; k < labels.size(); ++k) {
                const int i = labelIdx[k];
                const std::string cell = static_cast<int>(f.size()) > i ? f[std::size_t(i)] : "";
                if (cell == "1" || cell == "1.0") row.targets.push_back(1.0f);
                else if (cell == "0" || cell == "0.0") row.targets.push_back(0.0f);
                else
                    throw std::runtime_error(t.file.string() + ":" + std::to_string(row.line) + ": " + labels[k] +
                                             " of " + row.id + " is \"" + cell + "\", expected 0 or 1");
            }
        }
        t.rows.push_back(std::move(row));
        rowFields.push_back(f);
    }
    assignPatients(t, patientIdx, patientIdx >= 0 ? header[std::size_t(patientIdx)] : std::string(), rowFields);
    return t;
}

/// Seeded split by patient: the rows are shuffled, patients are taken in the order they first
/// appear, and the first round(fraction x patients) validate. With one volume per patient this
/// is the row-level split of earlier versions (the same volumes validate).
void splitByPatient(std::vector<Row> rows, double fraction, std::uint64_t seed, std::vector<Row>& train,
                    std::vector<Row>& val) {
    seededShuffle(rows, seed);
    std::vector<std::string> order;
    std::set<std::string> seen;
    for (const auto& r : rows)
        if (seen.insert(r.patient).second) order.push_back(r.patient);
    const auto nVal =
        std::min(order.size(), static_cast<std::size_t>(std::lround(fraction * static_cast<double>(order.size()))));
    const std::set<std::string> held(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(nVal));
    for (auto& r : rows) (held.count(r.patient) ? val : train).push_back(std::move(r));
}

/// Two folds of the validation samples by patient (patients sorted, shuffled by the seed,
/// then alternated), for cross-fitted thresholds.
std::vector<int> patientFolds(const std::vector<std::string>& patients, std::uint64_t seed) {
    std::vector<std::string> unique(patients);
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    seededShuffle(unique, seed ^ 0xF01D5ULL);
    std::map<std::string, int> foldOf;
    for (std::size_t i = 0; i < unique.size(); ++i) foldOf[unique[i]] = static_cast<int>(i % 2);
    std::vector<int> out;
    for (const auto& p : patients) out.push_back(foldOf[p]);
    return out;
}

}  // namespace lumen::ct
