// Qt Test suite for widgets/loss_curve_panel: live metrics through a JobEventBridge (graph
// and point counts, replot throttle), grouping into plots, TensorBoard smoothing, log scale,
// hover read-out, export, runs from the run store overlaid. With LUMEN_WRITE_SCREENSHOTS=1
// it writes docs/screenshots/loss_curves.png (two runs of the echo task with five loss
// components).
#include "loss_curve_panel.h"

#include "job_event_bridge.h"

#include "jobs/job.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_runner.h"
#include "runs/run_store.h"

#include "test_support.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QSlider>
#include <QTemporaryDir>

#include <cmath>
#include <limits>
#include <thread>

using namespace lumen;
using lumen::widgets::LossCurvePanel;

namespace {

// TensorBoard's smoothing, written out independently of the panel.
QVector<double> tensorBoardSmooth(const QVector<double>& v, double w) {
    QVector<double> out;
    double last = 0;
    int n = 0;
    for (double x : v) {
        last = last * w + (1 - w) * x;
        ++n;
        out.push_back(last / (1 - std::pow(w, n)));
    }
    return out;
}

}  // namespace

class TestLossCurvePanel : public QObject {
    Q_OBJECT
private slots:
    void groupsKeysByName() {
        using G = LossCurvePanel::Group;
        QCOMPARE(LossCurvePanel::groupOf("loss"), G::Loss);
        QCOMPARE(LossCurvePanel::groupOf("loss.consist"), G::Loss);
        QCOMPARE(LossCurvePanel::groupOf("val.loss"), G::Loss);
        QCOMPARE(LossCurvePanel::groupOf("lr"), G::LearningRate);
        QCOMPARE(LossCurvePanel::groupOf("grad_norm"), G::GradNorm);
        QCOMPARE(LossCurvePanel::groupOf("grad_norm.backbone"), G::GradNorm);
        QCOMPARE(LossCurvePanel::groupOf("val.auroc_macro"), G::Validation);
        QCOMPARE(LossCurvePanel::groupOf("epoch"), G::None);
        QCOMPARE(LossCurvePanel::groupOf("lossy"), G::None);
    }

    void liveMetricsFromTheBridge() {
        widgets::JobEventBridge bridge;
        LossCurvePanel panel;
        panel.attach(&bridge);
        panel.resize(900, 700);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        panel.watchJob(7, "live");
        const int steps = 3000;
        // A worker thread reports like a trainer: 5 keys per step, and an epoch metric the
        // panel does not plot; metrics of an unwatched job are ignored.
        auto observer = bridge.observer();
        QElapsedTimer clock;
        clock.start();
        std::thread worker([&] {
            observer->onStarted(7);
            for (int i = 0; i < steps; ++i) {
                observer->onMetric(7, "loss", i, 1.0 / (i + 1));
                observer->onMetric(7, "loss.full", i, 0.7 / (i + 1));
                observer->onMetric(7, "loss.consist", i, 0.3 / (i + 1));
                observer->onMetric(7, "lr", i, 1e-4);
                observer->onMetric(7, "grad_norm", i, 2.0);
                observer->onMetric(8, "loss", i, 5.0);
                if ((i + 1) % 1000 == 0) {
                    observer->onMetric(7, "val.loss", i, 1.5 / (i + 1));
                    observer->onMetric(7, "epoch", i, (i + 1) / 1000);
                }
            }
            observer->onFinished(7, "done");
        });
        worker.join();
        QTRY_COMPARE(panel.pointCount("live", "loss"), steps);
        const double elapsedMs = double(clock.elapsed());
        QCOMPARE(panel.graphCount(), 6);  // loss, loss.full, loss.consist, lr, grad_norm, val.loss
        QCOMPARE(panel.runLabels(), QStringList{"live"});
        QCOMPARE(panel.pointCount("live", "val.loss"), 3);
        QCOMPARE(panel.pointCount("live", "lr"), steps);
        QCOMPARE(panel.visiblePlotCount(), 3);  // loss, lr, grad norm (no other val.*)
        // Throttled: at most one replot per 50 ms (plus the flushes on start and end).
        QVERIFY2(panel.replotCount() <= int(elapsedMs / 50) + 3,
                 qPrintable(QString("%1 replots in %2 ms").arg(panel.replotCount()).arg(elapsedMs)));
        // val.* are per-epoch points, training keys lines.
        int scatterOnly = 0;
        for (int i = 0; i < panel.plot()->graphCount(); ++i)
            if (panel.plot()->graph(i)->lineStyle() == QCPGraph::lsNone) ++scatterOnly;
        QCOMPARE(scatterOnly, 1);
    }

