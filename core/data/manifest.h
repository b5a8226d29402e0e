#pragma once
// A dataset manifest: one CSV row per image (or study) with its id, patient, file, positive
// labels and split. Format (docs/data.md):
//   id,patient_id,path,labels,split[,LABEL_1,LABEL_2,...]
// `labels` holds the positive labels joined with '|'; the optional columns after `split` are
// the label vocabulary, one 0/1 column per label (so pandas gets targets directly and a label
// without positives still has its column). writeManifest always writes them.

#include "data/data_error.h"

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::data {

/// A malformed manifest: what() names file:line and the column.
class ManifestError : public DataError {
public:
    using DataError::DataError;
};

struct ManifestRow {
    std::string id;                   ///< image id (e.g. "00000001_000.png") or study id
    std::string patientId;            ///< may be empty
    std::string path;                 ///< relative to the manifest's folder or absolute
    std::vector<std::string> labels;  ///< positive labels of this row (multi-label)
    std::string split;                ///< "train" / "val" / "test" / ""
};

struct Manifest {
    std::filesystem::path file;           ///< where it was read from (paths resolve against file.parent_path())
    std::vector<std::string> labelNames;  ///< the label vocabulary, in column order
    std::vector<ManifestRow> rows;

    /// The row's file: `path` if absolute, else relative to the manifest's folder.
    std::filesystem::path resolve(const ManifestRow&) const;
    /// The rows of one split (same file and vocabulary).
    Manifest filterSplit(const std::string& split) const;
    /// Resolved paths of rows whose file does not exist, in row order. Missing files are not
    /// an error when reading: they fail when a sample is used.
    std::vector<std::filesystem::path> missingFiles() const;
    /// Split names present: train, val, test first, then others in order of appearance, and ""
    /// last when some rows have none.
    std::vector<std::string> splitNames() const;
    /// Index of a label in labelNames, or -1.
    int labelIndex(const std::string& label) const;
};

struct ManifestReadOptions {
    /// When not empty: the vocabulary to use; a label column or label outside it is an error.
    /// When empty: the file's label columns, or (without any) the labels seen, sorted.
    std::vector<std::string> labelNames;
};

/// Reads a manifest. Columns are found by name (id and path required; patient_id, labels and
/// split optional); extra columns after them are label columns holding 0/1 (or empty = 0).
/// Throws ManifestError naming file:line:column for: a wrong field count, an empty id or
/// path, a duplicate id (naming both lines), a label outside the vocabulary, a label column
/// that is not 0/1 or disagrees with `labels`, a bad split name, an unterminated quote.
Manifest readManifest(const std::filesystem::path& csv, const ManifestReadOptions& options = {});

/// Writes the manifest atomically (temporary file + rename); paths are written as stored.
/// Throws ManifestError for a row whose label is not in labelNames.
void writeManifest(const Manifest&, const std::filesystem::path& csv);

/// A manifest of every image under `folder` (recursively; .png .jpg .jpeg .bmp .tif .tiff .dcm,
/// hidden entries skipped), sorted by path, for inference on unlabelled images: id = the path
/// relative to the folder, patient = the id, path absolute, no labels, no split. Throws
/// ManifestError naming the folder when it holds no image.
Manifest manifestOfFolder(const std::filesystem::path& folder);

/// The manifest's CSV text (what writeManifest writes).
std::string manifestCsv(const Manifest&);

/// Splits "A|B|C" into labels (trimmed, empty parts dropped).
std::vector<std::string> splitLabels(const std::string& text);

}  // namespace lumen::data
