#include "net/pacs_client.h"

#include "jobs/job.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scp.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

namespace lumen::net {
namespace {

// DCMTK (since 3.6.2) leaves Nagle's algorithm on unless the environment says TCP_NODELAY=1,
// and each DIMSE request/response pair then waits out the peer's delayed ACK: Debian's
// storescu -> storescp moved 48 CT slices over loopback in 4.3 s, 0.07 s with TCP_NODELAY=1
// (AMD EPYC). Orthanc's own builds switch Nagle off for the same reason. Set when the
// library loads (one thread, before main), never over a value the user chose; child processes
// (a DCMTK tool, a test's Orthanc) inherit it. docs/pacs.md.
[[maybe_unused]] const bool kNagleOffUnlessSet = [] { return ::setenv("TCP_NODELAY", "1", 0) == 0; }();

void quietDcmtkLogging() {
    // DcmSCU logs every failure to stderr itself; the reasons travel in our exceptions.
    static std::once_flag once;
    std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
}

std::string hex4(unsigned status) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "0x%04X", status & 0xFFFFu);
    return buffer;
}

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

bool validDate(const std::string& d) {
    if (d.size() != 8 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    const int month = std::stoi(d.substr(4, 2)), day = std::stoi(d.substr(6, 2));
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

bool validAeTitle(const std::string& ae) {
    if (ae.empty() || ae.size() > 16 || trim(ae).empty()) return false;
    return std::all_of(ae.begin(), ae.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F && c != '\\';
    });
}

// Asks the node again, with the bare association layer, why it rejected us: DcmSCU only
// logs the reject reason, and "called AE not recognized" is the answer a user needs.
std::string rejectionReason(const PacsNode& node) {
    T_ASC_Network* network = nullptr;
    if (ASC_initializeNetwork(NET_REQUESTOR, 0, node.timeoutSeconds, &network).bad()) return "association rejected";
    T_ASC_Parameters* params = nullptr;
    ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU);
    ASC_setAPTitles(params, node.callingAeTitle.c_str(), node.aeTitle.c_str(), nullptr);
    const std::string peer = node.host + ":" + std::to_string(node.port);
    ASC_setPresentationAddresses(params, "localhost", peer.c_str());
    const char* syntaxes[] = {UID_LittleEndianImplicitTransferSyntax};
    ASC_addPresentationContext(params, 1, UID_VerificationSOPClass, syntaxes, 1);
    T_ASC_Association* assoc = nullptr;
    const OFCondition cond = ASC_requestAssociation(network, params, &assoc);
    std::string reason = "association rejected";
    if (cond == DUL_ASSOCIATIONREJECTED) {
        T_ASC_RejectParameters rej;
        ASC_getRejectParameters(params, &rej);
        const std::string kind = rej.result == ASC_RESULT_REJECTEDTRANSIENT ? "transient" : "permanent";
        switch (rej.reason) {
        case ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED:
            reason = "association rejected: called AE title \"" + node.aeTitle + "\" not recognized";
            break;
        case ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED:
            reason = "association rejected: calling AE title \"" + node.callingAeTitle +
                     "\" not recognized (add it to the PACS's known modalities)";
            break;
        case ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED:
            reason = "association rejected: application context not supported";
            break;
        case ASC_REASON_SP_PRES_TEMPORARYCONGESTION: reason = "association rejected: temporary congestion"; break;
        case ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED: reason = "association rejected: local limit exceeded"; break;
        default: reason = "association rejected (no reason given)";
        }
        reason += " [" + kind + "]";
    } else if (cond.good()) {
        ASC_releaseAssociation(assoc);
        reason = "association rejected (accepted on retry: the PACS may limit connections)";
    }
    if (assoc) ASC_destroyAssociation(&assoc);
    else ASC_destroyAssociationParameters(&params);
    ASC_dropNetwork(&network);
    return reason;
}

