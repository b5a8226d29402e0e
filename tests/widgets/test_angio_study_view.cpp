// The angiography study view: a preds.json of two studies whose cines (written by pydicom)
// have different frame counts and Frame Times play in sync, each at its own rate; the tiles
// carry the attention weights and the top one is marked; the coronary tree colours segments by
// stenosis and marks CTO / thrombus / calcification; a click on a segment fills its five
// predictions beside the baseline CSV; the tree exports as SVG; heads a preds.json lists as
// untrained are grey, unmarked and never opened on; a preds.json of another task is refused
// with a message naming the file.
#include "angio_study_view.h"
#include "coronary_tree.h"

#include "test_support.h"

#include <nlohmann/json.hpp>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QListWidget>
#include <QProcess>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace lumen::widgets;

class TestAngioStudyView : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString preds_, baseline_;

    QString path(const QString& name) const { return dir_.filePath(name); }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        // Two cines: 10 frames at 50 ms and 8 frames at 100 ms; frame k's pixels are all 20 k.
        QProcess py;
        py.start("/usr/bin/python3",
                 {"-c",
                  "import sys, numpy as np\nsys.path.insert(0, sys.argv[2])\nfrom cine_maker import write_cine\n"
                  "for name, n, ft in (('a.dcm', 10, 50.0), ('b.dcm', 8, 100.0)):\n"
                  "    f = np.stack([np.full((24, 32), 20 * k, np.uint8) for k in range(n)])\n"
                  "    write_cine(sys.argv[1] + '/' + name, f, '1.2.3', 'P1', (30, 20), ft)\n"
                  "import os\nos.makedirs(sys.argv[1] + '/cams')\n"
                  "cam = np.zeros((2, 2, 3, 4), np.float32)\ncam[0, 1, :, 3] = 1\ncam[1, 0, 0, 0] = 1\n"
                  "np.save(sys.argv[1] + '/cams/S1__prox_lad_stenosis_binary.npy', cam)\n",
                  dir_.path(), QString(LUMEN_SOURCE_DIR) + "/tests"});
        QVERIFY(py.waitForFinished(60000));
        QVERIFY2(py.exitCode() == 0, py.readAllStandardError().constData());
        nlohmann::json doc;
        doc["task"] = "angio_multiview";
        nlohmann::json s1 = {{"study_id", "S1"}};
        s1["views"] = {
            {{"path", "a.dcm"}, {"file", path("a.dcm").toStdString()}, {"view", "LAO 30 CRA 20"}, {"attention", 0.3}},
            {{"path", "b.dcm"}, {"file", path("b.dcm").toStdString()}, {"view", "RAO 30"}, {"attention", 0.7}}};
        s1["predictions"] = {{"prox_lad_stenosis", 85.0}, {"prox_lad_stenosis_binary", 0.9},
                             {"lcx_stenosis", 10.0},      {"lcx_cto", 0.8},
                             {"prox_rca_thrombus", 0.6},  {"prox_rca_stenosis", 40.0}};
        // The CAM's rows: view slot 1 (clip from frame 2), then slot 0 (from frame 0).
        s1["cams"]["prox_lad_stenosis_binary"] = {
            {"file", "cams/S1__prox_lad_stenosis_binary.npy"},
            {"shape", {2, 2, 3, 4}},
            {"views", {{{"slot", 1}, {"clip_start", 2}}, {{"slot", 0}, {"clip_start", 0}}}}};
        doc["cam"] = {{"method", "gradcam"}, {"frames", 4}, {"stride", 2}};
        nlohmann::json s2 = {{"study_id", "S2"}};
        s2["views"] = {{{"path", "missing.dcm"}, {"file", path("missing.dcm").toStdString()}, {"attention", 1.0}}};
        s2["predictions"] = nlohmann::json::object();
        doc["predictions"] = {s1, s2};
        preds_ = path("preds.json");
        std::ofstream(preds_.toStdString()) << doc.dump();
        baseline_ = path("baseline.csv");
        std::ofstream(baseline_.toStdString()) << "study_id,prox_lad_stenosis,prox_lad_stenosis_binary\nS1,80,0.7\n";
    }

    void playsEveryViewAtItsOwnFrameTime() {
        AngioStudyView v;
        v.resize(1366, 700);
        v.show();
        QSignalSpy shown(&v, &AngioStudyView::studyShown);
        QVERIFY(v.openPredictions(preds_));
        QCOMPARE(v.studies(), QStringList({"S1", "S2"}));
        QVERIFY(shown.wait(20000));
        QCOMPARE(shown.last().at(0).toString(), QString("S1"));
        QCOMPARE(v.tiles().size(), std::size_t(2));
        QCOMPARE(v.tiles()[0]->frameCount(), 10);
        QCOMPARE(v.tiles()[1]->frameTimeMs(), 100.0);
        QCOMPARE(v.durationMs(), 800.0);  // the longest cine: 8 x 100 ms
        v.setTimeMs(420);
        QCOMPARE(v.tiles()[0]->frame(), 8);  // 420 / 50
        QCOMPARE(v.tiles()[1]->frame(), 4);  // 420 / 100
        v.setTimeMs(650);
        QCOMPARE(v.tiles()[0]->frame(), 3);  // the 500 ms cine loops: 650 / 50 = 13 -> 13 mod 10
        // Playing advances the shared clock.
        v.setTimeMs(0);
        v.play();
        QVERIFY(v.isPlaying());
        QTRY_VERIFY_WITH_TIMEOUT(v.tiles()[0]->frame() >= 2, 5000);
        v.pause();
        QVERIFY(!v.isPlaying());
        // Attention: ranked, the top view first.
        QCOMPARE(v.viewRanking()->count(), 2);
        QVERIFY(v.viewRanking()->item(0)->text().contains("View 2"));
        v.setWindow(100, 50);
        QCOMPARE(v.findChild<QDoubleSpinBox*>("angioWidth")->value(), 50.0);
        // Fits a 1366 x 768 window's page area (about 1340 x 470 beside the docks).
        QVERIFY(v.minimumSizeHint().height() <= 470);
        QVERIFY(!v.hasHeightForWidth());
        QImage shot = v.grab().toImage();
        QVERIFY(!shot.isNull());
        shot.save(path("angio_view.png"));
        // A study whose cine is missing: the tile says so, the app keeps going.
        QVERIFY(v.selectStudy("S2"));
        QVERIFY(shown.wait(20000));
        QVERIFY2(v.statusText().contains("missing.dcm"), qPrintable(v.statusText()));
    }

    void overlaysTheVideoCam() {
        AngioStudyView v;
        v.resize(1366, 700);
        v.show();
        QSignalSpy shown(&v, &AngioStudyView::studyShown);
        QVERIFY(v.openPredictions(preds_));
        QVERIFY(shown.wait(20000));
        QCOMPARE(v.camBox()->count(), 2);  // none + the one column
        QVERIFY(v.camBox()->isEnabled());
        CineTile* b = v.tiles()[1];
        QVERIFY(!b->hasCam());
        QVERIFY(v.showCam("prox_lad_stenosis_binary"));
        QVERIFY(b->hasCam() && v.tiles()[0]->hasCam());
        // Slot 1's clip: frames 2, 4, 6, 8 (stride 2) over the CAM's 2 time steps.
        QCOMPARE(b->camIndexAt(2), 0);
        QCOMPARE(b->camIndexAt(4), 0);
        QCOMPARE(b->camIndexAt(6), 1);
        QCOMPARE(b->camIndexAt(8), 1);
        for (int outside : {0, 3, 10}) QCOMPARE(b->camIndexAt(outside), -1);
        // Drawn only where the clip covers the frame: colour below the header at frame 6, none at 0.
        const auto coloured = [](CineTile* tile) {
            const QImage img = tile->grab().toImage();
            int n = 0;
            for (int y = 28; y < img.height() - 6; ++y)
                for (int x = 6; x < img.width() - 6; ++x) {
                    const QColor c = img.pixelColor(x, y);
                    n += std::abs(c.red() - c.blue()) > 40;
                }
            return n;
        };
        v.setTimeMs(600);  // b at frame 6
        QCOMPARE(b->frame(), 6);
        QVERIFY2(coloured(b) > 20, qPrintable(QString::number(coloured(b))));
        v.setTimeMs(0);
        QCOMPARE(coloured(b), 0);
        v.setTimeMs(600);
        QVERIFY(v.showCam(""));  // none
        QVERIFY(!b->hasCam());
        QCOMPARE(coloured(b), 0);
        // Clicking a segment of the tree shows its stenosis CAM when one was computed.
        QTest::mouseClick(v.tree(), Qt::LeftButton, {}, v.tree()->segmentCentre("prox_lad").toPoint());
        QVERIFY(b->hasCam());
        QCOMPARE(v.camBox()->currentData().toString(), QString("prox_lad_stenosis_binary"));
        QTest::mouseClick(v.tree(), Qt::LeftButton, {}, v.tree()->segmentCentre("lcx").toPoint());
        QCOMPARE(v.camBox()->currentData().toString(), QString("prox_lad_stenosis_binary"));  // lcx has none
        QVERIFY(!v.showCam("lcx_cto"));
        QVERIFY2(v.statusText().contains("lcx_cto"), qPrintable(v.statusText()));
    }

    /// Each marker stands out where it is drawn, on the light background beside the vessel too
    /// (the calcification ring was once white on white: invisible off the vessel).
    void treeMarkersStandOutFromTheBackground() {
        CoronaryTreeView tree;
        tree.resize(300, 320);
        tree.show();
        const std::map<std::string, double> plain = {{"prox_lad_stenosis", 20.0},
                                                     {"prox_lad_calcif_binary", 0.1},
                                                     {"prox_lad_thrombus", 0.1},
                                                     {"prox_lad_cto", 0.0}};
        const auto render = [&](const std::map<std::string, double>& values) {
            tree.setPredictions(values);
            return tree.grab().toImage().convertToFormat(QImage::Format_RGB32);
        };
        const QImage without = render(plain);
        const QRgb background = without.pixel(2, 2);
        // The legend draws the markers themselves (it once wrote "● thrombus" in black beside
        // blue dots): with no marker on the tree, the thrombus blue is in the legend only.
        int blue = 0;
        for (int y = 0; y < without.height(); ++y)
            for (int x = 0; x < without.width(); ++x) blue += without.pixel(x, y) == qRgb(40, 90, 220);
        QVERIFY2(blue >= 4, qPrintable(QString("%1 thrombus-blue pixels in the legend").arg(blue)));
        for (const char* head : {"calcif_binary", "thrombus", "cto"}) {
            auto marked = plain;
            marked[std::string("prox_lad_") + head] = 0.9;
            const QImage with = render(marked);
            QCOMPARE(tree.markers("prox_lad").size(), 1);
            int contrast = 0;  // the strongest change of a background pixel
            for (int y = 0; y < with.height(); ++y)
                for (int x = 0; x < with.width(); ++x)
                    if (without.pixel(x, y) == background)
                        contrast = std::max(contrast, std::abs(qGray(with.pixel(x, y)) - qGray(background)));
            QVERIFY2(contrast >= 80, qPrintable(QString("%1: contrast %2 on the background").arg(head).arg(contrast)));
        }
    }

    void treeColoursSegmentsAndShowsTheirPredictions() {
        AngioStudyView v;
        v.resize(1366, 700);
        v.show();
        QVERIFY(v.openPredictions(preds_));
        QVERIFY(v.openBaseline(baseline_));
        auto* tree = v.tree();
        QCOMPARE(tree->segmentColor("prox_lad"), stenosisColor(85.0));
        QVERIFY(tree->segmentColor("prox_lad").red() > tree->segmentColor("prox_lad").green());
        QVERIFY(tree->segmentColor("lcx").green() > tree->segmentColor("lcx").red());
        QCOMPARE(tree->segmentColor("dist_lad"), stenosisColor(std::nullopt));  // no prediction: grey
        QCOMPARE(tree->markers("lcx"), QStringList({"cto"}));
        QCOMPARE(tree->markers("prox_rca"), QStringList({"thrombus"}));
        QVERIFY(tree->markers("prox_lad").isEmpty());
        // It opens on the most severe segment (prox_lad, 85 %), its predictions filled, no CAM drawn.
        QCOMPARE(tree->selectedSegment(), QString("prox_lad"));
        QCOMPARE(v.segmentTable()->item(0, 1)->text(), QString("85.0"));
        QVERIFY(v.camBox()->currentData().toString().isEmpty());
        // A clicked segment stays selected in the next study (S2 has no predictions: dashes).
        QTest::mouseClick(tree, Qt::LeftButton, {}, tree->segmentCentre("lcx").toPoint());
        QCOMPARE(v.segmentTable()->item(0, 1)->text(), QString("10.0"));
        QVERIFY(v.selectStudy("S2"));
        QCOMPARE(tree->selectedSegment(), QString("lcx"));
        QCOMPARE(v.segmentTable()->item(0, 1)->text(), QString("–"));
        QVERIFY(v.selectStudy("S1"));
        // Clicking a segment selects it and fills its five predictions, new beside baseline.
        QSignalSpy clicked(tree, &CoronaryTreeView::segmentClicked);
        const QPointF at = tree->segmentCentre("prox_lad");
        QCOMPARE(tree->segmentAt(at), QString("prox_lad"));
        QTest::mouseClick(tree, Qt::LeftButton, {}, at.toPoint());
        QCOMPARE(clicked.count(), 1);
        QCOMPARE(clicked.last().at(0).toString(), QString("prox_lad"));
        auto* t = v.segmentTable();
        QCOMPARE(t->item(0, 1)->text(), QString("85.0"));
        QCOMPARE(t->item(0, 2)->text(), QString("80.0"));
        QCOMPARE(t->item(0, 3)->text(), QString("5.0"));
        QCOMPARE(t->item(1, 1)->text(), QString("0.900"));
        QCOMPARE(t->item(1, 3)->text(), QString("0.200"));
        QCOMPARE(t->item(3, 2)->text(), QString("–"));  // no baseline column for prox_lad_cto
        QVERIFY(tree->describe("prox_lad").contains("85 %"));
        // Export.
        QString error;
        QVERIFY2(tree->exportSvg(path("tree.svg"), &error), qPrintable(error));
        QFile svg(path("tree.svg"));
        QVERIFY(svg.open(QIODevice::ReadOnly));
        QVERIFY(svg.readAll().contains("<svg"));
        QVERIFY(tree->exportPng(path("tree.png"), &error));
        QVERIFY(!QImage(path("tree.png")).isNull());
    }

    void untrainedHeadsAreGreyAndNeverTheDefault() {
        // The graft's heads and lcx_cto had no label in training: the graft's 100 % is drawn grey
        // and not opened on, lcx carries no CTO marker, and the table says "untrained".
        nlohmann::json doc = {{"task", "angio_multiview"},
                              {"untrained_columns",
                               {"lima_or_svg_stenosis", "lima_or_svg_stenosis_binary", "lima_or_svg_calcif_binary",
                                "lima_or_svg_cto", "lima_or_svg_thrombus", "lcx_cto"}}};
        nlohmann::json s = {{"study_id", "U1"}, {"views", nlohmann::json::array()}};
        s["predictions"] = {{"lima_or_svg_stenosis", 100.0},
                            {"lima_or_svg_stenosis_binary", 0.99},
                            {"prox_lad_stenosis", 85.0},
                            {"lcx_stenosis", 10.0},
                            {"lcx_cto", 0.8}};
        doc["predictions"] = {s};
        const QString file = path("untrained.json");
        std::ofstream(file.toStdString()) << doc.dump();
        AngioStudyView v;
        v.resize(1366, 700);
        v.show();
        QVERIFY(v.openPredictions(file));
        QVERIFY2(v.statusText().contains("6 columns had no label in training"), qPrintable(v.statusText()));
        auto* tree = v.tree();
        QCOMPARE(tree->selectedSegment(), QString("prox_lad"));
        QCOMPARE(tree->segmentColor("lima_or_svg"), stenosisColor(std::nullopt));
        QVERIFY(tree->markers("lcx").isEmpty());
        QCOMPARE(tree->segmentColor("lcx"), stenosisColor(10.0));  // lcx's stenosis head is trained
        QVERIFY2(tree->describe("lima_or_svg").contains("stenosis untrained"),
                 qPrintable(tree->describe("lima_or_svg")));
        v.selectSegment("lima_or_svg");
        QCOMPARE(v.segmentTable()->item(0, 1)->text(), QString("untrained"));
        QVERIFY(v.segmentTable()->item(0, 1)->toolTip().contains("100.0"));
        QCOMPARE(v.segmentTable()->item(0, 3)->text(), QString("–"));
        QVERIFY(v.grab().save(screenshotPath("angio_untrained.png")));
        v.selectSegment("lcx");
        QCOMPARE(v.segmentTable()->item(0, 1)->text(), QString("10.0"));
        QCOMPARE(v.segmentTable()->item(3, 1)->text(), QString("untrained"));  // lcx_cto
        // A malformed list is named.
        doc["untrained_columns"] = {"lcx_cto", 3};
        std::ofstream(file.toStdString()) << doc.dump();
        QVERIFY(!v.openPredictions(file));
        QVERIFY2(v.statusText().contains("untrained.json") && v.statusText().contains("untrained_columns"),
                 qPrintable(v.statusText()));
    }

    void refusesAnotherTasksPredictions() {
        const QString other = path("other.json");
        std::ofstream(other.toStdString()) << R"({"task": "ct_multilabel", "predictions": []})";
        AngioStudyView v;
        QVERIFY(!v.openPredictions(other));
        QVERIFY2(v.statusText().contains("other.json") && v.statusText().contains("ct_multilabel"),
                 qPrintable(v.statusText()));
        QVERIFY(!v.openPredictions(path("nothing.json")));
        QVERIFY(v.statusText().contains("nothing.json"));
    }
};

QTEST_MAIN(TestAngioStudyView)
#include "test_angio_study_view.moc"
