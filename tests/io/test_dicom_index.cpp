// Qt Test suite for core/io/dicom_index: scanning the demo workspace (CT series, angiography
// cines) and pydicom's own test files (cross-checked against pydicom in the same run) into
// the workspace database; incremental rescans, removals, unreadable files, cancellation, and
// living beside the run store in the same file.
#include "io/dicom_index.h"
#include "io/read_error.h"

#include "demo/demo_workspace.h"
#include "runs/run_store.h"

#include "io_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <map>
#include <set>
#include <thread>

using namespace lumen;
using namespace lumen::io;
using namespace lumen::iotest;
namespace fs = std::filesystem;

namespace {

const char* kPydicomHeaders = R"PY(
import sys, os, json
import pydicom
out = {}
for dirpath, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(dirpath, f)
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
        except Exception as e:
            out[p] = {'error': str(e)[:80]}
            continue
        def s(k):
            v = ds.get(k)
            if v is None: return ''
            if isinstance(v, pydicom.multival.MultiValue): v = v[0]
            return str(v).strip()
        def n(k):
            v = ds.get(k)
            if v is None or v == '': return None
            if isinstance(v, pydicom.multival.MultiValue): v = v[0]
            try: return float(v)
            except Exception: return None
        out[p] = {'sop': s('SOPInstanceUID'), 'study': s('StudyInstanceUID'), 'series': s('SeriesInstanceUID'),
                  'patient': s('PatientID'), 'modality': s('Modality'), 'rows': n('Rows'), 'columns': n('Columns'),
                  'frames': n('NumberOfFrames'), 'instance': n('InstanceNumber'), 'series_number': n('SeriesNumber'),
                  'wc': n('WindowCenter'), 'ww': n('WindowWidth'), 'frame_time': n('FrameTime'),
                  'dicomdir': str(ds.file_meta.get('MediaStorageSOPClassUID', '')) == '1.2.840.10008.1.3.10'}
print(json.dumps(out))
)PY";

demo::DemoOptions smallDemo() {
    demo::DemoOptions o;
    o.chestImages = 6;
    o.ctVolumes = 2;
    o.angioStudies = 3;
    o.predictionStudies = 10;
    return o;
}

}  // namespace