std::string describeConnectFailure(const PacsNode& node, const OFCondition& cond) {
    if (cond == DUL_ASSOCIATIONREJECTED) return rejectionReason(node);
    OFString dump;
    const std::string text = trim(DimseCondition::dump(dump, cond).c_str());
    const std::string l = lower(text);
    if (l.find("connection refused") != std::string::npos)
        return "connection refused (nothing listens on " + node.host + ":" + std::to_string(node.port) + ")";
    if (l.find("timed out") != std::string::npos || l.find("timeout") != std::string::npos)
        return "timed out after " + std::to_string(node.timeoutSeconds) + " s (" + text + ")";
    if (l.find("unknown host") != std::string::npos || l.find("not known") != std::string::npos)
        return "cannot resolve host \"" + node.host + "\" (" + text + ")";
    if (l.find("unrecognized pdu type") != std::string::npos)
        return "the program on " + node.host + ":" + std::to_string(node.port) +
               " does not speak DICOM (a web server? check the port) (" + text + ")";
    return text;
}

std::string conditionText(const OFCondition& cond) {
    OFString dump;
    const std::string text = trim(DimseCondition::dump(dump, cond).c_str());
    if (cond == DUL_PEERABORTEDASSOCIATION)
        return "the node aborted the association (" + text +
               "); a PACS does that when it does not know our calling AE title or does not allow "
               "us this operation: add our AE to its modalities";
    return text;
}

std::string getString(DcmItem* item, const DcmTagKey& tag) {
    OFString value;
    if (item && item->findAndGetOFStringArray(tag, value).good()) return trim(value.c_str());
    return {};
}

int getInt(DcmItem* item, const DcmTagKey& tag) {
    const std::string s = getString(item, tag);
    if (s.empty()) return -1;
    try {
        return std::stoi(s);
    } catch (const std::exception&) {
        return -1;
    }
}

OFList<OFString> uncompressedSyntaxes() {
    OFList<OFString> ts;
    ts.push_back(UID_LittleEndianExplicitTransferSyntax);
    ts.push_back(UID_LittleEndianImplicitTransferSyntax);
    return ts;
}

// Where received instances go and what was received, shared by the C-GET session and the
// C-MOVE storage receiver (which runs on its own thread: hence the mutex).
struct StoreState {
    std::filesystem::path destination;
    const RetrieveCallback* callback = nullptr;
    RetrieveProgress progress;
    RetrieveResult result;
    std::string writeError;
    bool cancelled = false;
    std::mutex mutex;

    bool keepGoing() {  // with mutex held
        if (!cancelled && callback && *callback && !(*callback)(progress)) cancelled = true;
        return !cancelled && writeError.empty();
    }
};

// Stores one received instance as destination/<study>/<series>/<sop>.dcm (temporary name,
// then rename); takes ownership of `incoming`. Returns the C-STORE status to answer with;
// `goOn` is false after a write error or a cancel.
Uint16 storeInstance(StoreState& state, DcmDataset* incoming, bool& goOn) {
    std::unique_ptr<DcmDataset> dataset(incoming);
    const std::lock_guard<std::mutex> lock(state.mutex);
    goOn = true;
    if (state.cancelled || !state.writeError.empty()) {
        goOn = false;
        return STATUS_STORE_Refused_OutOfResources;
    }
    const std::string study = getString(dataset.get(), DCM_StudyInstanceUID);
    const std::string series = getString(dataset.get(), DCM_SeriesInstanceUID);
    const std::string sop = getString(dataset.get(), DCM_SOPInstanceUID);
    if (!isValidUid(study) || !isValidUid(series) || !isValidUid(sop)) {
        // Never let a remote UID become a path it should not be (e.g. "../x").
        ++state.result.failed;
        return STATUS_STORE_Error_CannotUnderstand;
    }
    const std::filesystem::path dir = state.destination / study / series;
    const std::filesystem::path target = dir / (sop + ".dcm");
    const std::filesystem::path temp = dir / ("." + sop + ".part");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        state.writeError = "cannot create " + dir.string() + ": " + ec.message();
    } else {
        DcmFileFormat file(dataset.release(), OFFalse);  // takes ownership
        const OFCondition saved = file.saveFile(temp.c_str(), EXS_Unknown);
        if (saved.bad()) {
            state.writeError = "cannot write " + temp.string() + ": " + saved.text();
        } else {
            std::filesystem::rename(temp, target, ec);
            if (ec)
                state.writeError = "cannot rename " + temp.string() + " to " + target.string() + ": " + ec.message();
        }
        if (!state.writeError.empty()) std::filesystem::remove(temp, ec);
    }
    if (!state.writeError.empty()) {
        goOn = false;
        return STATUS_STORE_Refused_OutOfResources;
    }
    ++state.result.received;
    state.result.files.push_back(target);
    state.progress.received = state.result.received;
    state.progress.lastFile = target;
    if (state.progress.remaining > 0) --state.progress.remaining;
    goOn = state.keepGoing();
    return STATUS_Success;
}

