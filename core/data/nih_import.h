#pragma once
// The NIH ChestX-ray14 importer: Data_Entry_2017.csv + train_val_list.txt / test_list.txt +
// the image folders (images_001/images/..., or images_*/... directly) -> manifests.
// Multi-labels are split on '|', "No Finding" becomes "Normal".

#include "data/manifest.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::data {

/// The 14 NIH findings in their usual order, then "Normal" (for "No Finding").
const std::vector<std::string>& nihLabelNames();

struct NihImportOptions {
    /// Keep rows whose image file is missing in the manifests (they fail when used). Off:
    /// they are left out and listed in the report and missing_images.txt.
    bool keepMissing = false;
};

struct NihImportReport {
    std::filesystem::path dataDir, outDir;
    std::size_t entries = 0;                                  ///< rows of Data_Entry_2017.csv
    std::size_t imageFiles = 0;                               ///< image files found in the images* folders
    std::size_t patients = 0;                                 ///< distinct Patient IDs among the entries
    std::size_t trainValRows = 0, testRows = 0, allRows = 0;  ///< rows written per manifest
    std::vector<std::string> missingImages;                   ///< entries whose file was not found
    std::vector<std::string> notInAnyList;                    ///< entries in neither split list (split "")
    std::vector<std::string> listedWithoutEntry;              ///< names in a split list but not in Data_Entry
    std::vector<std::string> inBothLists;                     ///< names in both split lists (kept in test)
    std::vector<std::string> unknownLabels;          ///< findings outside nihLabelNames(), appended to the vocabulary
    std::vector<std::string> labelNames;             ///< the manifests' vocabulary
    std::map<std::string, std::size_t> labelCounts;  ///< positives per label over all entries
    std::filesystem::path trainValManifest, testManifest, allManifest, reportFile;
};

/// Reads the NIH layout under `dataDir` and writes into `outDir` (created):
///   train_val.csv (split "train"), test.csv (split "test"), all.csv (every entry, split from
///   the lists, "" when in neither), nih_import.json (this report), missing_images.txt.
/// Paths in the manifests are relative to outDir when outDir lies inside dataDir (or the image
/// inside outDir), else absolute.
/// Throws DataError naming the file (and line/column) for a missing or malformed
/// Data_Entry_2017.csv or split list. `job` (may be null) gets progress and is polled.
NihImportReport importNih(const std::filesystem::path& dataDir, const std::filesystem::path& outDir,
                          const NihImportOptions& options = {}, jobs::JobContext* job = nullptr);

nlohmann::json toJson(const NihImportReport& report);

}  // namespace lumen::data
