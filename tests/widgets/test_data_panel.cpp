// The Data panel driven with QTest: open a split folder made from the demo workspace (typed
// path + click), check the summary, the overlap proof (green zeros) and the label-balance bars
// against core's numbers, toggle counts, export the chart, open a leaky folder (red cells),
// a bad path (error shown), and grab the screenshot for the docs.
#include "data_panel.h"

#include "data/angio_manifest.h"
#include "data/dataset_stats.h"
#include "data/nih_import.h"
#include "data/splits.h"
#include "demo/demo_workspace.h"
#include "job_event_bridge.h"
#include "plot_export.h"

#include "test_support.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtMath>

#include <cmath>

using namespace lumen;
namespace fs = std::filesystem;

class TestDataPanel : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path splitDir_;
    data::SplitReport expected_;
    data::LabelBalance balance_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        const fs::path root = tmp_.path().toStdString();
        demo::createDemoWorkspace(root / "demo", demo::DemoOptions::only(300, 0, 0));
        data::importNih(root / "demo/chest_xray", root / "nih");
        data::SplitOptions so;
        so.ratios = {0.7, 0.1, 0.2};
        so.seed = 1;
        const auto split = data::splitByPatient(data::readManifest(root / "nih/all.csv"), so, &expected_);
        splitDir_ = root / "split";
        data::writeSplitFolder(split, splitDir_, expected_);
        balance_ = data::labelBalance(split);
    }

    void opensSplitFolderAndShowsProof() {
        widgets::DataPanel panel;
        panel.resize(1400, 760);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QSignalSpy loaded(&panel, &widgets::DataPanel::loaded);
        panel.pathEdit()->clear();
        QTest::keyClicks(panel.pathEdit(), QString::fromStdString(splitDir_.string()));
        QTest::mouseClick(panel.openButton(), Qt::LeftButton);
        QVERIFY(panel.busy() || loaded.count() == 1);
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 20000);
        QVERIFY(!panel.busy());

        // Summary: one row per split + total, numbers from core's report.
        auto* t = panel.summaryTable();
        QCOMPARE(t->rowCount(), 4);
        for (int r = 0; r < 3; ++r) {
            const auto& s = expected_.splits[std::size_t(r)];
            QCOMPARE(t->item(r, 0)->text(), QString::fromStdString(s.name));
            QCOMPARE(t->item(r, 1)->text().toULongLong(), s.patients);
            QCOMPARE(t->item(r, 2)->text().toULongLong(), s.images);
        }
        QCOMPARE(t->item(3, 2)->text(), QString("300"));
        QVERIFY(panel.statusText().contains("300 images"));

        // Overlap proof: three pairs, all zero, green.
        auto* o = panel.overlapTable();
        QCOMPARE(o->rowCount(), 3);
        for (int r = 0; r < 3; ++r)
            for (int c = 2; c < 4; ++c) {
                QCOMPARE(o->item(r, c)->text(), QString("0"));
                QCOMPARE(o->item(r, c)->background().color(), QColor(0xd4, 0xed, 0xda));
            }
        QVERIFY(panel.proofLabel()->text().contains("disjoint"));

        // Bars: one per split, a key per label, percent of the split's images.
        auto* plot = panel.balancePlot();
        QCOMPARE(plot->plottableCount(), 3);
        for (int s = 0; s < 3; ++s) {
            auto* bars = qobject_cast<QCPBars*>(plot->plottable(s));
            QVERIFY(bars);
            QCOMPARE(bars->data()->size(), 15);
            const int normal = 14;  // "Normal" is last in the NIH vocabulary
            const double want =
                100.0 * double(balance_.positives[std::size_t(s)][normal]) / double(balance_.images[std::size_t(s)]);
            QCOMPARE((bars->data()->begin() + normal)->value, want);
        }
        // Pixel statistics of the training split, as a job, equal to core's.
        QCOMPARE(panel.pixelSplitBox()->currentText(), QString("train"));
        QVERIFY(panel.pixelStatsButton()->isEnabled());
        QSignalSpy pixels(&panel, &widgets::DataPanel::pixelStatsReady);
        QTest::mouseClick(panel.pixelStatsButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(pixels.count(), 1, 60000);
        const auto direct = data::computePixelStats(data::loadManifestOrFolder(splitDir_).filterSplit("train"));
        QVERIFY(panel.pixelStats());
        QCOMPARE(panel.pixelStats()->images, expected_.splits[0].images);
        QVERIFY(panel.pixelStats()->mean == direct.mean && panel.pixelStats()->stdev == direct.stdev);
        QVERIFY2(panel.pixelStatsText().contains(QString("train: %1 images").arg(direct.images)),
                 qPrintable(panel.pixelStatsText()));
        QVERIFY(panel.pixelStatsText().contains(QString::number(direct.mean[0], 'g', 9)));
        QVERIFY(panel.pixelStatsButton()->isEnabled());
        QVERIFY(panel.statusText().contains("300 images"));  // the summary line is kept

        QVERIFY(panel.grab().save(screenshotPath("data_panel.png")));

        // Counts toggle (clicked like a user).
        auto* counts = panel.findChild<QCheckBox*>("showCounts");
        QTest::mouseClick(counts, Qt::LeftButton);
        QVERIFY(counts->isChecked());
        auto* bars0 = qobject_cast<QCPBars*>(plot->plottable(0));
        QCOMPARE((bars0->data()->begin() + 14)->value, double(balance_.positives[0][14]));

        // Export.
        const QString png = tmp_.filePath("balance.png");
        QString error;
        QVERIFY2(widgets::exportPlot(plot, png, &error), qPrintable(error));
        QVERIFY(QFileInfo(png).size() > 1000);
    }

    /// An angiography manifest (one row per video, grouped by study_id): videos of studies per
    /// split, its positive binary columns as labels, pixel statistics over every frame.
    void opensAnAngiographyManifest() {
        const fs::path root = fs::path(tmp_.path().toStdString()) / "angio";
        demo::createDemoWorkspace(root, demo::DemoOptions::only(0, 0, 12));
        const fs::path file = root / "angio" / "manifest.csv";
        const auto angio = data::readAngioManifest(file);
        const auto videos = data::videosAsManifest(angio);
        std::size_t rows = 0;
        for (const auto& s : angio.studies) rows += s.videos.size();
        QCOMPARE(videos.rows.size(), rows);
        QVERIFY(!videos.labelNames.empty());
        for (const auto& l : videos.labelNames)
            QVERIFY2(l.find("_stenosis_binary") != std::string::npos || l.find("_calcif_binary") != std::string::npos ||
                         l.find("_cto") != std::string::npos || l.find("_thrombus") != std::string::npos,
                     l.c_str());

        widgets::DataPanel panel;
        panel.resize(1366, 700);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QSignalSpy loaded(&panel, &widgets::DataPanel::loaded);
        QVERIFY(panel.open(QString::fromStdString(file.string())));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 20000);
        QVERIFY2(panel.statusText().contains(QString("angiography, %1 videos of 12 studies").arg(rows)),
                 qPrintable(panel.statusText()));
        QCOMPARE(panel.summary()->balance.labels, videos.labelNames);
        QCOMPARE(panel.pixelSplitBox()->currentText(), QString("train"));
        QSignalSpy pixels(&panel, &widgets::DataPanel::pixelStatsReady);
        QTest::mouseClick(panel.pixelStatsButton(), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(pixels.count(), 1, 60000);
        data::PixelStatsOptions grey;
        grey.grey = true;  // as the angio_multiview trainer counts them
        const auto direct = data::computePixelStats(videos.filterSplit("train"), grey);
        QVERIFY(panel.pixelStats()->grey);
        QVERIFY(panel.pixelStats()->mean == direct.mean && panel.pixelStats()->stdev == direct.stdev);
        QVERIFY2(panel.pixelStatsText().contains("grey as the model sees it"), qPrintable(panel.pixelStatsText()));
        QCOMPARE(panel.pixelStats()->frames, std::uint64_t(16 * direct.images));  // every frame of the cines
        // Nine long slanted names: the last one is drawn whole inside the widget (QCustomPlot leaves
        // out a label that would stick out), and the legend covers no bar (a row of its own).
        auto* plot = panel.balancePlot();
        const QFontMetrics fm(plot->xAxis->tickLabelFont());
        const double lastTick = plot->xAxis->coordToPixel(double(videos.labelNames.size()));
        const double angle = qDegreesToRadians(plot->xAxis->tickLabelRotation());
        const double reach = fm.horizontalAdvance(QString::fromStdString(videos.labelNames.back())) * std::cos(angle) +
                             fm.height() * std::sin(angle);  // the slanted label's width on screen
        QVERIFY2(lastTick + reach <= plot->width(),
                 qPrintable(QString("%1 + %2 > %3").arg(lastTick).arg(reach).arg(plot->width())));
        QVERIFY(!plot->legend->outerRect().intersects(plot->axisRect()->rect()));
        QVERIFY(panel.grab().save(screenshotPath("data_panel_angio.png")));
    }

    void leakShownRed() {
        const fs::path root = tmp_.path().toStdString();
        fs::create_directories(root / "leaky");
        writeTextFile(tmp_, "leaky/train.csv", "id,patient_id,path,labels\na,P1,a.png,Mass\nb,P2,b.png,\n");
        writeTextFile(tmp_, "leaky/test.csv", "id,patient_id,path,labels\nc,P2,c.png,Mass\n");
        widgets::JobEventBridge bridge;
        jobs::JobPool pool(1);
        widgets::DataPanel panel;
        panel.setJobRunner(
            [&](const QString& kind, const QString& title, jobs::JobFunction work) {
                return pool.submit(kind.toStdString(), title.toStdString(), std::move(work), bridge.observer());
            },
            &bridge);
        QSignalSpy loaded(&panel, &widgets::DataPanel::loaded);
        QVERIFY(panel.open(QString::fromStdString((root / "leaky").string())));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 20000);
        QCOMPARE(panel.overlapTable()->rowCount(), 1);
        QCOMPARE(panel.overlapTable()->item(0, 2)->text(), QString("1"));
        QCOMPARE(panel.overlapTable()->item(0, 2)->background().color(), QColor(0xf8, 0xd7, 0xda));
        QVERIFY(panel.overlapTable()->item(0, 2)->toolTip().contains("P2"));
        QCOMPARE(panel.overlapTable()->item(0, 3)->text(), QString("0"));
        QVERIFY(panel.proofLabel()->text().contains("overlap"));
        QVERIFY(panel.statusText().contains("3 file(s) missing"));

        // A file that cannot be read replaces the dataset shown: its tables and chart are
        // cleared and there is nothing to export.
        QVERIFY(panel.findChild<QPushButton*>("exportBalance")->isEnabled());
        QSignalSpy failed(&panel, &widgets::DataPanel::loadFailed);
        QVERIFY(panel.open(tmp_.filePath("gone.csv")));
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 20000);
        QCOMPARE(panel.overlapTable()->rowCount(), 0);
        QVERIFY(!panel.findChild<QPushButton*>("exportBalance")->isEnabled());
        QVERIFY(panel.statusText().contains("gone.csv"));
    }

    void badPathShowsError() {
        widgets::DataPanel panel;
        QSignalSpy failed(&panel, &widgets::DataPanel::loadFailed);
        QVERIFY(!panel.open(""));
        QVERIFY(panel.statusText().contains("Choose"));
        QVERIFY(panel.open("/nonexistent/manifest.csv"));
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 20000);
        QVERIFY2(panel.statusText().contains("/nonexistent/manifest.csv: cannot open"), qPrintable(panel.statusText()));
        QVERIFY(panel.openButton()->isEnabled());
    }
};

QTEST_MAIN(TestDataPanel)
#include "test_data_panel.moc"
