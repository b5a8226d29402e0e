// The PACS client against a real Orthanc (tests/net/orthanc_fixture.h): C-ECHO, study and
// series C-FIND, C-GET of a study / a series with the pixels compared to the files sent,
// the error cases (connection refused, wrong called AE, unknown calling AE), cancellation;
// the workspace's nodes file; and `lumen-cli pacs` against the same server.
#include "net/pacs_client.h"
#include "net/pacs_nodes.h"
#include "orthanc_fixture.h"

#include "config/config.h"
#include "demo/demo_workspace.h"
#include "io/dicom_reader.h"
#include "jobs/job.h"

#include "test_support.h"

#include <QProcess>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <set>

using namespace lumen;
namespace fs = std::filesystem;

namespace {

const fs::path kPydicomFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

// The pydicom files sent (uncompressed, each its own patient/study except the two SC files).
const std::vector<std::string> kPydicomNames = {"CT_small.dcm", "MR_small.dcm", "rtdose.dcm", "SC_rgb_small_odd.dcm"};
// Compressed files of the SC study above, and the storescu option that proposes their
// transfer syntax: the retrieval must accept (or get transcoded) compressed instances too.
const std::vector<std::pair<std::string, QString>> kCompressed = {{"SC_rgb_rle.dcm", "-xr"},
                                                                  {"SC_rgb_jpeg_dcmtk.dcm", "-xy"}};

template <typename F>
QString errorOf(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

}  // namespace

class TestPacsClient : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    test::OrthancServer orthanc_;
    net::PacsNode node_;
    fs::path demo_;
    std::vector<fs::path> sent_;
    std::map<std::string, fs::path> originalBySop_;  // SOP instance UID → file sent
    std::string ctStudy_;
    std::vector<std::string> angioPatients_;

