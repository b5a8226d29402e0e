// Qt Test suite for core/demo: the demo-workspace generator's layout, formats, determinism,
// cancellation and errors, plus an independent cross-check with pandas/nibabel/pydicom.
#include "demo/demo_workspace.h"
#include "jobs/job_pool.h"

#include "test_support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace lumen;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kNihHeader =
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],";
const std::set<std::string> kNihFindings = {
    "Atelectasis", "Cardiomegaly", "Effusion",           "Infiltration",  "Mass",
    "Nodule",      "Pneumonia",    "Pneumothorax",       "Consolidation", "Edema",
    "Emphysema",   "Fibrosis",     "Pleural_Thickening", "Hernia"};

fs::path pathOf(const QTemporaryDir& dir) { return fs::path(dir.path().toStdString()); }

std::vector<std::string> readLines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> splitCsv(const std::string& line) {
    std::vector<std::string> out;
    std::string cell;
    std::istringstream in(line);
    while (std::getline(in, cell, ',')) out.push_back(cell);
    if (!line.empty() && line.back() == ',') out.push_back({});
    return out;
}

int countFiles(const fs::path& dir, const std::string& suffix) {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (e.is_regular_file() && name.size() >= suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            ++n;
    }
    return n;
}

demo::DemoOptions smallOptions(std::uint64_t seed) {
    demo::DemoOptions o;
    o.seed = seed;
    o.chestImages = 12;
    o.ctVolumes = 2;
    o.angioStudies = 2;
    o.predictionStudies = 10;
    return o;
}

class ProgressRecorder : public jobs::JobObserver {
public:
    void onProgress(jobs::JobId, const jobs::Progress& p) override {
        std::lock_guard lock(mutex);
        fractions.push_back(p.fraction);
        messages.push_back(p.message);
        count = static_cast<int>(fractions.size());
    }
    std::mutex mutex;
    std::vector<double> fractions;
    std::vector<std::string> messages;
    std::atomic<int> count{0};
};

}  // namespace