// One association to one node. The overrides implement cancellation (checked on each
// response and each received instance) and C-GET storage into the destination folder.
class Session : public DcmSCU {
public:
    Session(const PacsNode& node, std::string operation) : node_(node), operation_(std::move(operation)) {
        quietDcmtkLogging();
        const auto problems = validateNode(node);
        if (!problems.empty()) throw PacsError(node, operation_, problems.front());
        setAETitle(node.callingAeTitle.c_str());
        setPeerAETitle(node.aeTitle.c_str());
        setPeerHostName(node.host.c_str());
        setPeerPort(Uint16(node.port));
        setMaxReceivePDULength(ASC_DEFAULTMAXPDU);
        setConnectionTimeout(node.timeoutSeconds);
        setACSETimeout(Uint32(node.timeoutSeconds));
        setDIMSETimeout(Uint32(node.timeoutSeconds));
        setDIMSEBlockingMode(DIMSE_NONBLOCKING);
        setVerbosePCMode(OFFalse);
    }
    ~Session() override {
        if (isConnected()) closeAssociation(DCMSCU_ABORT_ASSOCIATION);
    }

    [[noreturn]] void fail(const std::string& reason) {
        if (isConnected()) closeAssociation(DCMSCU_ABORT_ASSOCIATION);
        throw PacsError(node_, operation_, reason);
    }

    void connect() {
        OFCondition cond = initNetwork();
        if (cond.bad()) fail("cannot initialise the network: " + conditionText(cond));
        cond = negotiateAssociation();
        if (cond.bad()) fail(describeConnectFailure(node_, cond));
    }

    T_ASC_PresentationContextID contextFor(const char* sopClass) {
        const T_ASC_PresentationContextID id = findPresentationContextID(sopClass, "");
        if (id == 0)
            fail(std::string("the node accepted no presentation context for ") + dcmFindNameOfUID(sopClass, sopClass));
        return id;
    }

    void release() {
        if (isConnected()) releaseAssociation();
    }

    [[noreturn]] void cancel() {
        // Aborting the association stops the PACS at once; a C-CANCEL would need us to
        // keep reading until it answers.
        if (isConnected()) closeAssociation(DCMSCU_ABORT_ASSOCIATION);
        throw jobs::Cancelled();
    }

    KeepGoing keepGoing;
    bool cancelled = false;

    // A pending or final C-GET/C-MOVE response: counters into the progress; false to stop.
    bool onRetrieveResponse(RetrieveResponse* response) {
        if (!store) return true;
        const std::lock_guard<std::mutex> lock(store->mutex);
        if (response) {
            store->progress.remaining = response->m_numberOfRemainingSubops;
            store->progress.failed = response->m_numberOfFailedSubops;
        }
        if (response && !DICOM_PENDING_STATUS(response->m_status)) return true;
        return store->keepGoing();
    }

    // C-GET / C-MOVE state
    StoreState* store = nullptr;

protected:
    OFCondition handleFINDResponse(const T_ASC_PresentationContextID presID, QRResponse* response,
                                   OFBool& waitForNextResponse) override {
        const OFCondition cond = DcmSCU::handleFINDResponse(presID, response, waitForNextResponse);
        if (waitForNextResponse && keepGoing && !keepGoing()) {
            cancelled = true;
            waitForNextResponse = OFFalse;
        }
        return cond;
    }

    OFCondition handleCGETResponse(const T_ASC_PresentationContextID presID, RetrieveResponse* response,
                                   OFBool& continueSession) override {
        const OFCondition cond = DcmSCU::handleCGETResponse(presID, response, continueSession);
        if (!onRetrieveResponse(response)) continueSession = OFFalse;
        return cond;
    }

