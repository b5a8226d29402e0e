#pragma once
// The angiography manifest (angio_multiview, docs/angio.md): one CSV row per video, grouped
// into studies.
//   study_id,patient_id,path[,view][,split][,<segment>_<head> ...]
// `path` is a multi-frame DICOM, AVI or MP4 (relative to the manifest's folder or absolute).
// Label columns are `<segment>_<head>` with the 18 coronary segments and the heads stenosis
// (percent 0..100), stenosis_binary, calcif_binary, cto, thrombus (0/1). An empty cell (or
// NaN) is "not labelled": it stays NaN and is masked out of the loss, never read as a zero.
// Labels describe the study: the rows of one study may repeat a value or leave it empty, but
// two different values are an error naming both lines. Other columns are ignored (listed).
// Or, for inference, a DICOM folder: its multi-frame images grouped by StudyInstanceUID.

#include "data/data_error.h"
#include "data/manifest.h"

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::data {

struct AngioVideo {
    std::string path;  ///< as written (resolve against the manifest's folder)
    std::string view;  ///< projection ("LAO 30 CRA 20", "RAO"), may be empty
    std::size_t line = 0;
};

struct AngioStudy {
    std::string studyId, patientId, split;
    std::vector<AngioVideo> videos;  ///< in row order
    std::vector<double> labels;      ///< segments x 5, segment-major (column s * 5 + h); NaN = not labelled
};

struct AngioManifest {
    std::filesystem::path file;             ///< the CSV (or the DICOM folder)
    std::vector<std::string> segments;      ///< the segment vocabulary (columns s * 5 + h)
    std::vector<std::string> labelColumns;  ///< the label columns the file has, as written
    std::vector<std::string> ignoredColumns;
    std::vector<AngioStudy> studies;  ///< in order of first appearance

    std::filesystem::path resolve(const AngioVideo& v) const;
    /// The studies of one split ("" = those without a split).
    std::vector<const AngioStudy*> split(const std::string& name) const;
    /// "<segment>_<head>" for every output column, segment-major: the predictions' columns.
    std::vector<std::string> outputColumns() const;
    std::size_t labelledCount() const;  ///< non-NaN label cells over all studies
};

/// True when `file` is a CSV whose header has a `study_id` column and no `id` column: an
/// angiography manifest rather than an image manifest (docs/data.md). Reads the first line only.
bool isAngioManifestFile(const std::filesystem::path& file);

/// One image-manifest row per video (id = study id, the video's path resolved, the study's
/// patient and split), e.g. for computePixelStats, which counts every frame, and the Data
/// page. Its label vocabulary is the binary columns (`<segment>_<head>` but stenosis %) that
/// are 1 in some study; a row's labels are its study's positive ones.
Manifest videosAsManifest(const AngioManifest& m);

/// What a dataset tool reads from `path`: an angiography manifest as one row per video
/// (videosAsManifest; the manifest itself into `angio` when given), else an image manifest or
/// split folder (loadManifestOrFolder; `angio` left empty). The CLI's data stats/verify and the
/// Data page read through this.
Manifest loadManifestOrVideos(const std::filesystem::path& path, AngioManifest* angio = nullptr);

/// The five heads, in column order within a segment.
const std::vector<std::string>& angioHeads();

/// Reads an angiography manifest. `segments` empty = the 18 coronary segments. Throws
/// DataError naming file:line:column for: no study_id or path column, an empty study id or
/// path, a label that is not a number (or not 0/1 for a binary head, or outside 0..100 for
/// stenosis), a label, patient or split that disagrees between two rows of one study (both
/// lines named), a file with no rows.
AngioManifest readAngioManifest(const std::filesystem::path& csv, const std::vector<std::string>& segments = {});

/// The multi-frame DICOM files under `folder` (recursively, headers only) grouped into studies
/// by StudyInstanceUID: patient = PatientID, view = the positioner angles ("LAO 30 CRA 20")
/// when present, no labels, no split; studies and videos sorted (study UID, then path).
/// Unreadable files are skipped and listed in `skipped` ("path: reason"). Throws DataError
/// naming the folder when it holds no multi-frame DICOM.
AngioManifest angioManifestOfDicomFolder(const std::filesystem::path& folder,
                                         std::vector<std::string>* skipped = nullptr,
                                         const std::vector<std::string>& segments = {});

/// The projection name of C-arm angles: primary > 0 is LAO, < 0 RAO; secondary > 0 is CRA,
/// < 0 CAU; 0 is omitted ("AP" when both are 0). Angles are rounded to whole degrees.
std::string projectionName(double primaryDeg, double secondaryDeg);

}  // namespace lumen::data
