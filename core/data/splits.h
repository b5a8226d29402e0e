#pragma once
// Patient-level splits: every image of a patient lands in the same split, so no patient is
// in two splits. The proof is computed from the data, not from the algorithm: a SplitReport
// counts patients and images per split and the pairwise intersections (all must be 0).

#include "data/manifest.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::data {

struct SplitOptions {
    std::vector<double> ratios{0.7, 0.1, 0.2};  ///< fractions of patients; must sum to 1
    std::vector<std::string> names;             ///< empty: train,val,test / train,test / train
    std::uint64_t seed = 0;
};

struct SplitCounts {
    std::string name;
    std::size_t images = 0, patients = 0;
    double imageFraction = 0, patientFraction = 0;
};

struct SplitOverlap {
    std::string a, b;
    std::size_t patients = 0;                ///< patients in both splits
    std::size_t images = 0;                  ///< image ids in both splits
    std::vector<std::string> firstPatients;  ///< up to 10 of the shared patients, for the message
};

struct SplitReport {
    std::string manifest;  ///< the source manifest's file name
    std::uint64_t seed = 0;
    std::vector<double> ratios;  ///< empty for a report of an existing manifest
    std::size_t images = 0, patients = 0;
    std::size_t rowsWithoutPatient = 0;  ///< rows whose patient_id was empty: each is its own patient
    std::vector<SplitCounts> splits;     ///< in Manifest::splitNames() order (or the given names)
    std::vector<SplitOverlap> overlaps;  ///< every pair of splits
    bool disjoint() const;               ///< every overlap is 0 patients and 0 images
};

/// Assigns `split` by patient: patients (sorted, then shuffled by the seed) are dealt out in
/// the given ratios (rounded cumulatively, so counts sum to the total). Rows without a patient
/// id are their own patient. Returns a copy of the manifest with `split` set.
/// Throws std::invalid_argument for ratios that are not positive or do not sum to 1, or
/// names that do not match the ratios.
Manifest splitByPatient(const Manifest& manifest, const SplitOptions& options, SplitReport* report = nullptr);

/// Counts and pairwise intersections of the splits present in `manifest` (rows may repeat
/// ids when the manifest was merged from several files).
SplitReport splitReport(const Manifest& manifest);

nlohmann::json toJson(const SplitReport& report);

/// Writes a split folder: manifest.csv (every row), one manifest per split (<name>.csv),
/// <name>_ids.txt and <name>_patients.txt (sorted, one per line) and split_report.json
/// beside them. Every file is written atomically. Returns the report it wrote.
SplitReport writeSplitFolder(const Manifest& manifest, const std::filesystem::path& dir, const SplitReport& base = {});

/// Reads a manifest file, or a folder: its manifest.csv, else every *.csv manifest in it
/// merged (rows with an empty split take the file's stem as their split). Throws
/// ManifestError naming the file.
Manifest loadManifestOrFolder(const std::filesystem::path& path);

}  // namespace lumen::data