class TestDemoWorkspace : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    demo::DemoSummary m_summary;
    double m_seconds = 0;
    std::shared_ptr<ProgressRecorder> m_progress = std::make_shared<ProgressRecorder>();

    fs::path root() const { return pathOf(m_dir); }

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        jobs::JobContext ctx(1, jobs::CancellationToken(), m_progress);
        const auto t0 = std::chrono::steady_clock::now();
        m_summary = demo::createDemoWorkspace(root(), {}, &ctx);
        m_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("default demo workspace generated in %.2f s", m_seconds);
    }

    void summaryAndDiskCountsAgree() {
        QCOMPARE(m_summary.root, root());
        QCOMPARE(m_summary.chestImages, 300);
        QCOMPARE(m_summary.ctVolumes, 16);
        QCOMPARE(m_summary.ctDicomSlices, 48);
        QCOMPARE(m_summary.angioCines, 72);  // 24 studies of 2, 3, 4, 2, ... views
        QCOMPARE(m_summary.predictionRows, 240);
        QCOMPARE(countFiles(root() / "chest_xray" / "images_001", ".png"), 300);
        QCOMPARE(countFiles(root() / "ct" / "volumes", ".nii.gz"), 16);
        QCOMPARE(countFiles(root() / "ct" / "dicom" / "ct_0001", ".dcm"), 48);
        QVERIFY(fs::is_regular_file(root() / "ct" / "dicom" / "ct_0001" / "IM0001.dcm"));
        QVERIFY(fs::is_regular_file(root() / "ct" / "volumes" / "ct_0016.nii.gz"));
        QCOMPARE(countFiles(root() / "angio" / "studies", ".dcm"), 72);

        // files: sorted, relative, every one on disk, and nothing on disk left out.
        QVERIFY(std::is_sorted(m_summary.files.begin(), m_summary.files.end()));
        std::set<fs::path> listed(m_summary.files.begin(), m_summary.files.end());
        QCOMPARE(listed.size(), m_summary.files.size());
        for (const auto& f : m_summary.files) {
            QVERIFY2(f.is_relative(), f.c_str());
            QVERIFY2(fs::is_regular_file(root() / f), f.c_str());
        }
        std::set<fs::path> onDisk;
        for (const auto& e : fs::recursive_directory_iterator(root()))
            if (e.is_regular_file()) onDisk.insert(fs::relative(e.path(), root()));
        QCOMPARE(onDisk.size(), listed.size());
        QVERIFY(onDisk == listed);
        QVERIFY(listed.count("demo.json"));
        QVERIFY(demo::isDemoWorkspace(root()));
    }

    void manifestListsEveryFileWithItsSize() {
        const auto json = QJsonDocument::fromJson(QByteArray::fromStdString(readFile(root() / "demo.json"))).object();
        QCOMPARE(json["format"].toString(), QString("lumen-demo"));
        QCOMPARE(json["version"].toInt(), 1);
        QCOMPARE(json["seed"].toInteger(), 7);
        QCOMPARE(json["options"].toObject()["chestImages"].toInt(), 300);
        const auto files = json["files"].toArray();
        QCOMPARE(files.size(), qsizetype(m_summary.files.size()) - 1);  // all but itself
        for (const auto& v : files) {
            const auto o = v.toObject();
            const fs::path p = o["path"].toString().toStdString();
            QCOMPARE(qint64(fs::file_size(root() / p)), o["size"].toInteger());
        }
    }

    void progressCoversEverySection() {
        std::lock_guard lock(m_progress->mutex);
        const auto& f = m_progress->fractions;
        QVERIFY(f.size() > 10);
        QVERIFY(std::is_sorted(f.begin(), f.end()));
        QCOMPARE(f.back(), 1.0);
        std::string all;
        for (const auto& m : m_progress->messages) all += m + "\n";
        for (const char* section : {"chest X-rays", "CT volumes", "angiography", "predictions", "ready"})
            QVERIFY2(all.find(section) != std::string::npos, section);
    }

    void nihEntryHasTheRealHeaderAndRows() {
        const auto lines = readLines(root() / "chest_xray" / "Data_Entry_2017.csv");
        QCOMPARE(lines.size(), size_t(301));
        QCOMPARE(lines[0], kNihHeader);
        QCOMPARE(splitCsv(lines[0]).size(), size_t(12));
        const std::regex name(R"((\d{8})_(\d{3})\.png)");
        int noFinding = 0;
        std::map<std::string, int> findingCounts;
        for (size_t i = 1; i < lines.size(); ++i) {
            const auto cells = splitCsv(lines[i]);
            QCOMPARE(cells.size(), size_t(12));
            QCOMPARE(cells[11], std::string());
            std::smatch m;
            QVERIFY2(std::regex_match(cells[0], m, name), cells[0].c_str());
            QCOMPARE(std::stoi(m[1].str()), std::stoi(cells[3]));  // patient id
            QCOMPARE(std::stoi(m[2].str()), std::stoi(cells[2]));  // follow-up #
            QVERIFY(fs::is_regular_file(root() / "chest_xray" / "images_001" / cells[0]));
            if (cells[1] == "No Finding") {
                ++noFinding;
            } else {
                std::istringstream labels(cells[1]);
                int n = 0;
                for (std::string l; std::getline(labels, l, '|'); ++n) {
                    QVERIFY2(kNihFindings.count(l), l.c_str());
                    ++findingCounts[l];
                }
                QVERIFY(n >= 1 && n <= 3);
            }
            QVERIFY(cells[5] == "M" || cells[5] == "F");
            QVERIFY(cells[6] == "PA" || cells[6] == "AP");
            QCOMPARE(cells[7], std::string("256"));
        }
        QVERIFY2(noFinding >= 60 && noFinding <= 120, qPrintable(QString::number(noFinding)));
        QCOMPARE(findingCounts.size(), kNihFindings.size());  // every finding present
        // Patients own several images.
        std::map<std::string, int> perPatient;
        for (size_t i = 1; i < lines.size(); ++i) ++perPatient[lines[i].substr(0, 8)];
        QVERIFY(std::any_of(perPatient.begin(), perPatient.end(), [](const auto& p) { return p.second >= 3; }));
    }

    void boxesMatchTheLabels() {
        std::set<std::pair<std::string, std::string>> labelled;
        const auto entry = readLines(root() / "chest_xray" / "Data_Entry_2017.csv");
        for (size_t i = 1; i < entry.size(); ++i) {
            const auto cells = splitCsv(entry[i]);
            std::istringstream labels(cells[1]);
            for (std::string l; std::getline(labels, l, '|');)
                if (l != "No Finding") labelled.insert({cells[0], l});
        }
        const auto lines = readLines(root() / "chest_xray" / "boxes.csv");
        QCOMPARE(lines[0], std::string("image,finding,x,y,w,h"));
        std::set<std::pair<std::string, std::string>> boxed;
        for (size_t i = 1; i < lines.size(); ++i) {
            const auto c = splitCsv(lines[i]);
            QCOMPARE(c.size(), size_t(6));
            const int x = std::stoi(c[2]), y = std::stoi(c[3]), w = std::stoi(c[4]), h = std::stoi(c[5]);
            QVERIFY(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 256 && y + h <= 256);
            boxed.insert({c[0], c[1]});
        }
        QVERIFY(boxed == labelled);
    }

    void splitsAreDisjointByPatient() {
        const auto train = readLines(root() / "chest_xray" / "train_val_list.txt");
        const auto test = readLines(root() / "chest_xray" / "test_list.txt");
        std::set<std::string> trainPatients, testPatients, all;
        for (const auto& n : train) trainPatients.insert(n.substr(0, 8)), all.insert(n);
        for (const auto& n : test) testPatients.insert(n.substr(0, 8)), all.insert(n);
        for (const auto& p : testPatients) QVERIFY2(!trainPatients.count(p), p.c_str());
        QCOMPARE(all.size(), train.size() + test.size());  // no image twice
        QCOMPARE(all.size(), size_t(300));
        const double share = double(train.size()) / 300.0;
        QVERIFY2(share > 0.7 && share < 0.9, qPrintable(QString::number(share)));
    }

    void ctLabelsAndLesionsAgree() {
        const auto labels = readLines(root() / "ct" / "labels.csv");
        QCOMPARE(labels.size(), size_t(17));
        const auto header = splitCsv(labels[0]);
        QCOMPARE(header.size(), size_t(19));
        QCOMPARE(header[0], std::string("VolumeName"));
        QCOMPARE(header[10], std::string("Lung nodule"));
        std::set<std::pair<std::string, std::string>> positive;
        for (size_t i = 1; i < labels.size(); ++i) {
            const auto c = splitCsv(labels[i]);
            QCOMPARE(c.size(), size_t(19));
            for (size_t l = 1; l < c.size(); ++l) {
                QVERIFY(c[l] == "0" || c[l] == "1");
                if (c[l] == "1") positive.insert({c[0], header[l]});
            }
        }
        const auto lesions = readLines(root() / "ct" / "lesions.csv");
        QCOMPARE(lesions[0], std::string("VolumeName,label,i,j,k,radius_vox"));
        std::set<std::pair<std::string, std::string>> planted;
        std::set<std::string> plantedLabels;
        for (size_t i = 1; i < lesions.size(); ++i) {
            const auto c = splitCsv(lesions[i]);
            QCOMPARE(c.size(), size_t(6));
            QVERIFY(std::stoi(c[2]) >= 0 && std::stoi(c[2]) < 64 && std::stoi(c[4]) >= 0 && std::stoi(c[4]) < 48);
            planted.insert({c[0], c[1]});
            plantedLabels.insert(c[1]);
        }
        QVERIFY(planted == positive);
        QVERIFY2(plantedLabels.size() >= 5, qPrintable(QString::number(plantedLabels.size())));
        for (const char* l : {"Lung nodule", "Pleural effusion", "Cardiomegaly", "Emphysema", "Consolidation"})
            QVERIFY2(plantedLabels.count(l), l);
    }

    void predictionsTablesHaveTheAuditShape() {
        const auto base = readLines(root() / "predictions" / "baseline.csv");
        const auto fresh = readLines(root() / "predictions" / "new.csv");
        QCOMPARE(base.size(), size_t(241));
        QCOMPARE(fresh.size(), size_t(240));
        QCOMPARE(base[0], fresh[0]);
        const auto header = splitCsv(base[0]);
        QCOMPARE(header.size(), size_t(91));
        QCOMPARE(header[0], std::string("study_id"));
        QCOMPARE(header[1], std::string("left_main_stenosis"));
        QCOMPARE(header[18], std::string("lima_or_svg_stenosis"));
        QCOMPARE(header[19], std::string("left_main_stenosis_binary"));
        QCOMPARE(header[90], std::string("lima_or_svg_thrombus"));
        const auto ids = [](const std::vector<std::string>& lines, int& empty) {
            std::vector<std::string> out;
            for (size_t i = 1; i < lines.size(); ++i) {
                const auto c = splitCsv(lines[i]);
                if (c.size() != 91) return std::vector<std::string>{};
                out.push_back(c[0]);
                empty += int(std::count(c.begin(), c.end(), std::string()));
            }
            return out;
        };
        int emptyBase = 0, emptyNew = 0;
        const auto baseIds = ids(base, emptyBase), newIds = ids(fresh, emptyNew);
        QCOMPARE(baseIds.size(), size_t(240));
        QCOMPARE(newIds.size(), size_t(239));
        QVERIFY(emptyBase > 0 && emptyNew > 0);
        const std::set<std::string> b(baseIds.begin(), baseIds.end()), n(newIds.begin(), newIds.end());
        int onlyBase = 0, onlyNew = 0;
        for (const auto& id : b) onlyBase += !n.count(id);
        for (const auto& id : n) onlyNew += !b.count(id);
        QCOMPARE(onlyBase, 2);
        QCOMPARE(onlyNew, 1);
        QVERIFY(std::is_sorted(baseIds.begin(), baseIds.end()));
        QVERIFY(!std::is_sorted(newIds.begin(), newIds.end()));
        for (const auto& id : baseIds) QVERIFY2(id.size() == 7 && id[0] == '0', id.c_str());
        // Every angiography study has predictions on both sides.
        const auto studies = readLines(root() / "angio" / "studies.csv");
        QCOMPARE(studies.size(), size_t(73));
        for (size_t i = 1; i < studies.size(); ++i) {
            const auto c = splitCsv(studies[i]);
            QVERIFY2(b.count(c[0]) && n.count(c[0]), c[0].c_str());
            QCOMPARE(c[2], "angio/studies/S" + c[0] + "/view" + c[1] + ".dcm");
        }
    }

    void sameSeedGivesIdenticalBytes() {
        QTemporaryDir other;
        const auto again = demo::createDemoWorkspace(pathOf(other), {});
        QCOMPARE(again.files.size(), m_summary.files.size());
        for (size_t i = 0; i < again.files.size(); ++i) {
            QCOMPARE(again.files[i], m_summary.files[i]);
            QVERIFY2(readFile(root() / again.files[i]) == readFile(pathOf(other) / again.files[i]),
                     again.files[i].c_str());
        }
    }

    void differentSeedGivesDifferentImages() {
        QTemporaryDir a, b;
        demo::createDemoWorkspace(pathOf(a), smallOptions(7));
        demo::createDemoWorkspace(pathOf(b), smallOptions(8));
        const fs::path png = fs::path("chest_xray") / "images_001" / "00000001_000.png";
        QVERIFY(fs::is_regular_file(pathOf(a) / png) && fs::is_regular_file(pathOf(b) / png));
        QVERIFY(readFile(pathOf(a) / png) != readFile(pathOf(b) / png));
    }

    void isDemoWorkspaceDetectsIncompleteDirs() {
        QTemporaryDir empty;
        QVERIFY(!demo::isDemoWorkspace(pathOf(empty)));
        QVERIFY(!demo::isDemoWorkspace(pathOf(empty) / "missing"));
        QTemporaryDir dir;
        const auto s = demo::createDemoWorkspace(pathOf(dir), smallOptions(3));
        QVERIFY(demo::isDemoWorkspace(pathOf(dir)));
        fs::remove(pathOf(dir) / "ct" / "volumes" / "ct_0002.nii.gz");
        QVERIFY(!demo::isDemoWorkspace(pathOf(dir)));
        // Regenerating repairs it; a garbled manifest is not a workspace.
        demo::createDemoWorkspace(pathOf(dir), smallOptions(3));
        QVERIFY(demo::isDemoWorkspace(pathOf(dir)));
        std::ofstream(pathOf(dir) / "demo.json") << "{not json";
        QVERIFY(!demo::isDemoWorkspace(pathOf(dir)));
    }

    void rerunRemovesStaleFilesOfALargerRun() {
        QTemporaryDir dir;
        auto big = smallOptions(5);
        big.chestImages = 20;
        demo::createDemoWorkspace(pathOf(dir), big);
        std::ofstream(pathOf(dir) / "notes.txt") << "user file";
        const auto small = demo::createDemoWorkspace(pathOf(dir), smallOptions(5));
        QCOMPARE(countFiles(pathOf(dir) / "chest_xray", ".png"), 12);
        QVERIFY(fs::is_regular_file(pathOf(dir) / "notes.txt"));  // not ours: kept
        QVERIFY(demo::isDemoWorkspace(pathOf(dir)));
        QCOMPARE(small.chestImages, 12);
    }

    void cancelledJobEndsCancelled() {
        QTemporaryDir dir;
        auto observer = std::make_shared<ProgressRecorder>();
        jobs::JobPool pool(1);
        const auto id = pool.submit(
            "demo", "demo workspace",
            [&](jobs::JobContext& ctx) {
                const auto s = demo::createDemoWorkspace(pathOf(dir), {}, &ctx);
                return std::to_string(s.files.size());
            },
            observer);
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (observer->count < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
        QVERIFY(observer->count >= 3);
        QVERIFY(pool.cancel(id));
        QVERIFY(pool.wait(id, 30000ms));
        QCOMPARE(pool.info(id)->state, jobs::JobState::Cancelled);
        QVERIFY(!demo::isDemoWorkspace(pathOf(dir)));
        {
            std::lock_guard lock(observer->mutex);
            QVERIFY(observer->fractions.back() < 1.0);
        }
        // Calling it directly with a cancelled token throws Cancelled.
        jobs::CancellationToken token;
        token.cancel();
        jobs::JobContext ctx(2, token, nullptr);
        QVERIFY_THROWS_EXCEPTION(jobs::Cancelled, demo::createDemoWorkspace(pathOf(dir), smallOptions(1), &ctx));
    }

    void unwritableTargetNamesThePath() {
        QTemporaryDir dir;
        // A regular file where a directory should be: fails even for root, unlike chmod.
        std::ofstream(pathOf(dir) / "blocker") << "x";
        const fs::path target = pathOf(dir) / "blocker" / "workspace";
        try {
            demo::createDemoWorkspace(target, smallOptions(1));
            QFAIL("expected an error");
        } catch (const std::runtime_error& e) {
            QVERIFY2(std::string(e.what()).find(target.string()) != std::string::npos, e.what());
        }
        // A file in the way of a file the generator must create.
        QTemporaryDir dir2;
        fs::create_directories(pathOf(dir2) / "predictions" / "baseline.csv");
        try {
            demo::createDemoWorkspace(pathOf(dir2), smallOptions(1));
            QFAIL("expected an error");
        } catch (const std::runtime_error& e) {
            QVERIFY2(std::string(e.what()).find("baseline.csv") != std::string::npos, e.what());
        }
        QVERIFY(!demo::isDemoWorkspace(pathOf(dir2)));
    }

    void rejectsOptionsOutOfRange() {
        QTemporaryDir dir;
        auto o = smallOptions(1);
        o.chestImages = -1;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, demo::createDemoWorkspace(pathOf(dir), o));
        o = smallOptions(1);
        o.imageSize = 8;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, demo::createDemoWorkspace(pathOf(dir), o));
    }

    void emptySectionsStillMakeAWorkspace() {
        QTemporaryDir dir;
        demo::DemoOptions o;
        o.chestImages = o.ctVolumes = o.angioStudies = o.predictionStudies = 0;
        const auto s = demo::createDemoWorkspace(pathOf(dir), o);
        QCOMPARE(s.ctDicomSlices, 0);
        QCOMPARE(readLines(pathOf(dir) / "chest_xray" / "Data_Entry_2017.csv").size(), size_t(1));
        QVERIFY(demo::isDemoWorkspace(pathOf(dir)));
    }

    void pythonReadersAgree() {
        const QString python = qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3");
        const QString script = QStringLiteral(LUMEN_SOURCE_DIR "/tests/core/check_demo_workspace.py");
        QVERIFY2(QFileInfo::exists(python),
                 qPrintable(python + " is missing: install python3 with python3-pandas, python3-nibabel, "
                                     "python3-pydicom (scripts/install-deps.sh)"));
        QVERIFY2(QFileInfo::exists(script), qPrintable(script));
        QProcess p;
        p.start(python, {script, QString::fromStdString(root().string())});
        QVERIFY2(p.waitForFinished(120000), "the Python cross-check did not finish in 2 minutes");
        const QByteArray out = p.readAllStandardOutput(), err = p.readAllStandardError();
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0,
                 qPrintable(
                     QString("exit %1\n%2\n%3").arg(p.exitCode()).arg(QString::fromUtf8(out), QString::fromUtf8(err))));
        QJsonParseError parseError;
        const auto json = QJsonDocument::fromJson(out, &parseError).object();
        QVERIFY2(parseError.error == QJsonParseError::NoError, qPrintable(parseError.errorString() + "\n" + out));
        QVERIFY(json["ok"].toBool());
        QVERIFY(json["errors"].toArray().isEmpty());

        const auto pred = json["predictions"].toObject();
        QCOMPARE(pred["columns"].toInt(), 91);
        QCOMPARE(pred["baseline_rows"].toInt(), 240);
        QCOMPARE(pred["new_rows"].toInt(), 239);
        QCOMPARE(pred["only_baseline"].toInt(), 2);
        QCOMPARE(pred["only_new"].toInt(), 1);
        QCOMPARE(pred["leading_zero_ids"].toInt(), 240);
        QVERIFY(pred["audit_pass"].toBool());
        QVERIFY(pred["min_r"].toDouble() >= 0.999);
        QVERIFY(pred["max_mae"].toDouble() < 0.1);

        const auto ct = json["ct"].toObject();
        QCOMPARE(ct["shape"].toArray(), QJsonArray({64, 64, 48}));
        QCOMPARE(ct["zooms"].toArray(), QJsonArray({1.5, 1.5, 2.5}));
        QCOMPARE(ct["axcodes"].toString(), QString("RAS"));
        const auto nodule = ct["nodule"].toObject();
        QVERIFY(nodule["centre_hu"].toDouble() > nodule["surrounding_hu"].toDouble() + 300);

        const auto dicom = json["ct_dicom"].toObject();
        QCOMPARE(dicom["slices"].toInt(), 48);
        QVERIFY(dicom["z_increasing"].toBool());
        QCOMPARE(dicom["mismatched_voxels"].toInt(), 0);
        QCOMPARE(dicom["rescale"].toArray(), QJsonArray({1.0, -1024.0}));

        const auto angio = json["angio"].toObject();
        QCOMPARE(angio["cines"].toInt(), 72);
        QCOMPARE(angio["number_of_frames"].toInt(), 16);
        QCOMPARE(angio["shapes"].toArray(), QJsonArray({QJsonArray({16, 128, 128})}));
        QCOMPARE(angio["labelled_studies"].toInt(), 24);  // manifest.csv agrees with findings.csv
        QCOMPARE(angio["label_mismatches"].toInt(), 0);
        QVERIFY(angio["severe_narrowings"].toInt() > 0);

        const auto chest = json["chest"].toObject();
        QCOMPARE(chest["images"].toInt(), 300);
        QCOMPARE(chest["columns"].toInt(), 12);
        QCOMPARE(chest["findings"].toInt(), 14);
        QVERIFY(json["manifest"].toObject()["sizes_match"].toBool());
    }

    void generationIsQuick() {
        // "Built in seconds" on a 2-core machine; generous so a loaded CI host does not flake.
        QVERIFY2(m_seconds < 20.0, qPrintable(QString::number(m_seconds)));
    }
};

QTEST_GUILESS_MAIN(TestDemoWorkspace)
#include "test_demo_workspace.moc"