    void smoothingAndLogScale() {
        LossCurvePanel panel;
        panel.resize(900, 700);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        panel.watchJob(1, "run");
        QVector<double> raw;
        for (int i = 0; i < 200; ++i) {
            const double v = 1.0 / (1 + 0.05 * i) + ((i % 2) ? 0.2 : -0.2);
            raw << v;
            panel.addPoint("job:1", "loss", i, v);
        }
        auto* slider = panel.findChild<QSlider*>("lossSmoothing");
        QVERIFY(slider);
        slider->setValue(0);
        QCOMPARE(panel.smoothing(), 0.0);
        QCOMPARE(panel.displayedValues("run", "loss"), raw);
        slider->setFocus();
        for (int i = 0; i < 9; ++i) QTest::keyClick(slider, Qt::Key_PageUp);  // page step 10
        QCOMPARE(panel.smoothing(), 0.9);
        const QVector<double> shown = panel.displayedValues("run", "loss");
        const QVector<double> expected = tensorBoardSmooth(raw, 0.9);
        QCOMPARE(shown.size(), expected.size());
        for (int i = 0; i < shown.size(); ++i) QVERIFY(std::abs(shown[i] - expected[i]) < 1e-12);
        QVERIFY(shown != raw);
        // Points arriving later continue the same EMA.
        for (int i = 200; i < 210; ++i) {
            raw << 0.1;
            panel.addPoint("job:1", "loss", i, 0.1);
        }
        panel.flush();
        QVERIFY(std::abs(panel.displayedValues("run", "loss").last() - tensorBoardSmooth(raw, 0.9).last()) < 1e-12);

        auto* log = panel.findChild<QCheckBox*>("lossLogScale");
        QTest::mouseClick(log, Qt::LeftButton);
        QVERIFY(panel.logScale());
        QCPAxisRect* rect = panel.plot()->axisRect(0);
        QCOMPARE(rect->axis(QCPAxis::atLeft)->scaleType(), QCPAxis::stLogarithmic);
        QVERIFY(rect->axis(QCPAxis::atLeft)->range().lower > 0);
        QTest::mouseClick(log, Qt::LeftButton);
        QCOMPARE(rect->axis(QCPAxis::atLeft)->scaleType(), QCPAxis::stLinear);
    }

    void hoverReadoutAndHidingPlots() {
        LossCurvePanel panel;
        panel.resize(900, 700);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        panel.setSmoothing(0);
        panel.watchJob(1, "run");
        for (int i = 0; i <= 100; ++i) {
            panel.addPoint("job:1", "loss", i, 2.0 - i * 0.01);
            panel.addPoint("job:1", "lr", i, 1e-3);
        }
        panel.flush();
        QCOMPARE(panel.visiblePlotCount(), 2);
        QCPAxisRect* rect = panel.plot()->axisRect(0);
        const QPoint at(int(rect->axis(QCPAxis::atBottom)->coordToPixel(50)), rect->rect().center().y());
        QMouseEvent move(QEvent::MouseMove, at, panel.plot()->mapToGlobal(at), Qt::NoButton, Qt::NoButton,
                         Qt::NoModifier);
        QApplication::sendEvent(panel.plot(), &move);
        const QString text = panel.readoutText();
        QVERIFY2(text.contains("step 50") && text.contains("loss") && text.contains("1.5"), qPrintable(text));

        auto* lrBox = panel.findChild<QCheckBox*>("lossShowGroup1");
        QVERIFY(lrBox);
        QTest::mouseClick(lrBox, Qt::LeftButton);
        QVERIFY(!panel.groupVisible(LossCurvePanel::Group::LearningRate));
        QCOMPARE(panel.visiblePlotCount(), 1);
        QTest::mouseClick(lrBox, Qt::LeftButton);
        QCOMPARE(panel.visiblePlotCount(), 2);
    }