    OFCondition handleMOVEResponse(const T_ASC_PresentationContextID presID, RetrieveResponse* response,
                                   OFBool& waitForNextResponse) override {
        const OFCondition cond = DcmSCU::handleMOVEResponse(presID, response, waitForNextResponse);
        if (!onRetrieveResponse(response)) waitForNextResponse = OFFalse;
        return cond;
    }

    OFCondition handleSTORERequest(const T_ASC_PresentationContextID, DcmDataset* incoming, OFBool& continueSession,
                                   Uint16& status) override {
        if (!incoming) return DIMSE_NULLKEY;
        bool goOn = true;
        status = storeInstance(*store, incoming, goOn);
        if (!goOn) continueSession = OFFalse;
        return EC_Normal;
    }

private:
    PacsNode node_;
    std::string operation_;
};

template <typename Response>
void deleteAll(OFList<Response*>& responses) {
    for (auto* r : responses) delete r;
    responses.clear();
}

void putKey(DcmDataset& keys, const DcmTagKey& tag, const std::string& value = {}) {
    keys.putAndInsertOFStringArray(tag, value.c_str());
}

}  // namespace

std::string PacsNode::address() const { return aeTitle + "@" + host + ":" + std::to_string(port); }

PacsNode parseNodeAddress(const std::string& text) {
    const auto at = text.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= text.size())
        throw std::invalid_argument("\"" + text + "\" is not a node address: expected AE@host:port");
    PacsNode node;
    node.aeTitle = text.substr(0, at);
    std::string rest = text.substr(at + 1);
    const auto colon = rest.rfind(':');
    if (colon != std::string::npos) {
        const std::string port = rest.substr(colon + 1);
        rest = rest.substr(0, colon);
        std::size_t used = 0;
        long value = -1;
        try {
            value = std::stol(port, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (port.empty() || used != port.size() || value < 1 || value > 65535)
            throw std::invalid_argument("\"" + text + "\": port \"" + port + "\" is not a number in 1..65535");
        node.port = int(value);
    }
    node.host = rest;
    const auto problems = validateNode(node);
    if (!problems.empty()) throw std::invalid_argument("\"" + text + "\": " + problems.front());
    return node;
}

std::vector<std::string> validateNode(const PacsNode& node) {
    std::vector<std::string> problems;
    if (!validAeTitle(node.aeTitle))
        problems.push_back("ae_title \"" + node.aeTitle + "\" must be 1-16 printable characters, no backslash");
    if (!validAeTitle(node.callingAeTitle))
        problems.push_back("calling_ae_title \"" + node.callingAeTitle +
                           "\" must be 1-16 printable characters, no backslash");
    if (trim(node.host).empty() || node.host.find_first_of(" \t/@") != std::string::npos)
        problems.push_back("host \"" + node.host + "\" is not a host name or address");
    if (node.port < 1 || node.port > 65535)
        problems.push_back("port " + std::to_string(node.port) + " must be in 1..65535");
    if (node.timeoutSeconds < 1 || node.timeoutSeconds > 3600)
        problems.push_back("timeout_seconds " + std::to_string(node.timeoutSeconds) + " must be in 1..3600");
    return problems;
}

PacsError::PacsError(const PacsNode& node, std::string operation, std::string reason)
    : std::runtime_error(operation + " " + node.address() + ": " + reason),
      node_(node.address()),
      operation_(std::move(operation)),
      reason_(std::move(reason)) {}

bool isValidUid(const std::string& uid) {
    if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
    char previous = 0;
    for (char c : uid) {
        if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
        if (c == '.' && previous == '.') return false;
        previous = c;
    }
    return true;
}

double RetrieveProgress::fraction() const {
    if (remaining < 0) return -1;
    const int total = received + failed + remaining;
    return total > 0 ? double(received + failed) / total : 1.0;
}

void setDateRange(StudyQuery& query, const std::string& range) {
    const std::string r = trim(range);
    const auto dash = r.find('-');
    const std::string from = dash == std::string::npos ? r : r.substr(0, dash);
    const std::string to = dash == std::string::npos ? r : r.substr(dash + 1);
    if ((from.empty() && to.empty()) || (!from.empty() && !validDate(from)) || (!to.empty() && !validDate(to)))
        throw std::invalid_argument("date range \"" + range +
                                    "\": expected YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD");
    if (!from.empty() && !to.empty() && from > to)
        throw std::invalid_argument("date range \"" + range + "\": the start is after the end");
    query.dateFrom = from;
    query.dateTo = to;
}

EchoResult echo(const PacsNode& node) {
    const auto start = std::chrono::steady_clock::now();
    Session session(node, "C-ECHO");
    session.addPresentationContext(UID_VerificationSOPClass, uncompressedSyntaxes());
    session.connect();
    const OFCondition cond = session.sendECHORequest(session.contextFor(UID_VerificationSOPClass));
    if (cond.bad()) session.fail(conditionText(cond));
    session.release();
    EchoResult r;
    r.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return r;
}

namespace {

// Runs one C-FIND and returns the matches' identifiers (owned by `responses`).
std::vector<DcmDataset*> runFind(Session& session, DcmDataset& keys, OFList<QRResponse*>& responses) {
    session.addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, uncompressedSyntaxes());
    session.connect();
    const auto context = session.contextFor(UID_FINDStudyRootQueryRetrieveInformationModel);
    const OFCondition cond = session.sendFINDRequest(context, &keys, &responses);
    if (session.cancelled) {
        deleteAll(responses);
        session.cancel();
    }
    if (cond.bad()) {
        deleteAll(responses);
        session.fail(conditionText(cond));
    }
    std::vector<DcmDataset*> matches;
    Uint16 finalStatus = STATUS_Success;
    for (auto* r : responses) {
        if (DICOM_PENDING_STATUS(r->m_status) && r->m_dataset) matches.push_back(r->m_dataset);
        if (!DICOM_PENDING_STATUS(r->m_status)) finalStatus = r->m_status;
    }
    if (DICOM_FAILURE_STATUS(finalStatus)) {
        const std::string reason = "status " + hex4(finalStatus) + " (" + DU_cfindStatusString(finalStatus) + ")";
        deleteAll(responses);
        session.fail(reason);
    }
    session.release();
    return matches;
}

}  // namespace

