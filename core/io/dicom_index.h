#pragma once
// The local DICOM index of a workspace: folders scanned (recursively, headers only) into a
// patient -> study -> series -> instance hierarchy kept in the workspace database
// (lumen.db, tables dicom_*; docs/dicom-browser.md). Rescans are incremental: files whose
// modification time and size are unchanged are not read again. Files that cannot be read
// are listed with the reason, never fatal.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct sqlite3;

namespace lumen::io {

struct DicomPatientRecord {
    std::string patientId;  ///< PatientID as stored ("" when the files have none)
    std::string patientName;
    int studies = 0;
};

struct DicomStudyRecord {
    std::string studyUid;
    std::string patientId;
    std::string date;  ///< StudyDate, YYYYMMDD as stored
    std::string description;
    int series = 0;
};

struct DicomSeriesRecord {
    std::string seriesUid;
    std::string studyUid;
    std::string modality;
    std::string description;
    std::optional<long> number;  ///< SeriesNumber
    int instances = 0;
    long frames = 0;  ///< sum over the instances
};

struct DicomInstanceRecord {
    std::filesystem::path path;  ///< absolute
    std::string sopInstanceUid;
    std::string seriesUid;
    std::optional<long> number;         ///< InstanceNumber
    int rows = 0, columns = 0;          ///< 0: not an image (no Rows/Columns)
    long frames = 0;                    ///< NumberOfFrames (1 for single-frame images, 0 for non-images)
    std::optional<double> frameTimeMs;  ///< FrameTime, else 1000 / CineRate or RecommendedDisplayFrameRate
    std::optional<double> windowCenter, windowWidth;  ///< first values of the file's window
    std::string photometric;
    std::string transferSyntax;  ///< UID
    std::int64_t mtimeNs = 0;
    std::int64_t size = 0;
};

struct DicomUnreadableRecord {
    std::filesystem::path path;
    std::string reason;
};

struct DicomScanResult {
    std::filesystem::path root;
    int seen = 0;        ///< regular files under the root
    int added = 0;       ///< new instances
    int updated = 0;     ///< instances re-read because mtime or size changed
    int unchanged = 0;   ///< skipped: same mtime and size as indexed (instances and unreadable files)
    int removed = 0;     ///< index entries whose file is gone
    int skipped = 0;     ///< not DICOM by name and magic (e.g. .csv, .png)
    int unreadable = 0;  ///< files that look like DICOM but could not be read (now listed)
    bool cancelled = false;
    double seconds = 0;
};

/// Progress in 0..1 and a message; returning false cancels the scan (what was indexed so
/// far is kept).
using DicomScanProgress = std::function<bool(double fraction, const std::string& message)>;

class DicomIndexError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The header fields the index keeps, read from one file (stops before Pixel Data).
/// Throws ReadError naming the file.
DicomInstanceRecord readDicomIndexHeader(const std::filesystem::path& file, std::string* patientId = nullptr,
                                         std::string* patientName = nullptr, DicomStudyRecord* study = nullptr,
                                         DicomSeriesRecord* series = nullptr);

class DicomIndex {
public:
    /// Opens (creating the dicom_* tables if needed) the database file, usually
    /// runs::Workspace::database(). The run store's tables are not touched.
    explicit DicomIndex(const std::filesystem::path& databaseFile);
    ~DicomIndex();
    DicomIndex(const DicomIndex&) = delete;
    DicomIndex& operator=(const DicomIndex&) = delete;

    static constexpr int kSchemaVersion = 1;
    int schemaVersion() const;

    /// Scans `folder` recursively. A file is read when it has the DICM magic or a DICOM
    /// extension (.dcm, .dicom, .dic, .ima); other files count as skipped.
    DicomScanResult scan(const std::filesystem::path& folder, const DicomScanProgress& progress = {});

    /// Forgets every entry under `folder` (files stay on disk).
    void forget(const std::filesystem::path& folder);

    std::vector<DicomPatientRecord> patients() const;                                ///< by id
    std::vector<DicomStudyRecord> studies(const std::string& patientId) const;       ///< by date, uid
    std::vector<DicomSeriesRecord> series(const std::string& studyUid) const;        ///< by number, uid
    std::vector<DicomInstanceRecord> instances(const std::string& seriesUid) const;  ///< by number, path
    std::optional<DicomInstanceRecord> instance(const std::filesystem::path& file) const;
    std::vector<DicomUnreadableRecord> unreadable() const;  ///< by path
    int instanceCount() const;

    const std::filesystem::path& file() const { return file_; }

private:
    void exec(const std::string& sql) const;

    std::filesystem::path file_;
    sqlite3* db_ = nullptr;
    mutable std::mutex mutex_;
};

}  // namespace lumen::io