class TestDicomIndex : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    fs::path m_demo;
    demo::DemoSummary m_summary;

    fs::path db(const std::string& name) const { return fs::path(m_dir.path().toStdString()) / name; }

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        m_demo = fs::path(m_dir.path().toStdString()) / "demo";
        m_summary = demo::createDemoWorkspace(m_demo, smallDemo());
        QVERIFY(m_summary.angioCines == 9);  // studies of 2, 3 and 4 views
        QVERIFY(m_summary.ctDicomSlices > 0);
    }

    void scansTheDemoWorkspace() {
        const auto ws = runs::Workspace::open(m_demo);
        // The run store and the index share the workspace file; neither breaks the other.
        runs::RunStore store(ws.database());
        const auto run = store.createRun("demo", "before", "", "", "{}");
        DicomIndex index(ws.database());
        QCOMPARE(index.schemaVersion(), DicomIndex::kSchemaVersion);
        std::vector<double> fractions;
        const auto r = index.scan(m_demo, [&](double f, const std::string&) {
            fractions.push_back(f);
            return true;
        });
        QVERIFY(!r.cancelled);
        QCOMPARE(r.added, m_summary.ctDicomSlices + m_summary.angioCines);
        QCOMPARE(r.unreadable, 0);
        QCOMPARE(r.updated, 0);
        QVERIFY2(r.skipped >= m_summary.chestImages, "PNG, CSV and NIfTI files are skipped, not listed");
        QVERIFY(index.unreadable().empty());
        QVERIFY(fractions.size() >= 2);
        QCOMPARE(fractions.back(), 1.0);
        QVERIFY(std::is_sorted(fractions.begin(), fractions.end()));

        // Hierarchy: 1 CT patient + 3 angio patients.
        const auto patients = index.patients();
        QCOMPARE(int(patients.size()), 1 + 3);
        int cines = 0, ctSlices = 0;
        for (const auto& p : patients) {
            const auto studies = index.studies(p.patientId);
            QCOMPARE(int(studies.size()), 1);
            QCOMPARE(p.studies, 1);
            QVERIFY(p.patientName.rfind("Demo^", 0) == 0);
            for (const auto& st : studies) {
                for (const auto& se : index.series(st.studyUid)) {
                    const auto inst = index.instances(se.seriesUid);
                    QCOMPARE(int(inst.size()), se.instances);
                    if (se.modality == "XA") {
                        QCOMPARE(st.date, std::string("20240103"));
                        QCOMPARE(st.description, std::string("Synthetic coronary angiography"));
                        QCOMPARE(se.instances, 1);
                        QVERIFY2(se.description.rfind("Left coronary ", 0) == 0 ||
                                     se.description.rfind("Right coronary ", 0) == 0,
                                 se.description.c_str());
                        QVERIFY(inst[0].frames > 1);
                        QCOMPARE(se.frames, inst[0].frames);
                        QVERIFY(inst[0].frameTimeMs.has_value());
                        QCOMPARE(*inst[0].frameTimeMs, 66.7);
                        QCOMPARE(inst[0].photometric, std::string("MONOCHROME2"));
                        QVERIFY(inst[0].path.is_absolute() && fs::exists(inst[0].path));
                        ++cines;
                    } else {
                        QCOMPARE(se.modality, std::string("CT"));
                        QCOMPARE(se.description, std::string("Axial 2.5 mm"));
                        QCOMPARE(se.number.value_or(-1), 1L);
                        for (std::size_t k = 0; k < inst.size(); ++k) {
                            QCOMPARE(inst[k].number.value_or(-1), long(k + 1));  // sorted by InstanceNumber
                            QCOMPARE(inst[k].frames, 1L);
                            QCOMPARE(inst[k].windowCenter.value_or(0), 40.0);
                            QCOMPARE(inst[k].windowWidth.value_or(0), 400.0);
                            QCOMPARE(inst[k].rows, 64);
                            QVERIFY(!inst[k].frameTimeMs);
                        }
                        ctSlices += int(inst.size());
                    }
                }
            }
        }
        QCOMPARE(cines, m_summary.angioCines);
        QCOMPARE(ctSlices, m_summary.ctDicomSlices);

        // The run store still works on the same file, before and after.
        store.logMetric(run, "loss", 1, 0.5);
        QCOMPARE(int(store.metrics(run).size()), 1);
        runs::RunStore reopened(ws.database());
        QCOMPARE(int(reopened.runs().size()), 1);
        QCOMPARE(reopened.schemaVersion(), 1);
    }

    void rescanIsIncremental() {
        const auto dbFile = db("incremental.db");
        const fs::path tree = fs::path(m_dir.path().toStdString()) / "incremental";
        fs::create_directories(tree / "sub");
        for (const auto& e : fs::directory_iterator(m_demo / "angio" / "studies"))
            fs::copy(e.path(), tree / "sub" / e.path().filename(), fs::copy_options::recursive);
        DicomIndex index(dbFile);
        const auto first = index.scan(tree);
        QCOMPARE(first.added, m_summary.angioCines);

        const auto again = index.scan(tree);
        QCOMPARE(again.added, 0);
        QCOMPARE(again.updated, 0);
        QCOMPARE(again.unchanged, m_summary.angioCines);

        // Change one file (size and mtime), remove one, add a broken one and a truncated one.
        std::vector<fs::path> cinesOnDisk;
        for (const auto& e : fs::recursive_directory_iterator(tree))
            if (e.is_regular_file()) cinesOnDisk.push_back(e.path());
        std::sort(cinesOnDisk.begin(), cinesOnDisk.end());
        const std::string bytes = readBytes(cinesOnDisk[0]);
        writeBytes(cinesOnDisk[0], bytes + std::string(16, '\0'));
        fs::last_write_time(cinesOnDisk[0], fs::last_write_time(cinesOnDisk[0]) + std::chrono::seconds(5));
        fs::remove(cinesOnDisk[1]);
        writeBytes(tree / "garbage.dcm", "this is not DICOM at all");
        writeBytes(tree / "truncated.dcm", bytes.substr(0, 200));
        writeBytes(tree / "notes.txt", "not looked at");

        const auto third = index.scan(tree);
        QCOMPARE(third.updated, 1);
        QCOMPARE(third.removed, 1);
        QCOMPARE(third.unreadable, 2);
        QCOMPARE(third.skipped, 1);
        QCOMPARE(third.unchanged, m_summary.angioCines - 2);
        QVERIFY(!index.instance(cinesOnDisk[1]).has_value());
        QVERIFY(index.instance(cinesOnDisk[0]).has_value());
        QCOMPARE(index.instanceCount(), m_summary.angioCines - 1);
        const auto bad = index.unreadable();
        QCOMPARE(int(bad.size()), 2);
        for (const auto& u : bad) {
            QVERIFY2(!u.reason.empty(), u.path.c_str());
            QVERIFY(u.path.filename() == "garbage.dcm" || u.path.filename() == "truncated.dcm");
        }
        // Unreadable files are remembered too: unchanged, they are not read again.
        const auto fourth = index.scan(tree);
        QCOMPARE(fourth.unreadable, 0);
        QCOMPARE(fourth.unchanged, m_summary.angioCines - 1 + 2);
        QCOMPARE(int(index.unreadable().size()), 2);
        // The deleted view's series is gone from the hierarchy.
        int series = 0;
        for (const auto& p : index.patients())
            for (const auto& st : index.studies(p.patientId)) series += int(index.series(st.studyUid).size());
        QCOMPARE(series, m_summary.angioCines - 1);

        // Forgetting a folder empties the index of it.
        index.forget(tree);
        QCOMPARE(index.instanceCount(), 0);
        QVERIFY(index.patients().empty());
        QVERIFY(index.unreadable().empty());
    }

    // Scanning a folder that holds the workspace's database must not open lumen.db (or its
    // -wal/-shm): closing any descriptor of it drops this process's SQLite locks, and the next
    // process to close its connection then deletes the WAL under ours.
    void scanningAWorkspaceKeepsItsDatabaseLocks() {
        const fs::path ws = fs::path(m_dir.path().toStdString()) / "locks";
        fs::create_directories(ws / "angio");
        for (const auto& e : fs::directory_iterator(m_demo / "angio" / "studies"))
            fs::copy(e.path(), ws / "angio" / e.path().filename(), fs::copy_options::recursive);
        const auto dbFile = runs::Workspace::open(ws).database();
        runs::RunStore store(dbFile);
        store.createRun("demo", "before the scan", "", "", "{}");
        DicomIndex index(dbFile);
        const QString db = QString::fromStdString(dbFile.string());
        QVERIFY(QFileInfo::exists(db + "-wal"));
        const auto r = index.scan(ws);
        QCOMPARE(r.added, m_summary.angioCines);
        QCOMPARE(r.unreadable, 0);
        QVERIFY(index.unreadable().empty());  // lumen.db is not "a file that looks like DICOM"
        const QString lost = anotherProcessOpensAndCloses(db);
        QVERIFY2(lost.isEmpty(), qPrintable(lost));
        QCOMPARE(store.createRun("demo", "after the scan", "", "", "{}"), std::int64_t(2));
        QCOMPARE(int(store.runs().size()), 2);
    }

    void cancellationKeepsWhatWasDone() {
        DicomIndex index(db("cancel.db"));
        int calls = 0;
        const auto r = index.scan(m_demo, [&](double, const std::string&) { return ++calls < 3; });
        QVERIFY(r.cancelled);
        QVERIFY(r.added < m_summary.ctDicomSlices + m_summary.angioCines);
        const int partial = index.instanceCount();
        QCOMPARE(partial, r.added);
        const auto full = index.scan(m_demo);
        QVERIFY(!full.cancelled);
        QCOMPARE(full.added + partial, m_summary.ctDicomSlices + m_summary.angioCines);
        QCOMPARE(full.removed, 0);
    }

    void badFolderAndNewerSchemaAreErrors() {
        DicomIndex index(db("errors.db"));
        bool threw = false;
        try {
            index.scan("/no/such/folder");
        } catch (const DicomIndexError& e) {
            threw = std::string(e.what()).find("/no/such/folder") != std::string::npos;
        }
        QVERIFY(threw);
        {
            runs::RunStore store(db("errors.db"));  // user_version belongs to the run store
            QCOMPARE(store.schemaVersion(), 1);
        }
        // A database written by a newer Lumen is refused with the file's name.
        {
            DicomIndex again(db("errors.db"));
            QCOMPARE(again.schemaVersion(), DicomIndex::kSchemaVersion);
        }
        QProcess sqlite;
        sqlite.start("/usr/bin/python3",
                     {"-c",
                      "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                      "c.execute(\"UPDATE dicom_meta SET value='99' WHERE key='schema_version'\"); c.commit()",
                      QString::fromStdString(db("errors.db").string())});
        QVERIFY(sqlite.waitForFinished(30000) && sqlite.exitCode() == 0);
        threw = false;
        try {
            DicomIndex newer(db("errors.db"));
        } catch (const DicomIndexError& e) {
            threw = std::string(e.what()).find("errors.db") != std::string::npos &&
                    std::string(e.what()).find("newer") != std::string::npos;
        }
        QVERIFY(threw);
    }

    void headerOnlyReadIsFast() {
        // Header reads stop before Pixel Data: a multi-frame cine reads in far less time
        // than its pixels would take to load.
        fs::path cine;
        for (const auto& e : fs::recursive_directory_iterator(m_demo / "angio"))
            if (e.path().extension() == ".dcm") cine = e.path();
        QVERIFY(!cine.empty());
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 50; ++i) {
            const auto rec = readDicomIndexHeader(cine);
            QVERIFY(rec.frames > 1);
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 50;
        qInfo("header read of %s: %.3f ms (%lld bytes)", cine.filename().c_str(), ms, (long long)fs::file_size(cine));
        QVERIFY2(ms < 20, "header-only read too slow");
        QVERIFY(errorOf([] { readDicomIndexHeader("/no/such.dcm"); }).find("/no/such.dcm") != std::string::npos);
    }

    void pydicomTestFilesAgreeWithPydicom() {
        QVERIFY2(fs::is_directory(kPydicomFiles), "python3-pydicom's test files are missing");
        DicomIndex index(db("pydicom.db"));
        const auto r = index.scan(kPydicomFiles);
        qInfo("pydicom test files: %d seen, %d indexed, %d unreadable, %d skipped, %.2f s", r.seen, r.added,
              r.unreadable, r.skipped, r.seconds);
        QVERIFY(r.added >= 60);
        const auto ref = runPython(kPydicomHeaders, {QString::fromStdString(kPydicomFiles.string())});

        std::map<std::string, DicomInstanceRecord> ours;
        std::map<std::string, std::string> ourSeries;                         // path -> modality
        std::map<std::string, std::pair<std::string, std::string>> ourStudy;  // path -> (study uid, patient)
        for (const auto& p : index.patients())
            for (const auto& st : index.studies(p.patientId))
                for (const auto& se : index.series(st.studyUid))
                    for (const auto& in : index.instances(se.seriesUid)) {
                        ours[in.path.string()] = in;
                        ourSeries[in.path.string()] = se.modality;
                        ourStudy[in.path.string()] = {st.studyUid, p.patientId};
                    }
        QCOMPARE(int(ours.size()), r.added);

        int compared = 0, multiFrame = 0;
        for (const auto& [path, in] : ours) {
            QVERIFY2(ref.contains(path), path.c_str());
            const auto& py = ref[path];
            QVERIFY2(!py.contains("error"), (path + ": we read it, pydicom did not").c_str());
            const std::string where = path + ": ";
            QVERIFY2(in.sopInstanceUid == py["sop"].get<std::string>(), (where + in.sopInstanceUid).c_str());
            QCOMPARE(in.seriesUid, py["series"].get<std::string>());
            QCOMPARE(ourStudy[path].first, py["study"].get<std::string>());
            QCOMPARE(ourStudy[path].second, py["patient"].get<std::string>());
            QCOMPARE(ourSeries[path], py["modality"].get<std::string>());
            QCOMPARE(in.rows, py["rows"].is_null() ? 0 : int(py["rows"].get<double>()));
            QCOMPARE(in.columns, py["columns"].is_null() ? 0 : int(py["columns"].get<double>()));
            if (in.rows > 0) {
                const long frames = py["frames"].is_null() ? 1 : std::max(1L, long(py["frames"].get<double>()));
                QVERIFY2(in.frames == frames, (where + "frames " + std::to_string(in.frames)).c_str());
                if (frames > 1) ++multiFrame;
            }
            if (!py["instance"].is_null()) QCOMPARE(double(in.number.value_or(-999)), py["instance"].get<double>());
            else QVERIFY(!in.number);
            if (in.windowCenter) QCOMPARE(*in.windowCenter, py["wc"].get<double>());
            if (!py["frame_time"].is_null() && py["frame_time"].get<double>() > 0)
                QCOMPARE(in.frameTimeMs.value_or(-1), py["frame_time"].get<double>());
            ++compared;
        }
        QVERIFY(multiFrame >= 5);
        // Every file pydicom reads as an instance with UIDs is indexed by us too (or we say why not).
        std::set<std::string> unreadable;
        for (const auto& u : index.unreadable()) {
            QVERIFY2(!u.reason.empty(), u.path.c_str());
            unreadable.insert(u.path.string());
        }
        int missed = 0;
        for (const auto& [path, py] : ref.items()) {
            if (py.contains("error") || py["dicomdir"].get<bool>()) continue;
            if (py["study"].get<std::string>().empty() || py["series"].get<std::string>().empty()) {
                QVERIFY2(unreadable.count(path) || !ours.count(path), path.c_str());
                continue;
            }
            // Two files pydicom is more lenient with than DCMTK (which our readers use too, so
            // listing them as unreadable says what the viewer could do with them).
            const std::string name = fs::path(path).filename().string();
            if (name == "SC_rgb_jpeg.dcm" || name == "rtplan_truncated.dcm") {
                QVERIFY2(unreadable.count(path), path.c_str());
                continue;
            }
            if (!ours.count(path)) {
                ++missed;
                qWarning("pydicom reads %s, the index has it as: %s", path.c_str(),
                         unreadable.count(path) ? "unreadable" : "skipped");
            }
        }
        QCOMPARE(missed, 0);
        qInfo("compared %d instances with pydicom (%d multi-frame), %zu listed unreadable", compared, multiFrame,
              unreadable.size());
    }
};

QTEST_GUILESS_MAIN(TestDicomIndex)
#include "test_dicom_index.moc"