std::vector<StudyRecord> findStudies(const PacsNode& node, const StudyQuery& query, const KeepGoing& keepGoing) {
    if (!query.dateFrom.empty() && !validDate(query.dateFrom))
        throw std::invalid_argument("study query: dateFrom \"" + query.dateFrom + "\" is not YYYYMMDD");
    if (!query.dateTo.empty() && !validDate(query.dateTo))
        throw std::invalid_argument("study query: dateTo \"" + query.dateTo + "\" is not YYYYMMDD");
    Session session(node, "C-FIND (study)");
    session.keepGoing = keepGoing;
    DcmDataset keys;
    putKey(keys, DCM_QueryRetrieveLevel, "STUDY");
    putKey(keys, DCM_StudyInstanceUID, query.studyInstanceUid);
    putKey(keys, DCM_PatientID, query.patientId);
    putKey(keys, DCM_PatientName, query.patientName);
    putKey(keys, DCM_PatientBirthDate);
    std::string dates;
    if (!query.dateFrom.empty() || !query.dateTo.empty())
        dates = query.dateFrom == query.dateTo ? query.dateFrom : query.dateFrom + "-" + query.dateTo;
    putKey(keys, DCM_StudyDate, dates);
    putKey(keys, DCM_StudyTime);
    putKey(keys, DCM_AccessionNumber, query.accessionNumber);
    putKey(keys, DCM_StudyID);
    putKey(keys, DCM_StudyDescription);
    putKey(keys, DCM_ModalitiesInStudy, query.modality);
    putKey(keys, DCM_NumberOfStudyRelatedSeries);
    putKey(keys, DCM_NumberOfStudyRelatedInstances);

    OFList<QRResponse*> responses;
    std::vector<StudyRecord> studies;
    for (DcmDataset* d : runFind(session, keys, responses)) {
        StudyRecord s;
        s.studyInstanceUid = getString(d, DCM_StudyInstanceUID);
        s.patientId = getString(d, DCM_PatientID);
        s.patientName = getString(d, DCM_PatientName);
        s.patientBirthDate = getString(d, DCM_PatientBirthDate);
        s.studyDate = getString(d, DCM_StudyDate);
        s.studyTime = getString(d, DCM_StudyTime);
        s.studyDescription = getString(d, DCM_StudyDescription);
        s.accessionNumber = getString(d, DCM_AccessionNumber);
        s.studyId = getString(d, DCM_StudyID);
        s.modalities = getString(d, DCM_ModalitiesInStudy);
        s.seriesCount = getInt(d, DCM_NumberOfStudyRelatedSeries);
        s.instanceCount = getInt(d, DCM_NumberOfStudyRelatedInstances);
        studies.push_back(std::move(s));
    }
    deleteAll(responses);
    std::sort(studies.begin(), studies.end(), [](const StudyRecord& a, const StudyRecord& b) {
        return std::tie(a.studyDate, a.studyTime, a.patientId, a.studyInstanceUid) <
               std::tie(b.studyDate, b.studyTime, b.patientId, b.studyInstanceUid);
    });
    return studies;
}