    // Every retrieved file decodes to the same stored and rescaled values as the original.
    void checkSameAsOriginals(const std::vector<fs::path>& files) {
        for (const auto& f : files) {
            const io::ImageVolume got = io::readDicom(f);
            const auto it = originalBySop_.find(got.meta.sopInstanceUid);
            QVERIFY2(it != originalBySop_.end(),
                     qPrintable("retrieved an instance we never sent: " + QString::fromStdString(f.string())));
            const io::ImageVolume want = io::readDicom(it->second);
            QCOMPARE(got.rows, want.rows);
            QCOMPARE(got.columns, want.columns);
            QCOMPARE(got.depth, want.depth);
            QCOMPARE(got.samples, want.samples);
            QVERIFY2(got.stored == want.stored,
                     qPrintable("stored pixels differ: " + QString::fromStdString(f.string())));
            QVERIFY2(got.values == want.values, qPrintable("values differ: " + QString::fromStdString(f.string())));
            // File layout: <destination>/<study>/<series>/<sop>.dcm
            QCOMPARE(f.filename().string(), got.meta.sopInstanceUid + ".dcm");
            QCOMPARE(f.parent_path().filename().string(), got.meta.seriesInstanceUid);
            QCOMPARE(f.parent_path().parent_path().filename().string(), got.meta.studyInstanceUid);
        }
    }

private slots:
    void initTestCase() {
        const QString problem = orthanc_.start();
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        qInfo("Orthanc pid %lld listening on DICOM port %d after %lld ms", orthanc_.pid(), orthanc_.dicomPort(),
              orthanc_.startupMs());
        node_ = {test::OrthancServer::kAeTitle, "127.0.0.1", orthanc_.dicomPort(), test::OrthancServer::kClientAeTitle,
                 10};

        demo_ = dir_.filePath("demo").toStdString();
        demo::DemoOptions o;
        o.chestImages = 4;
        o.ctVolumes = 1;
        o.angioStudies = 2;
        o.predictionStudies = 4;
        demo::createDemoWorkspace(demo_, o);
        for (const auto& e : fs::directory_iterator(demo_ / "ct/dicom/ct_0001")) sent_.push_back(e.path());
        for (const auto& study : fs::directory_iterator(demo_ / "angio/studies")) {
            angioPatients_.push_back(study.path().filename().string().substr(1));
            for (const auto& e : fs::directory_iterator(study.path())) sent_.push_back(e.path());
        }
        std::sort(angioPatients_.begin(), angioPatients_.end());
        QVERIFY2(fs::is_directory(kPydicomFiles), "pydicom's test files are missing (python3-pydicom)");
        for (const auto& name : kPydicomNames) sent_.push_back(kPydicomFiles / name);
        QCOMPARE(int(sent_.size()), 48 + 5 + 4);  // the CT series, studies of 2 and 3 views, pydicom's files
        std::vector<fs::path> compressed;
        for (const auto& [name, option] : kCompressed) compressed.push_back(kPydicomFiles / name);
        for (const auto& f : [&] {
                 auto all = sent_;
                 all.insert(all.end(), compressed.begin(), compressed.end());
                 return all;
             }()) {
            const auto v = io::readDicom(f);
            originalBySop_[v.meta.sopInstanceUid] = f;
            if (f.parent_path().filename() == "ct_0001") ctStudy_ = v.meta.studyInstanceUid;
        }
        QCOMPARE(int(originalBySop_.size()), int(sent_.size() + compressed.size()));

        const auto start = std::chrono::steady_clock::now();
        const QString stored = orthanc_.store(sent_);
        QVERIFY2(stored.isEmpty(), qPrintable(stored));
        for (std::size_t i = 0; i < kCompressed.size(); ++i) {
            const QString s = orthanc_.store({compressed[i]}, {kCompressed[i].second});
            QVERIFY2(s.isEmpty(), qPrintable(s));
        }
        qInfo("storescu sent %d files in %.0f ms", int(sent_.size() + compressed.size()),
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }

    void cleanupTestCase() {
        const qint64 pid = orthanc_.pid();
        const auto start = std::chrono::steady_clock::now();
        orthanc_.stop();
        qInfo("Orthanc stopped by SIGTERM in %.0f ms",
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        QVERIFY(!orthanc_.running());
        // The PID is gone (not even a zombie of ours: QProcess reaped it).
        if (pid > 0) QVERIFY(::kill(pid_t(pid), 0) != 0);
    }

    // liblumen_core switches DCMTK's Nagle algorithm off as it loads (TCP_NODELAY=1 unless the
    // user set a value): with it on, each instance of a retrieve waited ~90 ms for an ACK.
    void nagleIsOffForDcmtk() { QCOMPARE(qgetenv("TCP_NODELAY"), QByteArray("1")); }

    void echoes() {
        const auto r = net::echo(node_);
        QVERIFY(r.milliseconds > 0 && r.milliseconds < 5000);
        qInfo("C-ECHO round trip %.1f ms", r.milliseconds);
    }

    void findsStudiesByPatientId() {
        net::StudyQuery q;
        q.patientId = "CT0001";
        const auto studies = net::findStudies(node_, q);
        QCOMPARE(int(studies.size()), 1);
        const auto& s = studies[0];
        QCOMPARE(s.studyInstanceUid, ctStudy_);
        QCOMPARE(s.patientId, std::string("CT0001"));
        QCOMPARE(s.patientName, std::string("Demo^CT0001"));
        QCOMPARE(s.studyDate, std::string("20240102"));
        QCOMPARE(s.studyDescription, std::string("Synthetic chest CT"));
        QCOMPARE(s.accessionNumber, std::string("CT0001"));
        QCOMPARE(s.modalities, std::string("CT"));
        QCOMPARE(s.seriesCount, 1);
        QCOMPARE(s.instanceCount, 48);

        // pydicom's CT_small: patient 1CT1; a wildcard on the name finds all four pydicom
        // patients' "CompressedSamples^…" studies that we sent (CT1, MR1).
        q = {};
        q.patientId = "1CT1";
        QCOMPARE(int(net::findStudies(node_, q).size()), 1);
        q = {};
        q.patientName = "CompressedSamples*";
        const auto named = net::findStudies(node_, q);
        QCOMPARE(int(named.size()), 2);
        q = {};
        q.patientId = "NO_SUCH_PATIENT";
        QVERIFY(net::findStudies(node_, q).empty());
        // Everything: 1 CT + 2 angio + the 4 pydicom files' studies.
        QCOMPARE(int(net::findStudies(node_, {}).size()), 1 + 2 + 4);
    }

    void findsStudiesByDateAndModality() {
        net::StudyQuery q;
        net::setDateRange(q, "20240102");
        QCOMPARE(int(net::findStudies(node_, q).size()), 1);
        net::setDateRange(q, "20240102-20240103");
        auto studies = net::findStudies(node_, q);
        QCOMPARE(int(studies.size()), 3);
        QCOMPARE(studies[0].studyDate, std::string("20240102"));  // sorted by date
        std::vector<std::string> angio;
        for (const auto& s : studies)
            if (s.modalities == "XA") angio.push_back(s.patientId);
        std::sort(angio.begin(), angio.end());
        QCOMPARE(angio, angioPatients_);
        net::setDateRange(q, "20040101-20041231");  // CT_small, MR_small
        QCOMPARE(int(net::findStudies(node_, q).size()), 2);
        net::setDateRange(q, "-20031231");  // rtdose (2003-08-05)
        studies = net::findStudies(node_, q);
        QCOMPARE(int(studies.size()), 1);
        QCOMPARE(studies[0].patientId, std::string("id11111"));
        net::setDateRange(q, "20250101-");
        QVERIFY(net::findStudies(node_, q).empty());
        q = {};
        q.modality = "XA";
        QCOMPARE(int(net::findStudies(node_, q).size()), 2);

        // Bad ranges are refused before anything is sent.
        QVERIFY(errorOf([&] { net::setDateRange(q, "2024-01-02"); }).contains("expected YYYYMMDD"));
        QVERIFY(errorOf([&] { net::setDateRange(q, "20240105-20240101"); }).contains("start is after the end"));
    }

    void findsSeries() {
        const auto ct = net::findSeries(node_, ctStudy_);
        QCOMPARE(int(ct.size()), 1);
        QCOMPARE(ct[0].modality, std::string("CT"));
        QCOMPARE(ct[0].seriesDescription, std::string("Axial 2.5 mm"));
        QCOMPARE(ct[0].instanceCount, 48);
        QCOMPARE(ct[0].studyInstanceUid, ctStudy_);

        net::StudyQuery q;
        q.patientId = angioPatients_[0];
        const auto studies = net::findStudies(node_, q);
        QCOMPARE(int(studies.size()), 1);
        const auto views = net::findSeries(node_, studies[0].studyInstanceUid);
        QCOMPARE(int(views.size()), 2);
        QCOMPARE(views[0].seriesNumber, std::string("1"));
        QCOMPARE(views[0].seriesDescription, std::string("Left coronary LAO 30 CRA 20"));
        QCOMPARE(views[1].seriesDescription, std::string("Right coronary LAO 40"));
        for (const auto& v : views) QCOMPARE(v.instanceCount, 1);
        QVERIFY(net::findSeries(node_, "1.2.3.4.5.6.7.8.9").empty());
        QVERIFY(errorOf([&] { net::findSeries(node_, "../etc"); }).contains("not a study instance UID"));
    }

    void retrievesAStudyWithTheSamePixels() {
        const fs::path workspace = dir_.filePath("ws1").toStdString();
        const fs::path destination = workspace / "pacs";
        std::vector<net::RetrieveProgress> seen;
        const auto start = std::chrono::steady_clock::now();
        const auto result = net::retrieve(node_, {ctStudy_, {}}, destination, [&](const net::RetrieveProgress& p) {
            seen.push_back(p);
            return true;
        });
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        qInfo("C-GET of the 48-slice CT study: %.0f ms", ms);
        QCOMPARE(result.received, 48);
        QCOMPARE(result.failed, 0);
        QCOMPARE(int(result.files.size()), 48);
        QVERIFY(!seen.empty());
        QCOMPARE(seen.back().received, 48);
        int onDisk = 0;
        for (const auto& e : fs::recursive_directory_iterator(destination)) {
            if (!e.is_regular_file()) continue;
            ++onDisk;
            QVERIFY2(e.path().extension() == ".dcm",
                     qPrintable(QString::fromStdString(e.path().string())));  // no .part left
        }
        QCOMPARE(onDisk, 48);
        QVERIFY(fs::is_directory(destination / ctStudy_));
        checkSameAsOriginals(result.files);

        // Retrieving again replaces the files (same names, same count).
        const auto again = net::retrieve(node_, {ctStudy_, {}}, destination);
        QCOMPARE(again.received, 48);
        onDisk = 0;
        for (const auto& e : fs::recursive_directory_iterator(destination)) onDisk += e.is_regular_file();
        QCOMPARE(onDisk, 48);
    }

    void retrievesOneSeriesOfACineStudy() {
        net::StudyQuery q;
        q.patientId = angioPatients_[1];
        const auto study = net::findStudies(node_, q).at(0);
        const auto views = net::findSeries(node_, study.studyInstanceUid);
        const fs::path destination = dir_.filePath("ws2").toStdString();
        const auto one = net::retrieve(node_, {study.studyInstanceUid, views[1].seriesInstanceUid}, destination);
        QCOMPARE(one.received, 1);
        QCOMPARE(one.files[0].parent_path().filename().string(), views[1].seriesInstanceUid);
        checkSameAsOriginals(one.files);
        QCOMPARE(io::readDicom(one.files[0]).depth, 16);  // the whole cine

        const auto both = net::retrieve(node_, {study.studyInstanceUid, {}}, destination);
        QCOMPARE(both.received, int(views.size()));
        QCOMPARE(both.received, 3);  // the second demo study has three views
        checkSameAsOriginals(both.files);
    }

    void retrievesPydicomFiles() {
        // Colour (RGB, odd size), implicit VR multi-frame dose, MR and CT.
        const fs::path destination = dir_.filePath("ws3").toStdString();
        int received = 0;
        for (const auto& s : net::findStudies(node_, {})) {
            if (s.studyDate.rfind("2024", 0) == 0) continue;  // the demo's
            const auto r = net::retrieve(node_, {s.studyInstanceUid, {}}, destination);
            checkSameAsOriginals(r.files);
            for (const auto& f : r.files) {
                const auto v = io::readDicom(f, {false});
                qInfo("%s arrived as %s",
                      qPrintable(QString::fromStdString(originalBySop_[v.meta.sopInstanceUid].filename().string())),
                      v.meta.transferSyntaxName.c_str());
            }
            received += r.received;
        }
        QCOMPARE(received, int(kPydicomNames.size() + kCompressed.size()));
    }

    void retrievesByMove() {
        const fs::path destination = dir_.filePath("ws_move").toStdString();
        std::vector<net::RetrieveProgress> seen;
        const auto start = std::chrono::steady_clock::now();
        const auto result = net::retrieveByMove(node_, {ctStudy_, {}}, orthanc_.clientPort(), destination,
                                                [&](const net::RetrieveProgress& p) {
                                                    seen.push_back(p);
                                                    return true;
                                                });
        qInfo("C-MOVE of the 48-slice CT study: %.0f ms",
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        QCOMPARE(result.received, 48);
        QCOMPARE(result.failed, 0);
        QVERIFY(!seen.empty());
        int onDisk = 0;
        for (const auto& e : fs::recursive_directory_iterator(destination)) onDisk += e.is_regular_file();
        QCOMPARE(onDisk, 48);
        checkSameAsOriginals(result.files);

        // One series of a cine study.
        net::StudyQuery q;
        q.patientId = angioPatients_[0];
        const auto study = net::findStudies(node_, q).at(0);
        const auto views = net::findSeries(node_, study.studyInstanceUid);
        net::RetrieveResult one;
        const QString moveError = errorOf([&] {
            one = net::retrieveByMove(node_, {study.studyInstanceUid, views[0].seriesInstanceUid},
                                      orthanc_.clientPort(), destination);
        });
        if (!moveError.isEmpty()) qInfo("%s", qPrintable(orthanc_.log().right(2500)));
        QVERIFY2(moveError.isEmpty(), qPrintable(moveError));
        QCOMPARE(one.received, 1);
        checkSameAsOriginals(one.files);

        // Cancelled after 2 instances: the listener aborts the PACS's storage association.
        const fs::path partial = dir_.filePath("ws_move_cancel").toStdString();
        bool cancelled = false;
        try {
            net::retrieveByMove(node_, {ctStudy_, {}}, orthanc_.clientPort(), partial,
                                [](const net::RetrieveProgress& p) { return p.received < 2; });
        } catch (const jobs::Cancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
        int kept = 0;
        for (const auto& e : fs::recursive_directory_iterator(partial)) kept += e.is_regular_file();
        QCOMPARE(kept, 2);
        QVERIFY(net::echo(node_).milliseconds > 0);

        // Our port taken: a clear error before anything is asked.
        const QString busy = errorOf([&] {
            net::retrieveByMove(node_, {ctStudy_, {}}, orthanc_.dicomPort(), partial);
        });
        QVERIFY2(busy.contains(QString("cannot listen on port %1").arg(orthanc_.dicomPort())), qPrintable(busy));
    }

    void retrieveOfAnUnknownStudyGetsNothing() {
        const fs::path destination = dir_.filePath("ws4").toStdString();
        const QString error = errorOf([&] {
            const auto r = net::retrieve(node_, {"1.2.3.4.5.6.7.8.9", {}}, destination);
            QCOMPARE(r.received, 0);
        });
        // Orthanc answers an unknown study with a failure status; either way nothing arrives.
        if (!error.isEmpty()) QVERIFY2(error.contains("C-GET") && error.contains("status 0x"), qPrintable(error));
        int onDisk = 0;
        if (fs::exists(destination))
            for (const auto& e : fs::recursive_directory_iterator(destination)) onDisk += e.is_regular_file();
        QCOMPARE(onDisk, 0);
    }

    void connectionRefusedNamesHostAndPort() {
        net::PacsNode closed = node_;
        closed.port = test::freeLoopbackPort();
        const QString error = errorOf([&] { net::echo(closed); });
        QVERIFY2(error.startsWith("C-ECHO " + QString::fromStdString(closed.address()) + ": "), qPrintable(error));
        QVERIFY2(error.contains("connection refused"), qPrintable(error));
        QVERIFY2(error.contains(QString("127.0.0.1:%1").arg(closed.port)), qPrintable(error));
        try {
            net::findStudies(closed, {});
            QFAIL("no exception");
        } catch (const net::PacsError& e) {
            QCOMPARE(e.operation(), std::string("C-FIND (study)"));
            QCOMPARE(e.node(), closed.address());
        }
    }

    void silentPeerTimesOut() {
        // A socket that listens but never speaks: the kernel completes the TCP handshake,
        // then the association request waits for an answer that never comes.
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        QVERIFY(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        QVERIFY(::listen(fd, 4) == 0);
        socklen_t length = sizeof address;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
        net::PacsNode silent = node_;
        silent.port = ntohs(address.sin_port);
        silent.timeoutSeconds = 1;
        const auto start = std::chrono::steady_clock::now();
        const QString error = errorOf([&] { net::echo(silent); });
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        ::close(fd);
        QVERIFY2(error.contains("timed out after 1 s"), qPrintable(error));
        QVERIFY2(s < 5, qPrintable(QString("took %1 s").arg(s)));
        qInfo("silent peer: %s (%.1f s)", qPrintable(error), s);
    }

    void unwritableDestinationIsAnError() {
        // The study folder's name is taken by a file: the first instance cannot be stored.
        const fs::path destination = dir_.filePath("ws7").toStdString();
        fs::create_directories(destination);
        std::ofstream(destination / ctStudy_) << "not a folder";
        const QString error = errorOf([&] { net::retrieve(node_, {ctStudy_, {}}, destination); });
        QVERIFY2(error.startsWith("C-GET " + QString::fromStdString(node_.address()) + ": cannot create "),
                 qPrintable(error));
        QVERIFY2(error.contains(QString::fromStdString((destination / ctStudy_).string())), qPrintable(error));
        QVERIFY(net::echo(node_).milliseconds > 0);  // the server is fine afterwards
    }

    void webPortIsNotDicom() {
        // Orthanc's HTTP port answers our association request with an HTTP error.
        net::PacsNode web = node_;
        web.port = orthanc_.httpPort();
        const QString error = errorOf([&] { net::echo(web); });
        QVERIFY2(error.contains(QString("does not speak DICOM (a web server? check the port)")), qPrintable(error));
        const QString unknown = errorOf([&] { net::echo(net::parseNodeAddress("X@no-such-host.invalid:104")); });
        QVERIFY2(unknown.contains("cannot resolve host \"no-such-host.invalid\""), qPrintable(unknown));
    }

    void wrongCalledAeIsRejected() {
        net::PacsNode wrong = node_;
        wrong.aeTitle = "NOT_ORTHANC";
        const QString error = errorOf([&] { net::echo(wrong); });
        QVERIFY2(error.contains("NOT_ORTHANC@127.0.0.1"), qPrintable(error));
        QVERIFY2(error.contains("association rejected: called AE title \"NOT_ORTHANC\" not recognized"),
                 qPrintable(error));
    }

    void unknownCallingAeCannotQuery() {
        // Orthanc answers C-ECHO from anyone, but C-FIND / C-GET only from known modalities.
        net::PacsNode stranger = node_;
        stranger.callingAeTitle = "STRANGER";
        QVERIFY(net::echo(stranger).milliseconds > 0);
        const QString find = errorOf([&] { net::findStudies(stranger, {}); });
        QVERIFY2(find.contains("C-FIND (study) " + QString::fromStdString(node_.address())), qPrintable(find));
        QVERIFY2(find.contains("aborted the association") && find.contains("calling AE title"), qPrintable(find));
        qInfo("unknown calling AE, C-FIND: %s", qPrintable(find));
        const QString get = errorOf([&] {
            net::retrieve(stranger, {ctStudy_, {}}, dir_.filePath("ws5").toStdString());
        });
        QVERIFY2(!get.isEmpty() && get.contains("C-GET"), qPrintable(get));
        qInfo("unknown calling AE, C-GET: %s", qPrintable(get));
    }

    void cancellationStopsTheRetrieve() {
        const fs::path destination = dir_.filePath("ws6").toStdString();
        int callsAfterStop = 0;
        bool stopped = false, cancelled = false;
        const auto start = std::chrono::steady_clock::now();
        try {
            net::retrieve(node_, {ctStudy_, {}}, destination, [&](const net::RetrieveProgress& p) {
                if (stopped) ++callsAfterStop;
                stopped = p.received >= 3;
                return !stopped;
            });
        } catch (const jobs::Cancelled&) {
            cancelled = true;
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        QVERIFY(cancelled);
        int onDisk = 0;
        for (const auto& e : fs::recursive_directory_iterator(destination)) {
            if (!e.is_regular_file()) continue;
            ++onDisk;
            QCOMPARE(e.path().extension().string(), std::string(".dcm"));
        }
        QVERIFY2(onDisk == 3, qPrintable(QString("%1 files after cancelling at 3").arg(onDisk)));
        qInfo("cancelled after 3 of 48 instances in %.0f ms", ms);
        // No further callbacks after the one that said stop; the server is fine afterwards.
        QCOMPARE(callsAfterStop, 0);
        QVERIFY(net::echo(node_).milliseconds > 0);
        QCOMPARE(net::retrieve(node_, {ctStudy_, {}}, destination).received, 48);

        // A C-FIND is cancelled too.
        bool findCancelled = false;
        try {
            net::findStudies(node_, {}, [] { return false; });
        } catch (const jobs::Cancelled&) {
            findCancelled = true;
        }
        QVERIFY(findCancelled);
    }

    void parsesNodeAddresses() {
        const auto n = net::parseNodeAddress("PACS1@pacs.example.org:11112");
        QCOMPARE(n.aeTitle, std::string("PACS1"));
        QCOMPARE(n.host, std::string("pacs.example.org"));
        QCOMPARE(n.port, 11112);
        QCOMPARE(n.callingAeTitle, std::string("LUMEN"));
        QCOMPARE(net::parseNodeAddress("A@h").port, 104);
        QVERIFY(errorOf([] { net::parseNodeAddress("nohost"); }).contains("expected AE@host:port"));
        QVERIFY(errorOf([] { net::parseNodeAddress("A@h:99999"); }).contains("not a number in 1..65535"));
        QVERIFY(errorOf([] { net::parseNodeAddress("AE_TITLE_WAY_TOO_LONG@h:1"); }).contains("1-16"));
        QVERIFY(net::isValidUid("1.2.840.10008.1.1"));
        QVERIFY(!net::isValidUid("1..2"));
        QVERIFY(!net::isValidUid("../../x"));
        QVERIFY(!net::isValidUid(std::string(65, '1')));
    }

    void nodesFileRoundTripsAndValidates() {
        const fs::path ws = dir_.filePath("nodes_ws").toStdString();
        fs::create_directories(ws);
        QVERIFY(net::loadPacsNodes(ws).empty());  // no file yet
        std::vector<net::NamedPacsNode> nodes = {{"orthanc", node_},
                                                 {"remote", net::parseNodeAddress("PACS@10.0.0.5:104")}};
        nodes[1].node.timeoutSeconds = 5;
        net::savePacsNodes(ws, nodes);
        const auto back = net::loadPacsNodes(ws);
        QCOMPARE(int(back.size()), 2);
        QCOMPARE(back[0].name, std::string("orthanc"));
        QCOMPARE(back[0].node.address(), node_.address());
        QCOMPARE(back[0].node.callingAeTitle, node_.callingAeTitle);
        QCOMPARE(back[1].node.timeoutSeconds, 5);
        QCOMPARE(net::resolvePacsNode("orthanc", back).port, node_.port);
        QCOMPARE(net::resolvePacsNode("X@h:5", back).aeTitle, std::string("X"));
        QVERIFY(errorOf([&] { net::resolvePacsNode("nope", back); }).contains("orthanc, remote"));

        // Errors name the key path and the line.
        const QString bad = errorOf([] {
            net::parsePacsNodes(
                "nodes:\n"
                "  - name: a\n    ae_title: A\n    host: h\n    port: 104\n"
                "  - name: a\n    ae_title: A\n    host: h\n    port: 70000\n"
                "  - name: c\n    ae_title: \"\"\n    host: h\n    port: 1\n    colour: red\n",
                "pacs_nodes.yaml");
        });
        QVERIFY2(bad.contains("pacs_nodes.yaml:9: nodes[1].port"), qPrintable(bad));
        QVERIFY2(bad.contains("nodes[2].colour"), qPrintable(bad));
        QVERIFY2(bad.contains("nodes[2].ae_title"), qPrintable(bad));
        const QString duplicate = errorOf([] {
            net::parsePacsNodes(
                "nodes:\n  - {name: a, ae_title: A, host: h, port: 1}\n  - {name: a, ae_title: B, host: h, port: 2}\n");
        });
        QVERIFY2(duplicate.contains("nodes[1].name: \"a\" is used by an earlier node"), qPrintable(duplicate));
        QVERIFY(errorOf([] { net::parsePacsNodes("nodes: 3\n"); }).contains("nodes: expected a list"));
        QVERIFY(errorOf([] { net::parsePacsNodes("servers: []\n"); }).contains("servers: unknown key"));
        // Saving refuses what loading would refuse, and leaves the old file alone.
        nodes[1].node.port = 0;
        QVERIFY(errorOf([&] { net::savePacsNodes(ws, nodes); }).contains("nodes[1].port"));
        QCOMPARE(int(net::loadPacsNodes(ws).size()), 2);
    }

    void cliTalksToThePacs() {
        const QString cli = QString(LUMEN_BINARY_DIR) + "/bin/lumen-cli";
        QVERIFY2(QFile::exists(cli), qPrintable(cli));
        auto run = [&](const QStringList& args, QString* out = nullptr, QString* err = nullptr) {
            const CliOutcome r = runProcess(cli, args, 120000);
            if (out) *out = QString::fromStdString(r.out);
            if (err) *err = QString::fromStdString(r.err);
            return r.code;
        };
        const QString address = QString::fromStdString(node_.address());
        const QString ws = dir_.filePath("cli_ws");
        fs::create_directories(ws.toStdString());
        net::savePacsNodes(ws.toStdString(), {{"orthanc", node_}});
        QString out, err;
        QCOMPARE(run({"--help"}, &out, &err), 0);
        QVERIFY2(out.contains("  pacs "), qPrintable(out));
        QCOMPARE(run({"pacs", "--help"}, &out, &err), 0);
        QVERIFY2(out.contains("Usage: lumen-cli pacs echo NODE") && out.contains("--move-port"), qPrintable(out));

        QCOMPARE(run({"pacs", "echo", address, "--calling-ae", test::OrthancServer::kClientAeTitle}, &out, &err), 0);
        QVERIFY2(out.contains("C-ECHO " + address + ": ok"), qPrintable(out + err));
        QCOMPARE(run({"pacs", "echo", "orthanc", "--workspace", ws}, &out, &err), 0);

        QCOMPARE(run({"pacs", "find", "orthanc", "--workspace", ws, "--patient-id", "CT0001", "--json"}, &out, &err),
                 0);
        const auto j = nlohmann::json::parse(out.toStdString());
        QCOMPARE(int(j.size()), 1);
        QCOMPARE(j[0]["study_instance_uid"].get<std::string>(), ctStudy_);
        QCOMPARE(j[0]["instances"].get<int>(), 48);
        QCOMPARE(run({"pacs", "find", "orthanc", "--workspace", ws, "--date", "20240102-20240103"}, &out, &err), 0);
        QVERIFY2(out.contains("CT0001") && out.contains(QString::fromStdString(angioPatients_[0])), qPrintable(out));
        QCOMPARE(
            run({"pacs", "find", "orthanc", "--workspace", ws, "--series", QString::fromStdString(ctStudy_), "--json"},
                &out, &err),
            0);
        QCOMPARE(nlohmann::json::parse(out.toStdString())[0]["instances"].get<int>(), 48);

        QCOMPARE(run({"pacs", "get", "orthanc", QString::fromStdString(ctStudy_), "--workspace", ws}, &out, &err), 0);
        QVERIFY2(out.contains("48 instances"), qPrintable(out + err));
        int onDisk = 0;
        for (const auto& e : fs::recursive_directory_iterator(fs::path(ws.toStdString()) / "pacs" / ctStudy_))
            onDisk += e.is_regular_file();
        QCOMPARE(onDisk, 48);
        const QString moved = dir_.filePath("cli_ws_move");
        QCOMPARE(run({"pacs", "get", "orthanc", QString::fromStdString(ctStudy_), "--workspace", ws, "--into", moved,
                      "--move-port", QString::number(orthanc_.clientPort())},
                     &out, &err),
                 0);
        QVERIFY2(out.contains("48 instances"), qPrintable(out + err));

        // Errors: exit 2 with the node and reason on stderr; bad usage also 2.
        QCOMPARE(run({"pacs", "echo",
                      QString("%1@127.0.0.1:%2").arg(test::OrthancServer::kAeTitle).arg(test::freeLoopbackPort())},
                     &out, &err),
                 2);
        QVERIFY2(err.contains("connection refused"), qPrintable(err));
        QCOMPARE(run({"pacs", "echo", "nosuchnode", "--workspace", ws}, &out, &err), 2);
        QVERIFY2(err.contains("unknown PACS node \"nosuchnode\""), qPrintable(err));
        QCOMPARE(run({"pacs", "find", "orthanc", "--workspace", ws, "--date", "yesterday"}, &out, &err), 2);
        QVERIFY2(err.contains("date range"), qPrintable(err));
        QCOMPARE(run({"pacs", "frobnicate"}, &out, &err), 2);
        // A find that matches nothing is a failed check: exit 1.
        QCOMPARE(run({"pacs", "find", "orthanc", "--workspace", ws, "--patient-id", "NOBODY"}, &out, &err), 1);
    }
};

QTEST_GUILESS_MAIN(TestPacsClient)
#include "test_pacs_client.moc"
