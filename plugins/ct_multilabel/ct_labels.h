#pragma once
// The ct_multilabel task's labels CSV (torch-free): rows with their patient and split, the
// seeded split by patient, and the patient folds of the cross-fitted thresholds
// (docs/ct-multilabel.md, "Data" and "Threshold search").

#include "config/config.h"

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace lumen::ct {

struct Row {
    std::string id;
    std::string patient;  ///< never empty: the patient column, the CT-RATE name's patient part, or the id
    std::string split;
    std::vector<float> targets;  ///< empty when the CSV has no label columns (inference only)
    std::size_t line = 0;
};

struct LabelTable {
    std::filesystem::path file;
    bool hasSplit = false, hasTargets = false;
    std::string patientSource;  ///< where the patients came from, for the log
    std::vector<Row> rows;
};

/// CT-RATE names a volume <split>_<patient>_<scan>_<reconstruction>[.nii.gz] (train_12_a_1):
/// its patient is the part before the scan letter (train_12). Empty for other names.
std::string ctRatePatient(const std::string& id);

/// Reads data.labels_csv (resolved in `workspace`). With `needTargets`, every label needs its
/// column; errors name the file, line, label and volume.
LabelTable readLabels(const config::Config& c, const std::filesystem::path& workspace, bool needTargets);

/// Fisher-Yates with mt19937_64 (the same order on every platform, unlike std::shuffle).
template <typename T>
void seededShuffle(std::vector<T>& v, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (std::size_t i = v.size(); i > 1; --i) {
        const std::size_t j = static_cast<std::size_t>(rng() % i);
        std::swap(v[i - 1], v[j]);
    }
}

/// Seeded split by patient: the rows are shuffled, patients are taken in the order they first
/// appear, and the first round(fraction x patients) validate. With one volume per patient this
/// is the row-level split of earlier versions (the same volumes validate).
void splitByPatient(std::vector<Row> rows, double fraction, std::uint64_t seed, std::vector<Row>& train,
                    std::vector<Row>& val);

/// Two folds by patient (patients sorted, shuffled by the seed, then alternated), for
/// cross-fitted thresholds: one fold number per entry of `patients`.
std::vector<int> patientFolds(const std::vector<std::string>& patients, std::uint64_t seed);

}  // namespace lumen::ct