std::vector<SeriesRecord> findSeries(const PacsNode& node, const std::string& studyInstanceUid,
                                     const KeepGoing& keepGoing) {
    if (!isValidUid(studyInstanceUid))
        throw std::invalid_argument("series query: \"" + studyInstanceUid + "\" is not a study instance UID");
    Session session(node, "C-FIND (series)");
    session.keepGoing = keepGoing;
    DcmDataset keys;
    putKey(keys, DCM_QueryRetrieveLevel, "SERIES");
    putKey(keys, DCM_StudyInstanceUID, studyInstanceUid);
    putKey(keys, DCM_SeriesInstanceUID);
    putKey(keys, DCM_Modality);
    putKey(keys, DCM_SeriesNumber);
    putKey(keys, DCM_SeriesDescription);
    putKey(keys, DCM_SeriesDate);
    putKey(keys, DCM_NumberOfSeriesRelatedInstances);

    OFList<QRResponse*> responses;
    std::vector<SeriesRecord> series;
    for (DcmDataset* d : runFind(session, keys, responses)) {
        SeriesRecord s;
        s.seriesInstanceUid = getString(d, DCM_SeriesInstanceUID);
        s.studyInstanceUid = getString(d, DCM_StudyInstanceUID);
        if (s.studyInstanceUid.empty()) s.studyInstanceUid = studyInstanceUid;
        s.modality = getString(d, DCM_Modality);
        s.seriesNumber = getString(d, DCM_SeriesNumber);
        s.seriesDescription = getString(d, DCM_SeriesDescription);
        s.seriesDate = getString(d, DCM_SeriesDate);
        s.instanceCount = getInt(d, DCM_NumberOfSeriesRelatedInstances);
        series.push_back(std::move(s));
    }
    deleteAll(responses);
    std::sort(series.begin(), series.end(), [](const SeriesRecord& a, const SeriesRecord& b) {
        const int na = std::atoi(a.seriesNumber.c_str()), nb = std::atoi(b.seriesNumber.c_str());
        return std::tie(na, a.seriesInstanceUid) < std::tie(nb, b.seriesInstanceUid);
    });
    return series;
}

