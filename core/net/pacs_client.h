#pragma once
// A DICOM network client for a PACS (DCMTK dcmnet): C-ECHO, study- and series-level C-FIND
// (Study Root) and C-GET of a study or one series into a folder. Every call opens its own
// association and closes it before returning, so calls are independent and thread-safe.
// Errors are PacsError exceptions naming the node (AE@host:port), the operation and the
// reason. See docs/pacs.md.

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::net {

/// A remote DICOM application entity and how to reach it.
struct PacsNode {
    std::string aeTitle;  ///< called AE title (the PACS), 1–16 characters
    std::string host;
    int port = 104;
    std::string callingAeTitle = "LUMEN";  ///< our AE title, as the PACS knows it
    int timeoutSeconds = 30;               ///< connect, association and per-message timeout

    /// "AE@host:port", as errors and the CLI write it.
    std::string address() const;
};

/// Parses "AE@host:port" (port optional, default 104); throws std::invalid_argument naming
/// the text and what is wrong.
PacsNode parseNodeAddress(const std::string& text);

/// Problems with a node's fields ("port: must be in 1..65535"), empty when valid.
std::vector<std::string> validateNode(const PacsNode& node);

/// A failed network operation. what() = "<operation> AE@host:port: <reason>".
class PacsError : public std::runtime_error {
public:
    PacsError(const PacsNode& node, std::string operation, std::string reason);
    const std::string& node() const { return node_; }
    const std::string& operation() const { return operation_; }
    const std::string& reason() const { return reason_; }

private:
    std::string node_, operation_, reason_;
};

/// Returns true to go on, false to stop the operation as soon as possible (the association
/// is aborted and jobs::Cancelled is thrown).
using KeepGoing = std::function<bool()>;

struct EchoResult {
    double milliseconds = 0;  ///< association + C-ECHO + release
};

/// C-ECHO (Verification). Throws PacsError when the node cannot be reached or refuses.
EchoResult echo(const PacsNode& node);

/// Study-level C-FIND keys; empty fields are not matched. Names may use DICOM wildcards
/// (`*`, `?`); dates are YYYYMMDD, either end of the range may be empty (open).
struct StudyQuery {
    std::string patientId;
    std::string patientName;
    std::string dateFrom, dateTo;
    std::string modality;  ///< matched against ModalitiesInStudy
    std::string accessionNumber;
    std::string studyInstanceUid;
};

struct StudyRecord {
    std::string studyInstanceUid;
    std::string patientId, patientName, patientBirthDate;
    std::string studyDate, studyTime, studyDescription, accessionNumber, studyId;
    std::string modalities;  ///< ModalitiesInStudy, values joined with '\'
    int seriesCount = -1;    ///< NumberOfStudyRelatedSeries, -1 when not returned
    int instanceCount = -1;  ///< NumberOfStudyRelatedInstances, -1 when not returned
};

struct SeriesRecord {
    std::string seriesInstanceUid, studyInstanceUid;
    std::string modality, seriesNumber, seriesDescription, seriesDate;
    int instanceCount = -1;  ///< NumberOfSeriesRelatedInstances, -1 when not returned
};

/// Parses "A-B", "A-", "-B" or "A" (YYYYMMDD each) into the query's date range; throws
/// std::invalid_argument naming the text.
void setDateRange(StudyQuery& query, const std::string& range);

std::vector<StudyRecord> findStudies(const PacsNode& node, const StudyQuery& query, const KeepGoing& keepGoing = {});
std::vector<SeriesRecord> findSeries(const PacsNode& node, const std::string& studyInstanceUid,
                                     const KeepGoing& keepGoing = {});

struct RetrieveRequest {
    std::string studyInstanceUid;
    std::string seriesInstanceUid;  ///< empty: the whole study
};

struct RetrieveProgress {
    int received = 0;    ///< instances stored so far
    int failed = 0;      ///< sub-operations the PACS reported failed
    int remaining = -1;  ///< sub-operations left, -1 until the PACS says
    std::filesystem::path lastFile;
    /// 0..1 when the total is known, else -1.
    double fraction() const;
};

/// Called after each stored instance and each pending C-GET response; false cancels.
using RetrieveCallback = std::function<bool(const RetrieveProgress&)>;

struct RetrieveResult {
    int received = 0;
    int failed = 0;  ///< sub-operations that failed on the PACS side
    int warnings = 0;
    std::vector<std::filesystem::path> files;  ///< every file written, in arrival order
};

/// C-GET of a study (or one series) into `destination`/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm.
/// Each file is written under a temporary name and renamed, so a file that exists is
/// complete; files that already exist are replaced. UIDs are checked before they become
/// file names. Cancelling (callback returns false) aborts the association and throws
/// jobs::Cancelled; files already written stay. A final status other than success or warning
/// throws PacsError with the status.
RetrieveResult retrieve(const PacsNode& node, const RetrieveRequest& request, const std::filesystem::path& destination,
                        const RetrieveCallback& callback = {});

/// The same with C-MOVE: Lumen listens on `listenPort` as node.callingAeTitle (a storage
/// SCP on its own thread, for the duration of the call) and asks the PACS to move the
/// instances to that AE. The PACS must know our AE title with this host and port (its
/// modalities list). Same files, callback (called from the listener thread for stored
/// instances) and errors as retrieve(); port in use → PacsError.
RetrieveResult retrieveByMove(const PacsNode& node, const RetrieveRequest& request, int listenPort,
                              const std::filesystem::path& destination, const RetrieveCallback& callback = {});

/// True for a syntactically valid DICOM UID (digits and dots, 1–64 characters).
bool isValidUid(const std::string& uid);

}  // namespace lumen::net
