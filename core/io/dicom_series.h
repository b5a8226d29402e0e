#pragma once
// A folder of single-frame DICOM slices -> one volume: grouped by SeriesInstanceUID, sorted
// by ImagePositionPatient along the slice normal, spacing measured from the positions.

#include "io/image_volume.h"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace lumen::io {

struct DicomSeriesReport {
    std::string seriesInstanceUid;
    std::vector<std::filesystem::path> files;  ///< in slice order
    std::vector<double> positions;             ///< distance of each slice along the normal (mm)
    double sliceSpacing = 0;                   ///< median step between positions
    double minStep = 0, maxStep = 0;
    bool uniform = true;                   ///< every step within 1 % (and 0.01 mm) of the median
    std::vector<std::size_t> gapsAfter;    ///< slice indices followed by a step > 1.5 x median
    std::vector<std::string> otherSeries;  ///< other SeriesInstanceUIDs found in the folder
    std::vector<std::string> skipped;      ///< "file: reason" for files that are not slices
    std::vector<std::string> warnings;     ///< human-readable: gaps, non-uniform spacing ...
};

struct DicomSeriesVolume {
    ImageVolume volume;  ///< (slices, rows, columns), values through each slice's modality LUT
    DicomSeriesReport report;
};

struct DicomSeriesOptions {
    /// Threads reading files (headers, then pixels); 0 = one per core, 1 = serial. Slices are
    /// independent files, so both passes scale with cores (docs/volume-viewer.md measures it).
    unsigned threads = 0;
    /// Called on the calling thread with the fraction done (0..1) and what is being done; it
    /// may throw (e.g. jobs::Cancelled) to stop the read: the workers are joined, then the
    /// exception propagates.
    std::function<void(double fraction, const std::string& message)> progress;
};

/// Reads the series in `folder` (not recursive). With an empty `seriesUid` the series with the
/// most slices is taken. Throws ReadError naming the folder (or the offending file).
DicomSeriesVolume loadDicomSeries(const std::filesystem::path& folder, const std::string& seriesUid = {});
DicomSeriesVolume loadDicomSeries(const std::filesystem::path& folder, const std::string& seriesUid,
                                  const DicomSeriesOptions& options);

}  // namespace lumen::io