namespace {

void checkRequest(const RetrieveRequest& request, const std::filesystem::path& destination) {
    if (!isValidUid(request.studyInstanceUid))
        throw std::invalid_argument("retrieve: \"" + request.studyInstanceUid + "\" is not a study instance UID");
    if (!request.seriesInstanceUid.empty() && !isValidUid(request.seriesInstanceUid))
        throw std::invalid_argument("retrieve: \"" + request.seriesInstanceUid + "\" is not a series instance UID");
    std::error_code ec;
    std::filesystem::create_directories(destination, ec);
    if (ec) throw std::runtime_error("cannot create " + destination.string() + ": " + ec.message());
}

// What DCMTK can decode, uncompressed first: offered for every storage SOP class.
OFList<OFString> storageSyntaxes() {
    OFList<OFString> storage = uncompressedSyntaxes();
    for (const char* ts :
         {UID_BigEndianExplicitTransferSyntax, UID_DeflatedExplicitVRLittleEndianTransferSyntax,
          UID_JPEGProcess1TransferSyntax, UID_JPEGProcess2_4TransferSyntax, UID_JPEGProcess14SV1TransferSyntax,
          UID_JPEGProcess14TransferSyntax, UID_JPEGLSLosslessTransferSyntax, UID_JPEGLSLossyTransferSyntax,
          UID_RLELosslessTransferSyntax, UID_JPEG2000LosslessOnlyTransferSyntax, UID_JPEG2000TransferSyntax})
        storage.push_back(ts);
    return storage;
}

void putRetrieveKeys(DcmDataset& keys, const RetrieveRequest& request) {
    putKey(keys, DCM_QueryRetrieveLevel, request.seriesInstanceUid.empty() ? "STUDY" : "SERIES");
    putKey(keys, DCM_StudyInstanceUID, request.studyInstanceUid);
    if (!request.seriesInstanceUid.empty()) putKey(keys, DCM_SeriesInstanceUID, request.seriesInstanceUid);
}

// After the C-GET/C-MOVE exchange: errors, cancel and the final status into the result.
RetrieveResult finishRetrieve(Session& session, StoreState& store, const OFCondition& cond,
                              OFList<RetrieveResponse*>& responses, const char* (*statusName)(Uint16)) {
    Uint16 finalStatus = STATUS_Success;
    int warnings = 0, failed = -1;
    bool gotFinal = false;
    for (auto* r : responses)
        if (!DICOM_PENDING_STATUS(r->m_status)) {
            finalStatus = r->m_status;
            warnings = r->m_numberOfWarningSubops;
            failed = r->m_numberOfFailedSubops;
            gotFinal = true;
        }
    deleteAll(responses);
    std::unique_lock<std::mutex> lock(store.mutex);
    if (!store.writeError.empty()) {
        const std::string error = store.writeError;
        lock.unlock();
        session.fail(error);
    }
    if (store.cancelled) {
        lock.unlock();
        session.cancel();
    }
    lock.unlock();
    if (cond.bad()) session.fail(conditionText(cond));
    if (gotFinal && DICOM_FAILURE_STATUS(finalStatus) && store.result.received == 0)
        session.fail("status " + hex4(finalStatus) + " (" + statusName(finalStatus) + ")");
    session.release();
    RetrieveResult result = std::move(store.result);
    if (failed > 0) result.failed = std::max(result.failed, failed);
    result.warnings = warnings;
    return result;
}

// The storage SCP a C-MOVE sends its sub-operations to: listens on our port as our AE
// title, on its own thread, for as long as the C-MOVE runs.
class MoveReceiver : public DcmSCP {
public:
    MoveReceiver(const PacsNode& node, int port, StoreState& store) : store_(store) {
        setPort(Uint16(port));
        setAETitle(node.callingAeTitle.c_str());
        setConnectionBlockingMode(DUL_NOBLOCK);
        setConnectionTimeout(1);  // how often the accept loop looks at stop_
        setACSETimeout(Uint32(node.timeoutSeconds));
        setDIMSETimeout(Uint32(node.timeoutSeconds));
        setDIMSEBlockingMode(DIMSE_NONBLOCKING);
        setHostLookupEnabled(OFFalse);
        setVerbosePCMode(OFFalse);
        const OFList<OFString> syntaxes = storageSyntaxes();
        addPresentationContext(UID_VerificationSOPClass, uncompressedSyntaxes());
        // An association configuration holds at most 128 contexts (more are refused
        // silently, as all ~170 storage classes were): the same 120 classes as for C-GET.
        const int classes = std::min(numberOfDcmLongSCUStorageSOPClassUIDs, 120);
        for (int i = 0; i < classes; ++i) addPresentationContext(dcmLongSCUStorageSOPClassUIDs[i], syntaxes);
    }

