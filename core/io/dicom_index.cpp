#include "io/dicom_index.h"

#include "util/database_files.h"

#include "io/dicom_load.h"
#include "io/read_error.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace lumen::io {

namespace {

// Own tables beside the run store's (which owns PRAGMA user_version): the index keeps its
// schema version in dicom_meta so the two evolve independently on the same file.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS dicom_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dicom_patients (
  patient_id TEXT PRIMARY KEY,
  patient_name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS dicom_studies (
  study_uid TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL,
  study_date TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS dicom_studies_by_patient ON dicom_studies(patient_id);
CREATE TABLE IF NOT EXISTS dicom_series (
  series_uid TEXT PRIMARY KEY,
  study_uid TEXT NOT NULL,
  modality TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  series_number INTEGER
);
CREATE INDEX IF NOT EXISTS dicom_series_by_study ON dicom_series(study_uid);
CREATE TABLE IF NOT EXISTS dicom_instances (
  path TEXT PRIMARY KEY,
  sop_uid TEXT NOT NULL DEFAULT '',
  series_uid TEXT NOT NULL,
  instance_number INTEGER,
  rows INTEGER NOT NULL DEFAULT 0,
  columns INTEGER NOT NULL DEFAULT 0,
  frames INTEGER NOT NULL DEFAULT 0,
  frame_time_ms REAL,
  window_center REAL,
  window_width REAL,
  photometric TEXT NOT NULL DEFAULT '',
  transfer_syntax TEXT NOT NULL DEFAULT '',
  mtime_ns INTEGER NOT NULL,
  size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dicom_instances_by_series ON dicom_instances(series_uid);
CREATE TABLE IF NOT EXISTS dicom_unreadable (
  path TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  mtime_ns INTEGER NOT NULL,
  size INTEGER NOT NULL
);
)sql";

// Batches of this many files per transaction: a cancelled or crashed scan keeps what it
// did, and a GUI reader never waits long for the writer.
constexpr int kBatch = 200;

class Statement {
public:
    Statement(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
            throw DicomIndexError(std::string("DICOM index: cannot prepare \"") + sql + "\": " + sqlite3_errmsg(db));
        db_ = db;
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    Statement& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(stmt_, i, v);
        return *this;
    }
    Statement& bind(int i, const std::string& v) {
        sqlite3_bind_text(stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    template <typename T>
    Statement& bind(int i, const std::optional<T>& v) {
        if (!v) sqlite3_bind_null(stmt_, i);
        else if constexpr (std::is_floating_point_v<T>) sqlite3_bind_double(stmt_, i, *v);
        else sqlite3_bind_int64(stmt_, i, std::int64_t(*v));
        return *this;
    }
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc != SQLITE_DONE)
            throw DicomIndexError(std::string("DICOM index: statement failed: ") + sqlite3_errmsg(db_));
        return false;
    }
    void run() {
        step();
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    std::int64_t integer(int c) const { return sqlite3_column_int64(stmt_, c); }
    std::optional<long> optInt(int c) const {
        if (sqlite3_column_type(stmt_, c) == SQLITE_NULL) return std::nullopt;
        return long(sqlite3_column_int64(stmt_, c));
    }
    std::optional<double> optReal(int c) const {
        if (sqlite3_column_type(stmt_, c) == SQLITE_NULL) return std::nullopt;
        return sqlite3_column_double(stmt_, c);
    }
    std::string text(int c) const {
        const auto* p = sqlite3_column_text(stmt_, c);
        return p ? std::string(reinterpret_cast<const char*>(p), std::size_t(sqlite3_column_bytes(stmt_, c)))
                 : std::string();
    }

private:
    sqlite3* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
};

std::string trimmed(std::string out) {
    while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
    while (!out.empty() && out.front() == ' ') out.erase(out.begin());
    return out;
}

std::string getString(DcmItem* ds, const DcmTagKey& tag) {
    // Some writers store text elements as UN (unknown VR); pydicom reinterprets them with the
    // dictionary's VR, and so do we: their bytes are the text.
    DcmElement* e = nullptr;
    if (ds->findAndGetElement(tag, e).good() && e && e->getVR() == EVR_UN) {
        Uint8* bytes = nullptr;
        if (e->getUint8Array(bytes).good() && bytes) {
            std::string text(reinterpret_cast<const char*>(bytes), e->getLength());
            const auto backslash = text.find('\\');
            return trimmed(backslash == std::string::npos ? text : text.substr(0, backslash));
        }
        return {};
    }
    OFString s;
    if (ds->findAndGetOFString(tag, s).good()) {
        std::string out = s.c_str();
        while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
        while (!out.empty() && out.front() == ' ') out.erase(out.begin());
        return out;
    }
    return {};
}

std::optional<double> getDouble(DcmItem* ds, const DcmTagKey& tag) {
    Float64 v = 0;
    if (ds->findAndGetFloat64(tag, v, 0).good()) return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
    const std::string text = getString(ds, tag);  // e.g. a DS stored as UN
    if (text.empty()) return std::nullopt;
    try {
        std::size_t used = 0;
        const double d = std::stod(text, &used);
        return used == text.size() && std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<long> getLong(DcmItem* ds, const DcmTagKey& tag) {
    // IS values (InstanceNumber, SeriesNumber, NumberOfFrames) come as text; US as numbers.
    Uint16 u = 0;
    if (ds->findAndGetUint16(tag, u).good()) return long(u);
    Sint32 s = 0;
    if (ds->findAndGetSint32(tag, s).good()) return long(s);
    const std::string text = getString(ds, tag);
    if (text.empty()) return std::nullopt;
    try {
        std::size_t used = 0;
        const long v = std::stol(text, &used);
        return used == text.size() ? std::optional<long>(v) : std::nullopt;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool hasDicomExtension(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".dcm" || ext == ".dicom" || ext == ".dic" || ext == ".ima";
}

bool hasDicmMagic(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    char head[132];
    in.read(head, sizeof head);
    return in.gcount() == 132 && std::string(head + 128, 4) == "DICM";
}

std::int64_t mtimeNs(const fs::path& p, std::error_code& ec) {
    const auto t = fs::last_write_time(p, ec);
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// A DICOMDIR is a directory of the media, not an instance: reported as skipped.
class NotAnInstance : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Header {
    DicomInstanceRecord instance;
    std::string patientId, patientName;
    DicomStudyRecord study;
    DicomSeriesRecord series;
};

Header readHeader(const fs::path& file) {
    DcmFileFormat ff;
    const auto loaded = detail::loadDicomFile(file, ff, true, file.string());
    DcmDataset* ds = ff.getDataset();
    if (getString(ff.getMetaInfo(), DCM_MediaStorageSOPClassUID) == UID_MediaStorageDirectoryStorage)
        throw NotAnInstance("DICOMDIR");
    Header h;
    auto& in = h.instance;
    in.path = file;
    in.sopInstanceUid = getString(ds, DCM_SOPInstanceUID);
    h.study.studyUid = getString(ds, DCM_StudyInstanceUID);
    h.series.seriesUid = getString(ds, DCM_SeriesInstanceUID);
    if (h.study.studyUid.empty()) throw ReadError(file, "no StudyInstanceUID (0020,000D)");
    if (h.series.seriesUid.empty()) throw ReadError(file, "no SeriesInstanceUID (0020,000E)");
    in.seriesUid = h.series.seriesUid;
    h.patientId = getString(ds, DCM_PatientID);
    h.patientName = getString(ds, DCM_PatientName);
    h.study.patientId = h.patientId;
    h.study.date = getString(ds, DCM_StudyDate);
    h.study.description = getString(ds, DCM_StudyDescription);
    h.series.studyUid = h.study.studyUid;
    h.series.modality = getString(ds, DCM_Modality);
    h.series.description = getString(ds, DCM_SeriesDescription);
    h.series.number = getLong(ds, DCM_SeriesNumber);
    in.number = getLong(ds, DCM_InstanceNumber);
    in.rows = int(getLong(ds, DCM_Rows).value_or(0));
    in.columns = int(getLong(ds, DCM_Columns).value_or(0));
    const bool image = in.rows > 0 && in.columns > 0;
    in.frames = image ? std::max(1L, getLong(ds, DCM_NumberOfFrames).value_or(1)) : 0;
    if (auto ft = getDouble(ds, DCM_FrameTime); ft && *ft > 0) in.frameTimeMs = ft;
    else if (auto rate = getDouble(ds, DCM_CineRate); rate && *rate > 0) in.frameTimeMs = 1000.0 / *rate;
    else if (auto r2 = getDouble(ds, DCM_RecommendedDisplayFrameRate); r2 && *r2 > 0) in.frameTimeMs = 1000.0 / *r2;
    in.windowCenter = getDouble(ds, DCM_WindowCenter);
    in.windowWidth = getDouble(ds, DCM_WindowWidth);
    if (!in.windowCenter || !in.windowWidth || *in.windowWidth <= 0) in.windowCenter = in.windowWidth = std::nullopt;
    in.photometric = getString(ds, DCM_PhotometricInterpretation);
    in.transferSyntax = DcmXfer(loaded.transferSyntax).getXferID();
    return h;
}

DicomInstanceRecord readInstanceRow(const Statement& s) {
    DicomInstanceRecord r;
    r.path = s.text(0);
    r.sopInstanceUid = s.text(1);
    r.seriesUid = s.text(2);
    r.number = s.optInt(3);
    r.rows = int(s.integer(4));
    r.columns = int(s.integer(5));
    r.frames = long(s.integer(6));
    r.frameTimeMs = s.optReal(7);
    r.windowCenter = s.optReal(8);
    r.windowWidth = s.optReal(9);
    r.photometric = s.text(10);
    r.transferSyntax = s.text(11);
    r.mtimeNs = s.integer(12);
    r.size = s.integer(13);
    return r;
}

constexpr const char* kInstanceColumns =
    "SELECT path, sop_uid, series_uid, instance_number, rows, columns, frames, frame_time_ms, window_center, "
    "window_width, photometric, transfer_syntax, mtime_ns, size FROM dicom_instances ";

// Prefix test without LIKE (paths may hold % and _).
constexpr const char* kUnder = "substr(path, 1, length(?1)) = ?1";

struct OnDisk {
    fs::path path;
    std::int64_t mtime, size;
};

// Regular files under root, by path; databases (the workspace's own lumen.db among them) are
// never opened: see database_files.h.
std::vector<OnDisk> listFiles(const fs::path& root) {
    std::vector<OnDisk> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
        std::error_code fe;
        if (!it->is_regular_file(fe)) continue;
        if (util::isDatabaseFile(it->path())) continue;
        const auto size = std::int64_t(it->file_size(fe));
        if (fe) continue;
        const auto mtime = mtimeNs(it->path(), fe);
        if (fe) continue;
        files.push_back({it->path(), mtime, size});
    }
    std::sort(files.begin(), files.end(), [](const OnDisk& a, const OnDisk& b) { return a.path < b.path; });
    return files;
}

// What the index knows under a folder (given with a trailing separator): path -> (mtime, size).
std::map<std::string, std::pair<std::int64_t, std::int64_t>> knownUnder(sqlite3* db, const std::string& prefix) {
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> known;
    for (const char* table : {"dicom_instances", "dicom_unreadable"}) {
        Statement s(db, (std::string("SELECT path, mtime_ns, size FROM ") + table + " WHERE " + kUnder).c_str());
        s.bind(1, prefix);
        while (s.step()) known[s.text(0)] = {s.integer(1), s.integer(2)};
    }
    return known;
}

// The statements a scan writes with, prepared once per scan.
class ScanWriter {
public:
    explicit ScanWriter(sqlite3* db)
        : upsertPatient_(db,
                         "INSERT INTO dicom_patients (patient_id, patient_name) VALUES (?, ?) "
                         "ON CONFLICT(patient_id) DO UPDATE SET patient_name = excluded.patient_name "
                         "WHERE excluded.patient_name <> ''"),
          upsertStudy_(db,
                       "INSERT OR REPLACE INTO dicom_studies (study_uid, patient_id, study_date, description) VALUES "
                       "(?, ?, ?, ?)"),
          upsertSeries_(
              db,
              "INSERT OR REPLACE INTO dicom_series (series_uid, study_uid, modality, description, series_number) "
              "VALUES (?, ?, ?, ?, ?)"),
          upsertInstance_(db,
                          "INSERT OR REPLACE INTO dicom_instances (path, sop_uid, series_uid, instance_number, rows, "
                          "columns, frames, frame_time_ms, window_center, window_width, photometric, transfer_syntax, "
                          "mtime_ns, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
          upsertUnreadable_(
              db, "INSERT OR REPLACE INTO dicom_unreadable (path, reason, mtime_ns, size) VALUES (?, ?, ?, ?)"),
          dropInstance_(db, "DELETE FROM dicom_instances WHERE path = ?"),
          dropUnreadable_(db, "DELETE FROM dicom_unreadable WHERE path = ?") {}

    void drop(const std::string& path) {
        dropInstance_.bind(1, path).run();
        dropUnreadable_.bind(1, path).run();
    }

    // Reads one new or changed file's header into the index (or its reason into the
    // unreadable list) and counts it.
    void record(const OnDisk& f, bool wasKnown, DicomScanResult& result) {
        const std::string path = f.path.string();
        if (!hasDicmMagic(f.path) && !hasDicomExtension(f.path)) {
            ++result.skipped;
            return;
        }
        try {
            const Header h = readHeader(f.path);
            upsertPatient_.bind(1, h.patientId).bind(2, h.patientName).run();
            upsertStudy_.bind(1, h.study.studyUid)
                .bind(2, h.study.patientId)
                .bind(3, h.study.date)
                .bind(4, h.study.description)
                .run();
            upsertSeries_.bind(1, h.series.seriesUid)
                .bind(2, h.series.studyUid)
                .bind(3, h.series.modality)
                .bind(4, h.series.description)
                .bind(5, h.series.number)
                .run();
            const auto& in = h.instance;
            upsertInstance_.bind(1, path)
                .bind(2, in.sopInstanceUid)
                .bind(3, in.seriesUid)
                .bind(4, in.number)
                .bind(5, std::int64_t(in.rows))
                .bind(6, std::int64_t(in.columns))
                .bind(7, std::int64_t(in.frames))
                .bind(8, in.frameTimeMs)
                .bind(9, in.windowCenter)
                .bind(10, in.windowWidth)
                .bind(11, in.photometric)
                .bind(12, in.transferSyntax)
                .bind(13, f.mtime)
                .bind(14, f.size)
                .run();
            ++(wasKnown ? result.updated : result.added);
        } catch (const NotAnInstance&) {
            ++result.skipped;
        } catch (const ReadError& e) {
            unreadable(f, e.reason(), result);
        } catch (const std::exception& e) {  // e.g. std::bad_alloc from DCMTK on a hostile file
            unreadable(f, std::string("cannot read: ") + e.what(), result);
        }
    }

private:
    void unreadable(const OnDisk& f, const std::string& reason, DicomScanResult& result) {
        upsertUnreadable_.bind(1, f.path.string()).bind(2, reason).bind(3, f.mtime).bind(4, f.size).run();
        ++result.unreadable;
    }

    Statement upsertPatient_, upsertStudy_, upsertSeries_, upsertInstance_, upsertUnreadable_, dropInstance_,
        dropUnreadable_;
};

}  // namespace

DicomInstanceRecord readDicomIndexHeader(const fs::path& file, std::string* patientId, std::string* patientName,
                                         DicomStudyRecord* study, DicomSeriesRecord* series) {
    Header h;
    try {
        h = readHeader(file);
    } catch (const NotAnInstance& e) {
        throw ReadError(file, std::string("a ") + e.what() + ", not an instance");
    }
    if (patientId) *patientId = h.patientId;
    if (patientName) *patientName = h.patientName;
    if (study) *study = h.study;
    if (series) *series = h.series;
    return h.instance;
}

DicomIndex::DicomIndex(const fs::path& databaseFile) : file_(databaseFile) {
    const int rc =
        sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw DicomIndexError(file_.string() + ": cannot open the workspace database: " + message);
    }
    sqlite3_busy_timeout(db_, 10000);
    try {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
        exec("BEGIN IMMEDIATE");
        exec(kSchema);
        const int version = schemaVersion();
        if (version > kSchemaVersion) {
            exec("ROLLBACK");
            throw DicomIndexError(file_.string() + ": DICOM index schema version " + std::to_string(version) +
                                  " is newer than this Lumen understands (" + std::to_string(kSchemaVersion) + ")");
        }
        exec("INSERT OR REPLACE INTO dicom_meta (key, value) VALUES ('schema_version', '" +
             std::to_string(kSchemaVersion) + "')");
        exec("COMMIT");
    } catch (...) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw;
    }
}

DicomIndex::~DicomIndex() { sqlite3_close(db_); }

void DicomIndex::exec(const std::string& sql) const {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
        const std::string message = error ? error : "unknown error";
        sqlite3_free(error);
        throw DicomIndexError(file_.string() + ": " + message + " (in: " + sql.substr(0, 60) + ")");
    }
}

int DicomIndex::schemaVersion() const {
    Statement s(db_, "SELECT value FROM dicom_meta WHERE key = 'schema_version'");
    if (!s.step()) return 0;
    try {
        return std::stoi(s.text(0));
    } catch (const std::exception&) {
        return 0;
    }
}

// A scan in four steps: what is on disk, what the index knows, read what is new or changed
// (in transactions of kBatch files), then forget files that went away and empty series,
// studies and patients.
DicomScanResult DicomIndex::scan(const fs::path& folder, const DicomScanProgress& progress) {
    const auto start = std::chrono::steady_clock::now();
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) throw DicomIndexError(folder.string() + ": not a folder");
    fs::path root = fs::weakly_canonical(fs::absolute(folder), ec);
    if (ec) root = fs::absolute(folder);
    DicomScanResult result;
    result.root = root;
    auto report = [&](double f, const std::string& m) { return !progress || progress(f, m); };
    if (!report(0.0, "listing " + root.string())) {
        result.cancelled = true;
        return result;
    }
    const std::vector<OnDisk> files = listFiles(root);
    result.seen = int(files.size());

    std::lock_guard lock(mutex_);
    const auto known = knownUnder(db_, (root / "").string());
    ScanWriter writer(db_);
    std::set<std::string> present;
    bool inTransaction = false;
    auto begin = [&] {
        if (!inTransaction) exec("BEGIN IMMEDIATE");
        inTransaction = true;
    };
    auto commit = [&] {
        if (inTransaction) exec("COMMIT");
        inTransaction = false;
    };
    try {
        int sinceCommit = 0;
        for (std::size_t i = 0; i < files.size(); ++i) {
            const auto& f = files[i];
            const std::string path = f.path.string();
            present.insert(path);
            if (i % 16 == 0 && !report(0.02 + 0.96 * double(i) / double(files.size()),
                                       std::to_string(i) + "/" + std::to_string(files.size()) + " files")) {
                result.cancelled = true;
                break;
            }
            const auto k = known.find(path);
            if (k != known.end() && k->second.first == f.mtime && k->second.second == f.size) {
                ++result.unchanged;
                continue;
            }
            begin();
            writer.drop(path);
            writer.record(f, k != known.end(), result);
            if (++sinceCommit >= kBatch) {
                commit();
                sinceCommit = 0;
            }
        }
        // Files that went away (only after a complete pass: a cancelled scan saw too little).
        if (!result.cancelled) {
            begin();
            for (const auto& [path, stamp] : known)
                if (!present.count(path)) {
                    writer.drop(path);
                    ++result.removed;
                }
        }
        begin();
        exec("DELETE FROM dicom_series WHERE series_uid NOT IN (SELECT series_uid FROM dicom_instances)");
        exec("DELETE FROM dicom_studies WHERE study_uid NOT IN (SELECT study_uid FROM dicom_series)");
        exec("DELETE FROM dicom_patients WHERE patient_id NOT IN (SELECT patient_id FROM dicom_studies)");
        commit();
    } catch (...) {
        if (inTransaction) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report(1.0, result.cancelled ? "cancelled" : "indexed " + std::to_string(result.added + result.updated) + " files");
    return result;
}

void DicomIndex::forget(const fs::path& folder) {
    std::error_code ec;
    fs::path root = fs::weakly_canonical(fs::absolute(folder), ec);
    if (ec) root = fs::absolute(folder);
    const std::string prefix = (root / "").string();
    std::lock_guard lock(mutex_);
    exec("BEGIN IMMEDIATE");
    try {
        for (const char* table : {"dicom_instances", "dicom_unreadable"}) {
            Statement s(db_, (std::string("DELETE FROM ") + table + " WHERE " + kUnder).c_str());
            s.bind(1, prefix).run();
        }
        exec("DELETE FROM dicom_series WHERE series_uid NOT IN (SELECT series_uid FROM dicom_instances)");
        exec("DELETE FROM dicom_studies WHERE study_uid NOT IN (SELECT study_uid FROM dicom_series)");
        exec("DELETE FROM dicom_patients WHERE patient_id NOT IN (SELECT patient_id FROM dicom_studies)");
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

std::vector<DicomPatientRecord> DicomIndex::patients() const {
    std::lock_guard lock(mutex_);
    Statement s(
        db_,
        "SELECT p.patient_id, p.patient_name, (SELECT count(*) FROM dicom_studies s WHERE s.patient_id = p.patient_id) "
        "FROM dicom_patients p ORDER BY p.patient_id");
    std::vector<DicomPatientRecord> out;
    while (s.step()) out.push_back({s.text(0), s.text(1), int(s.integer(2))});
    return out;
}

std::vector<DicomStudyRecord> DicomIndex::studies(const std::string& patientId) const {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "SELECT st.study_uid, st.patient_id, st.study_date, st.description, "
                "(SELECT count(*) FROM dicom_series se WHERE se.study_uid = st.study_uid) "
                "FROM dicom_studies st WHERE st.patient_id = ? ORDER BY st.study_date, st.study_uid");
    s.bind(1, patientId);
    std::vector<DicomStudyRecord> out;
    while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), int(s.integer(4))});
    return out;
}

std::vector<DicomSeriesRecord> DicomIndex::series(const std::string& studyUid) const {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "SELECT se.series_uid, se.study_uid, se.modality, se.description, se.series_number, "
                "count(i.path), coalesce(sum(i.frames), 0) FROM dicom_series se "
                "LEFT JOIN dicom_instances i ON i.series_uid = se.series_uid WHERE se.study_uid = ? "
                "GROUP BY se.series_uid ORDER BY se.series_number IS NULL, se.series_number, se.series_uid");
    s.bind(1, studyUid);
    std::vector<DicomSeriesRecord> out;
    while (s.step()) {
        DicomSeriesRecord r;
        r.seriesUid = s.text(0);
        r.studyUid = s.text(1);
        r.modality = s.text(2);
        r.description = s.text(3);
        r.number = s.optInt(4);
        r.instances = int(s.integer(5));
        r.frames = long(s.integer(6));
        out.push_back(r);
    }
    return out;
}

std::vector<DicomInstanceRecord> DicomIndex::instances(const std::string& seriesUid) const {
    std::lock_guard lock(mutex_);
    Statement s(db_, (std::string(kInstanceColumns) +
                      "WHERE series_uid = ? ORDER BY instance_number IS NULL, instance_number, path")
                         .c_str());
    s.bind(1, seriesUid);
    std::vector<DicomInstanceRecord> out;
    while (s.step()) out.push_back(readInstanceRow(s));
    return out;
}

std::optional<DicomInstanceRecord> DicomIndex::instance(const fs::path& file) const {
    std::lock_guard lock(mutex_);
    Statement s(db_, (std::string(kInstanceColumns) + "WHERE path = ?").c_str());
    s.bind(1, file.string());
    if (!s.step()) return std::nullopt;
    return readInstanceRow(s);
}

std::vector<DicomUnreadableRecord> DicomIndex::unreadable() const {
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT path, reason FROM dicom_unreadable ORDER BY path");
    std::vector<DicomUnreadableRecord> out;
    while (s.step()) out.push_back({s.text(0), s.text(1)});
    return out;
}

int DicomIndex::instanceCount() const {
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT count(*) FROM dicom_instances");
    return s.step() ? int(s.integer(0)) : 0;
}

}  // namespace lumen::io
