#pragma once
// One entry point for "whatever this path is": a DICOM series folder, a NIfTI volume, a DICOM
// file, a 2-D image or a video; used by lumen-cli inspect/convert and the app.

#include "io/dicom_reader.h"
#include "io/dicom_series.h"
#include "io/image_volume.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace lumen::io {

struct MediaFile {
    std::filesystem::path path;
    std::string kind;  ///< "dicom-series", "nifti", "dicom", "image", "video"
    ImageVolume volume;
    std::optional<DicomSeriesReport> series;
};

/// Chooses the reader from the path (folder, extension, magic bytes) and reads it.
/// Throws ReadError naming the path. `dicom` applies to DICOM files (a stored-first read
/// leaves grey values to io::ensureValues).
MediaFile readMedia(const std::filesystem::path& path, const DicomReadOptions& dicom = {});

/// The inspect record: {kind, format, modality, rows, columns, frames, slices, samples, time,
/// shape, spacing, origin, direction, transfer_syntax, photometric, window_center,
/// window_width, frame_time_ms, rescale_slope, rescale_intercept, min, max, ...}; absent
/// values are null.
nlohmann::json describeMedia(const MediaFile& media);

}  // namespace lumen::io