    void stop() { stop_ = true; }

protected:
    OFCondition handleIncomingCommand(T_DIMSE_Message* message, const DcmPresentationContextInfo& info) override {
        if (message->CommandField != DIMSE_C_STORE_RQ) return DcmSCP::handleIncomingCommand(message, info);
        T_DIMSE_C_StoreRQ& request = message->msg.CStoreRQ;
        DcmDataset* dataset = nullptr;
        OFCondition cond = receiveSTORERequest(request, info.presentationContextID, dataset);
        if (cond.bad()) {
            delete dataset;
            return cond;
        }
        bool goOn = true;
        const Uint16 status = storeInstance(store_, dataset, goOn);
        cond = sendSTOREResponse(info.presentationContextID, request, status);
        if (!goOn) abortAssociation();  // cancelled or cannot write: the PACS stops sending
        return cond;
    }
    OFBool stopAfterCurrentAssociation() override { return stop_.load(); }
    OFBool stopAfterConnectionTimeout() override { return stop_.load(); }

private:
    StoreState& store_;
    std::atomic<bool> stop_{false};
};

}  // namespace

RetrieveResult retrieve(const PacsNode& node, const RetrieveRequest& request, const std::filesystem::path& destination,
                        const RetrieveCallback& callback) {
    checkRequest(request, destination);
    StoreState store;
    store.destination = destination;
    store.callback = &callback;
    Session session(node, "C-GET");
    session.store = &store;
    session.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, uncompressedSyntaxes());
    // We are the storage SCP of the C-GET's sub-operations: one context per storage class,
    // 128 at most in an association.
    const OFList<OFString> storage = storageSyntaxes();
    const int classes = std::min(numberOfDcmLongSCUStorageSOPClassUIDs, 120);
    for (int i = 0; i < classes; ++i)
        session.addPresentationContext(dcmLongSCUStorageSOPClassUIDs[i], storage, ASC_SC_ROLE_SCP);
    session.connect();
    const auto context = session.contextFor(UID_GETStudyRootQueryRetrieveInformationModel);
    DcmDataset keys;
    putRetrieveKeys(keys, request);
    OFList<RetrieveResponse*> responses;
    const OFCondition cond = session.sendCGETRequest(context, &keys, &responses);
    return finishRetrieve(session, store, cond, responses, DU_cgetStatusString);
}

RetrieveResult retrieveByMove(const PacsNode& node, const RetrieveRequest& request, int listenPort,
                              const std::filesystem::path& destination, const RetrieveCallback& callback) {
    checkRequest(request, destination);
    if (listenPort < 1 || listenPort > 65535)
        throw std::invalid_argument("C-MOVE: listen port " + std::to_string(listenPort) + " must be in 1..65535");
    StoreState store;
    store.destination = destination;
    store.callback = &callback;
    Session session(node, "C-MOVE");
    session.store = &store;

    // Listen before asking, so the PACS's connection back cannot come too early.
    MoveReceiver receiver(node, listenPort, store);
    OFCondition cond = receiver.openListenPort();
    if (cond.bad())
        session.fail("cannot listen on port " + std::to_string(listenPort) +
                     " for the PACS's C-STORE: " + conditionText(cond));
    std::thread listener([&receiver] { receiver.acceptAssociations(); });
    struct Join {
        MoveReceiver& receiver;
        std::thread& thread;
        ~Join() {
            receiver.stop();
            if (thread.joinable()) thread.join();
        }
    } join{receiver, listener};

    session.addPresentationContext(UID_MOVEStudyRootQueryRetrieveInformationModel, uncompressedSyntaxes());
    session.connect();
    const auto context = session.contextFor(UID_MOVEStudyRootQueryRetrieveInformationModel);
    DcmDataset keys;
    putRetrieveKeys(keys, request);
    OFList<RetrieveResponse*> responses;
    cond = session.sendMOVERequest(context, node.callingAeTitle.c_str(), &keys, &responses);
    // The PACS answers the C-MOVE after its last sub-operation got our C-STORE response, so
    // every file is in place; stop the listener before reading the result.
    receiver.stop();
    if (listener.joinable()) listener.join();
    return finishRetrieve(session, store, cond, responses, DU_cmoveStatusString);
}

}  // namespace lumen::net
