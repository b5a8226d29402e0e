#include "io/media_reader.h"

#include "io/dicom_reader.h"
#include "io/image_reader.h"
#include "io/nifti_reader.h"
#include "io/read_error.h"
#include "io/video_reader.h"

#include <algorithm>
#include <cmath>

namespace lumen::io {

namespace {

std::string lowerExtension(const std::filesystem::path& p) {
    std::string e = p.extension().string();
    for (auto& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
    return e;
}

nlohmann::json optionalNumber(const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

MediaFile readMedia(const std::filesystem::path& path, const DicomReadOptions& dicom) {
    MediaFile m;
    m.path = path;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        auto s = loadDicomSeries(path);
        m.kind = "dicom-series";
        m.volume = std::move(s.volume);
        m.series = std::move(s.report);
        return m;
    }
    if (!std::filesystem::exists(path, ec)) throw ReadError(path, "no such file or folder");
    const std::string ext = lowerExtension(path);
    if (looksLikeNifti(path)) {
        m.kind = "nifti";
        m.volume = readNifti(path);
    } else if (looksLikeDicom(path) || ext == ".dcm" || ext == ".dicom") {
        m.kind = "dicom";
        m.volume = readDicom(path, dicom);
    } else if (looksLikeImage(path)) {
        m.kind = "image";
        m.volume = readImage(path);
    } else if (ext == ".avi" || ext == ".mp4" || ext == ".mov" || ext == ".mkv" || ext == ".mpg" || ext == ".mpeg" ||
               ext == ".webm" || ext == ".m4v") {
        m.kind = "video";
        m.volume = readVideo(path);
    } else {
        // DICOM files without a preamble exist (and have any name): DCMTK decides.
        m.kind = "dicom";
        try {
            m.volume = readDicom(path, dicom);
        } catch (const ReadError& e) {
            throw ReadError(path, "unrecognised format (not a DICOM, NIfTI, PNG/JPEG/BMP/TIFF or video file)");
        }
    }
    return m;
}

nlohmann::json describeMedia(const MediaFile& media) {
    const ImageVolume& v = media.volume;
    const ImageMetadata& m = v.meta;
    nlohmann::json j;
    j["path"] = media.path.string();
    j["kind"] = media.kind;
    j["format"] = m.format;
    j["modality"] = m.modality.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.modality);
    j["rows"] = v.rows;
    j["columns"] = v.columns;
    j["samples"] = v.samples;
    j["frames"] = v.isVolume ? 1 : v.depth;
    j["slices"] = v.isVolume ? v.depth : 1;
    j["time"] = v.time;
    j["shape"] = v.shape();
    j["declared_frames"] = m.declaredFrames ? nlohmann::json(*m.declaredFrames) : nlohmann::json(nullptr);
    j["spacing"] = v.spacing;
    j["origin"] = v.origin;
    j["direction"] = v.direction;
    j["transfer_syntax"] = m.transferSyntax.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.transferSyntax);
    j["transfer_syntax_name"] =
        m.transferSyntaxName.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.transferSyntaxName);
    j["decoder"] = m.decoder;
    j["photometric"] = m.photometric;
    j["source_photometric"] = m.sourcePhotometric;
    j["invert_for_display"] = m.invertForDisplay;
    j["bits_allocated"] = m.bitsAllocated;
    j["bits_stored"] = m.bitsStored;
    j["signed"] = m.pixelSigned;
    j["stored_dtype"] =
        v.storedType == StoredType::None ? nlohmann::json(nullptr) : nlohmann::json(numpyDtype(v.storedType));
    j["rescale_slope"] = m.rescaleSlope;
    j["rescale_intercept"] = m.rescaleIntercept;
    j["window_center"] = optionalNumber(m.windowCenter);
    j["window_width"] = optionalNumber(m.windowWidth);
    j["frame_time_ms"] = optionalNumber(m.frameTimeMs);
    j["series_instance_uid"] =
        m.seriesInstanceUid.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.seriesInstanceUid);
    if (!v.values.empty()) {
        const auto [lo, hi] = std::minmax_element(v.values.begin(), v.values.end());
        j["min"] = *lo;
        j["max"] = *hi;
    } else {
        j["min"] = j["max"] = nullptr;
    }
    if (media.series) {
        const auto& r = *media.series;
        nlohmann::json s;
        s["series_instance_uid"] = r.seriesInstanceUid;
        s["files"] = r.files.size();
        s["slice_spacing"] = r.sliceSpacing;
        s["min_step"] = r.minStep;
        s["max_step"] = r.maxStep;
        s["uniform"] = r.uniform;
        s["gaps_after"] = r.gapsAfter;
        s["other_series"] = r.otherSeries;
        s["skipped"] = r.skipped;
        s["warnings"] = r.warnings;
        j["series"] = s;
    }
    return j;
}

}  // namespace lumen::io
