// core/data/angio_manifest: rows grouped into studies, labels per study with empty = not
// labelled (NaN, never 0), every malformed cell named by file:line:column, disagreeing rows
// named by both lines; a DICOM folder grouped by StudyInstanceUID (files made by pydicom).
#include "data/angio_manifest.h"

#include "data_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using namespace lumen::data;

namespace {

std::string errorOf(const std::filesystem::path& csv) {
    try {
        readAngioManifest(csv);
    } catch (const DataError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

class TestAngioManifest : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    std::filesystem::path write(const std::string& name, const std::string& text) {
        return writeTextFile(dir_, name, text);
    }

private slots:
    void rowsGroupIntoStudies() {
        const auto csv = write("m.csv",
                               "study_id,patient_id,path,view,split,prox_rca_stenosis,prox_rca_stenosis_binary,"
                               "lcx_cto,FrameTime\n"
                               "S1,P1,a.dcm,LAO 30,train,80,1,,66\n"
                               "S2,P2,/abs/b.avi,,val,,,0,66\n"
                               "S1,P1,c.dcm,RAO 20,,80,,,66\n");
        const AngioManifest m = readAngioManifest(csv);
        QCOMPARE(m.studies.size(), std::size_t(2));
        const AngioStudy& s1 = m.studies[0];
        QCOMPARE(s1.studyId, std::string("S1"));
        QCOMPARE(s1.split, std::string("train"));  // the row without a split agrees
        QCOMPARE(s1.videos.size(), std::size_t(2));
        QCOMPARE(s1.videos[1].view, std::string("RAO 20"));
        QCOMPARE(s1.videos[1].line, std::size_t(4));
        QCOMPARE(m.resolve(s1.videos[0]).string(), (csv.parent_path() / "a.dcm").string());
        QCOMPARE(m.resolve(m.studies[1].videos[0]).string(), std::string("/abs/b.avi"));
        // prox_rca is segment 10: columns 50 (stenosis) and 51 (binary); lcx (6) cto = 33.
        QCOMPARE(s1.labels.size(), std::size_t(90));
        QCOMPARE(s1.labels[50], 80.0);
        QCOMPARE(s1.labels[51], 1.0);
        QVERIFY(std::isnan(s1.labels[33]));  // empty: not labelled, not a zero
        QCOMPARE(m.studies[1].labels[33], 0.0);
        QVERIFY(std::isnan(m.studies[1].labels[50]));
        QCOMPARE(m.labelledCount(), std::size_t(3));
        QCOMPARE(m.ignoredColumns, std::vector<std::string>{"FrameTime"});
        QCOMPARE(m.labelColumns.size(), std::size_t(3));
        QCOMPARE(m.split("val").size(), std::size_t(1));
        const auto cols = m.outputColumns();
        QCOMPARE(cols.size(), std::size_t(90));
        QCOMPARE(cols[0], std::string("left_main_stenosis"));
        QCOMPARE(cols[51], std::string("prox_rca_stenosis_binary"));
        QCOMPARE(cols[89], std::string("lima_or_svg_thrombus"));
    }

    void errorsNameFileLineAndColumn() {
        const std::string head = "study_id,patient_id,path,mid_lad_stenosis,mid_lad_cto\n";
        struct Case {
            const char* name;
            std::string text, expected;
        };
        const std::vector<Case> cases = {
            {"nostudy", "patient_id,path\nP,a.dcm\n", "no study_id column"},
            {"nopath", "study_id,patient_id\nS,P\n", "no path column"},
            {"emptyid", head + ",P,a.dcm,,\n", ":2: column 1 (study_id): empty study id"},
            {"emptypath", head + "S,P,,,\n", ":2: column 3 (path): empty path"},
            {"text", head + "S,P,a.dcm,severe,\n", ":2: column 4 (mid_lad_stenosis): \"severe\" is not a number"},
            {"range", head + "S,P,a.dcm,120,\n", ":2: column 4 (mid_lad_stenosis): stenosis 120 % is outside 0..100"},
            {"binary", head + "S,P,a.dcm,,0.5\n", ":2: column 5 (mid_lad_cto): \"0.5\" is not 0 or 1"},
            {"disagree", head + "S,P,a.dcm,50,\nS,P,b.dcm,70,\n",
             ":3: column 4 (mid_lad_stenosis): 70 disagrees with 50 on line 2 for study S"},
            {"patient", head + "S,P,a.dcm,,\nS,Q,b.dcm,,\n",
             ":3: column 2 (patient_id): \"Q\" disagrees with \"P\" on line 2 for the same study"},
            {"fields", head + "S,P,a.dcm\n", ":2: 3 fields, the header has 5"},
            {"headeronly", head, "no rows (a header only)"},
        };
        for (const auto& c : cases) {
            const auto csv = write(std::string(c.name) + ".csv", c.text);
            const std::string e = errorOf(csv);
            QVERIFY2(e.rfind(csv.string(), 0) == 0 && e.find(c.expected) != std::string::npos,
                     (std::string(c.name) + ": " + e).c_str());
        }
    }

    void projectionNames() {
        QCOMPARE(projectionName(30, 20), std::string("LAO 30 CRA 20"));
        QCOMPARE(projectionName(-29.6, -25), std::string("RAO 30 CAU 25"));
        QCOMPARE(projectionName(0, 40), std::string("CRA 40"));
        QCOMPARE(projectionName(0.2, 0), std::string("AP"));
    }

    void dicomFolderGroupsByStudyInstanceUid() {
        const std::filesystem::path folder = dir_.filePath("dicom").toStdString();
        std::filesystem::create_directories(folder / "sub");
        lumen::datatest::runPython(
            R"PY(
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from cine_maker import write_cine
root = sys.argv[1]
def cine(name, study, patient, frames, angles):
    write_cine(root + '/' + name, np.zeros((frames, 8, 8), np.uint8), study, patient, angles)
cine('a1.dcm', '1.2.3.1', 'P1', 4, (30, 20))
cine('sub/a2.dcm', '1.2.3.1', 'P1', 4, (-30, -25))
cine('b1.dcm', '1.2.3.2', 'P2', 6, None)
cine('still.dcm', '1.2.3.3', 'P3', 1, None)
open(root + '/broken.dcm', 'wb').write(b'not a dicom file')
open(root + '/notes.txt', 'w').write('x')
print('{}')
)PY",
            {QString::fromStdString(folder.string()), QStringLiteral(LUMEN_SOURCE_DIR "/tests")});
        std::vector<std::string> skipped;
        const AngioManifest m = angioManifestOfDicomFolder(folder, &skipped);
        QCOMPARE(m.studies.size(), std::size_t(2));  // the single-frame image is not a cine
        QCOMPARE(m.studies[0].studyId, std::string("1.2.3.1"));
        QCOMPARE(m.studies[0].patientId, std::string("P1"));
        QCOMPARE(m.studies[0].videos.size(), std::size_t(2));
        QCOMPARE(m.studies[0].videos[0].view, std::string("LAO 30 CRA 20"));
        QCOMPARE(m.studies[0].videos[1].view, std::string("RAO 30 CAU 25"));
        QVERIFY(m.studies[0].videos[1].path.find("sub/a2.dcm") != std::string::npos);
        QCOMPARE(m.studies[1].videos.size(), std::size_t(1));
        QCOMPARE(m.studies[1].videos[0].view, std::string());
        QCOMPARE(skipped.size(), std::size_t(1));
        QVERIFY2(skipped[0].find("broken.dcm") != std::string::npos, skipped[0].c_str());
        QCOMPARE(m.labelledCount(), std::size_t(0));
        const std::filesystem::path empty = dir_.filePath("empty").toStdString();
        std::filesystem::create_directories(empty);
        try {
            angioManifestOfDicomFolder(empty);
            QFAIL("an empty folder was accepted");
        } catch (const DataError& e) {
            QVERIFY(std::string(e.what()).find("no multi-frame DICOM") != std::string::npos);
        }
    }
};

QTEST_GUILESS_MAIN(TestAngioManifest)
#include "test_angio_manifest.moc"