    void exportsPngSvgPdf() {
        QTemporaryDir dir;
        LossCurvePanel panel;
        panel.resize(800, 600);
        panel.watchJob(1, "run");
        for (int i = 0; i < 50; ++i) panel.addPoint("job:1", "loss", i, 1.0 / (i + 1));
        for (const char* ext : {"png", "svg", "pdf"}) {
            const QString file = dir.filePath(QString("curves.%1").arg(ext));
            QString error;
            QVERIFY2(panel.exportTo(file, &error, 800, 600), qPrintable(error));
            QVERIFY(QFileInfo(file).size() > 1000);
        }
        QString error;
        QVERIFY(!panel.exportTo(dir.filePath("curves.bmpx"), &error));
        QVERIFY(error.contains("curves.bmpx"));
    }

    // A diverged run read back from the store: the NaN loss is a gap (NaN in the graph), not
    // a point at 0, and the loss axis is scaled to the finite values only.
    void nonFiniteStepsAreGapsNotZero() {
        QTemporaryDir dir;
        runs::RunStore store(dir.filePath("lumen.db").toStdString());
        const auto run = store.createRun("t", "diverged", "", "", "");
        const double nan = std::numeric_limits<double>::quiet_NaN();
        store.logMetrics(run, {{"loss", 1, 1.0, 0},
                               {"loss", 2, 0.8, 0},
                               {"loss", 3, nan, 0},
                               {"loss", 4, std::numeric_limits<double>::infinity(), 0},
                               {"loss", 5, 0.6, 0}});
        LossCurvePanel panel;
        panel.setStore(&store);
        panel.resize(900, 700);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QString error;
        QVERIFY2(panel.showRun(run, &error), qPrintable(error));
        panel.setSmoothing(0);
        panel.flush();
        const QString label = panel.runLabels().value(0);
        const QVector<double> shown = panel.displayedValues(label, "loss");
        QCOMPARE(shown.size(), 5);
        QCOMPARE(shown[0], 1.0);
        QVERIFY2(std::isnan(shown[2]) && std::isnan(shown[3]), qPrintable(QString::number(shown[2])));
        QCOMPARE(shown[4], 0.6);
        const QCPRange y = panel.plot()->axisRect(0)->axis(QCPAxis::atLeft)->range();
        QVERIFY2(y.lower > 0.5 && y.upper < 1.1, qPrintable(QString("%1..%2").arg(y.lower).arg(y.upper)));
    }

