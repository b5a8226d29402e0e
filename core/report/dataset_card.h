#pragma once
// The dataset card of a manifest (docs/cards.md): its SHA-256, counts, splits with the
// patient-level split proof, label balance per split and, when asked, exact pixel statistics
// (data/dataset_stats.h). Source, collection and known biases are placeholders the user fills.
// Patient and image ids appear only with includeIds. Torch-free.

#include "data/dataset_stats.h"
#include "data/splits.h"
#include "report/card_document.h"

#include <filesystem>
#include <optional>
#include <string>

namespace lumen::report {

struct DatasetCardOptions {
    bool includeIds = false;  ///< name the patients shared between splits (default: counts only)
    bool pixelStats = false;  ///< read every image for mean/std/min/max per channel (slow on large sets)
    unsigned threads = 0;     ///< for the pixel statistics; 0 = hardware concurrency
};

struct DatasetCard {
    std::filesystem::path manifestFile;
    std::string sha256;
    std::size_t rows = 0;
    std::size_t labels = 0;
    std::size_t missingFiles = 0;
    data::SplitReport splits;
    data::LabelBalance balance;
    std::optional<data::PixelStats> pixels;
    CardDocument document;
};

/// Reads the manifest (a file, or a split folder: data::loadManifestOrFolder) and builds its
/// card. Throws data::ManifestError naming the file for a manifest it cannot read, and
/// data::DataError naming the image for an unreadable image when pixelStats is on.
DatasetCard buildDatasetCard(const std::filesystem::path& manifest, const DatasetCardOptions& options = {});

/// The card of a manifest already read (`source`: the file or folder it was read from), with
/// pixel statistics already computed (the Data panel's) or, when null, as options ask.
DatasetCard datasetCardOf(const data::Manifest& manifest, const std::filesystem::path& source,
                          const DatasetCardOptions& options = {}, const data::PixelStats* pixels = nullptr);

}  // namespace lumen::report