    void runsFromTheStoreOverlaid() {
        QTemporaryDir dir;
        plugin::Registry registry;
        plugin::PluginLoader loader(registry);
        loader.load(GOOD_PLUGIN);
        auto task = registry.require("test_echo");
        const auto schema = task->schema();
        // Two real runs of the echo task with five loss components, recorded by runTask.
        auto runOnce = [&](const std::string& yaml, const std::string& name) {
            plugin::TaskRunRequest request;
            request.config = config::makeConfig(YAML::Load(yaml), schema);
            request.workspace = dir.filePath("ws").toStdString();
            request.name = name;
            jobs::JobContext job(1, jobs::CancellationToken(), nullptr);
            return plugin::runTask(*task, request, job).runId;
        };
        const std::string common =
            "task: test_echo\nrows: 600\nepoch_rows: 100\ncomponents: [full, consist, drop, sparse, tv]\n";
        const auto a = runOnce(common + "seed: 1\nlr: 1e-4\n", "lr 1e-4");
        const auto b = runOnce(common + "seed: 2\nlr: 3e-4\n", "lr 3e-4");
        runs::RunStore store(dir.filePath("ws/lumen.db").toStdString());

        LossCurvePanel panel;
        panel.setStore(&store);
        panel.resize(1100, 820);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QString error;
        store.setParams(a, {{"max_grad_norm", "0.5"}});  // run a clipped its gradients at 0.5
        QVERIFY2(panel.showRun(a, &error), qPrintable(error));
        QCOMPARE(panel.runLabels(), QStringList{QString("#%1 lr 1e-4").arg(a)});
        QCOMPARE(panel.clipLevels(), QList<double>{0.5});
        // Gradient norms on a log axis; AUROC on the whole 0–1 scale, not fitted to its points.
        const auto rectNamed = [&](const QString& name) -> QCPAxisRect* {
            for (QCPAxisRect* r : panel.plot()->axisRects())
                if (r->axis(QCPAxis::atLeft)->label() == name) return r;
            return nullptr;
        };
        QVERIFY(rectNamed("Gradient norm") && rectNamed("Validation"));
        QCOMPARE(rectNamed("Gradient norm")->axis(QCPAxis::atLeft)->scaleType(), QCPAxis::stLogarithmic);
        const QCPRange auroc = rectNamed("Validation")->axis(QCPAxis::atLeft)->range();
        QVERIFY2(auroc.lower < 0 && auroc.lower > -0.05 && auroc.upper > 1 && auroc.upper < 1.05,
                 qPrintable(QString("%1..%2").arg(auroc.lower).arg(auroc.upper)));
        // The clip level: one dashed line across the steps shown, named in the legend.
        QList<QCPGraph*> clipLines;
        for (int i = 0; i < panel.plot()->graphCount(); ++i)
            if (panel.plot()->graph(i)->name() == "clipped at 0.5") clipLines << panel.plot()->graph(i);
        QCOMPARE(clipLines.size(), 1);
        QCOMPARE(clipLines[0]->valueAxis(), rectNamed("Gradient norm")->axis(QCPAxis::atLeft));
        QCOMPARE(clipLines[0]->dataCount(), 2);
        QCOMPARE(clipLines[0]->data()->at(0)->value, 0.5);
        QVERIFY(clipLines[0]->data()->at(1)->key >= 599);  // to the last step shown
        // loss + 5 components + lr + grad_norm + val.loss + val.auroc_macro (epoch is not drawn)
        QCOMPARE(panel.graphCount(), 10);
        QCOMPARE(panel.visiblePlotCount(), 4);
        QCOMPARE(panel.pointCount(panel.runLabels()[0], "loss.consist"), 600);
        QCOMPARE(panel.pointCount(panel.runLabels()[0], "val.auroc_macro"), 6);
        QVERIFY2(panel.compareRuns({a, b}, &error), qPrintable(error));
        QCOMPARE(panel.runLabels().size(), 2);
        QCOMPARE(panel.graphCount(), 20);
        // The Loss legend lists each key once (colour) and each run once (line style).
        QStringList entries;
        for (int i = 0; i < panel.plot()->legend->itemCount(); ++i)
            if (auto* item = qobject_cast<QCPPlottableLegendItem*>(panel.plot()->legend->item(i)))
                entries << item->plottable()->name();
        QCOMPARE(entries.size(), 9);  // loss, 5 components, val.loss, 2 runs
        QCOMPARE(entries.count("loss.full"), 1);
        QVERIFY(entries.contains(QString("#%1 lr 3e-4").arg(b)));
        QVERIFY(!panel.showRun(9999, &error));
        QVERIFY(error.contains("9999"));
        QVERIFY(panel.compareRuns({a, b}, &error));
        panel.setSmoothing(0.8);
        QTest::qWait(100);
        const QPixmap shot = panel.grab();
        QVERIFY(!shot.isNull());
        QVERIFY(shot.save(screenshotPath("loss_curves.png")));
    }
};

QTEST_MAIN(TestLossCurvePanel)
#include "test_loss_curve_panel.moc"
