// The Sweeps page (widgets/sweep_panel): a sweep's state file and its runs' metrics shown as
// the trials table, parallel coordinates, importance and curves; live updates; "Promote".
#include "test_support.h"

#include "runs/run_store.h"
#include "sweep/sweep.h"
#include "sweep_panel.h"

#include <qcustomplot.h>

#include <QTableWidget>
#include <QTabWidget>

#include <cmath>

using namespace lumen;
namespace fs = std::filesystem;

class TestSweepPanel : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    fs::path ws_;
    std::unique_ptr<runs::RunStore> store_;
    sweep::SweepState state_;

    /// A sweep of 7 trials over lr (log range) and optimizer; val.loss falls with lr, sgd worse.
    void makeSweep() {
        ws_ = fs::path(dir_.path().toStdString()) / "ws";
        runs::Workspace::open(ws_);
        store_ = std::make_unique<runs::RunStore>(ws_ / "lumen.db");
        const std::string base = writeTextFile(dir_, "base.yaml", "task: roi_consistency\nlr: 1.0e-3\nepochs: 3\n");
        state_.name = "lr_sweep";
        state_.fingerprint = "f";
        state_.metric = "val.loss";
        state_.maximize = false;
        state_.base = base;
        const double lrs[] = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 2e-4, 5e-3};
        for (std::size_t i = 0; i < 7; ++i) {
            sweep::TrialRecord t;
            const std::string optimizer = i % 3 == 1 ? "sgd" : "adamw";
            t.trial = {i, {{"lr", std::to_string(lrs[i])}, {"optimizer", optimizer}}};
            t.run = store_->createRun("roi_consistency", "lr_sweep #" + std::to_string(i), "", "", "{}");
            const double floor = 0.9 + 0.1 * std::log10(lrs[i]) + (optimizer == "sgd" ? 0.2 : 0.0);
            std::vector<double> curve;
            const int epochs = i == 6 ? 1 : 3;  // trial 6 was stopped early
            for (int e = 0; e < epochs; ++e) {
                curve.push_back(floor + 0.3 / (e + 1));
                store_->logMetric(t.run, "val.loss", (e + 1) * 10, curve.back());
            }
            t.status = i == 6 ? sweep::TrialStatus::Stopped : sweep::TrialStatus::Finished;
            t.value = sweep::bestValue(curve, false);
            t.epochs = epochs;
            state_.trials.push_back(t);
        }
        sweep::saveState(sweep::stateFile(ws_, state_.name), state_);
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        makeSweep();
    }

    void showsTrialsPlotsAndImportance() {
        widgets::SweepPanel panel;
        panel.resize(1366, 768);
        panel.setWorkspace(ws_);
        panel.setStore(store_.get());
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QCOMPARE(panel.sweepNames(), QStringList{"lr_sweep"});
        QCOMPARE(panel.trialsTable()->rowCount(), 7);
        QCOMPARE(panel.trialsTable()->columnCount(), 6);  // trial, status, value, run, lr, optimizer
        QCOMPARE(panel.trialsTable()->horizontalHeaderItem(2)->text(), QString("val.loss"));
        const auto* best = state_.best();
        QVERIFY(best);
        QVERIFY2(panel.summaryText().contains(QString("best #%1").arg(best->trial.index)),
                 qPrintable(panel.summaryText()));
        QVERIFY(panel.summaryText().contains("6 finished") && panel.summaryText().contains("1 stopped"));
        // Importance is the core's (tested against scipy in test_sweep): lr matters most.
        const auto expected = sweep::parameterImportance(state_);
        QCOMPARE(panel.importance().size(), expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) QCOMPARE(panel.importance()[i].score, expected[i].score);
        QVERIFY(panel.importance()[0].key == "lr" && panel.importance()[0].score > 0.8);
        // One parallel-coordinates line per trial, over lr, optimizer and the metric.
        QCOMPARE(panel.parallelPlot()->graphCount(), 7);
        QCOMPARE(panel.parallelPlot()->graph(0)->dataCount(), 3);
        // Curves: every trial until some are selected; then those, with their epochs.
        QCOMPARE(panel.curvesPlot()->graphCount(), 7);
        panel.selectTrials({2, 6});
        QCOMPARE(panel.selectedTrials(), (std::vector<std::size_t>{2, 6}));
        QCOMPARE(panel.curvesPlot()->graphCount(), 2);
        QCOMPARE(panel.curvesPlot()->graph(0)->dataCount(), 3);
        QCOMPARE(panel.curvesPlot()->graph(1)->dataCount(), 1);
        QVERIFY(panel.grab().save(screenshotPath("sweep_page_1366.png")));
        panel.views()->setCurrentIndex(2);
        QVERIFY(panel.grab().save(screenshotPath("sweep_curves.png")));
        panel.views()->setCurrentIndex(1);
        QVERIFY(panel.grab().save(screenshotPath("sweep_importance.png")));
        panel.views()->setCurrentIndex(0);
        panel.selectTrials({best->trial.index});
        panel.resize(1600, 1000);
        QVERIFY(panel.grab().save(screenshotPath("sweep_page.png")));
    }

    void followsTheStateFileAndPromotes() {
        widgets::SweepPanel panel;
        panel.setWorkspace(ws_);
        panel.setStore(store_.get());
        // A new trial appears in the state file (the sweep process writes it): refresh shows it.
        sweep::SweepState more = state_;
        sweep::TrialRecord pending;
        pending.trial = {7, {{"lr", "0.0007"}, {"optimizer", "adamw"}}};
        more.trials.push_back(pending);
        QTest::qWait(20);  // a later modification time
        sweep::saveState(sweep::stateFile(ws_, state_.name), more);
        panel.refresh();
        QCOMPARE(panel.trialsTable()->rowCount(), 8);
        QCOMPARE(panel.parallelPlot()->graph(7)->dataCount(), 2);  // no metric yet: parameters only
        // Promote: the base config with the trial's parameters, for a full run.
        const QString file = dir_.filePath("promoted.yaml");
        QCOMPARE(panel.promote(3, file), QString());
        const YAML::Node promoted = YAML::LoadFile(file.toStdString());
        QCOMPARE(promoted["lr"].as<double>(), 3e-3);
        QCOMPARE(promoted["optimizer"].as<std::string>(), std::string("adamw"));
        QCOMPARE(promoted["epochs"].as<int>(), 3);  // the rest of the base kept
        QVERIFY(!panel.promote(42, file).isEmpty());
        QVERIFY(panel.promote(3, "/nonexistent/dir/x.yaml").contains("/nonexistent/dir"));
        // A broken state file is reported in the panel, not thrown.
        fs::create_directories(ws_ / "sweeps" / "broken");
        writeTextFile(dir_, "ws/sweeps/broken/state.json", "{");
        panel.refresh();
        QVERIFY(panel.showSweep("broken"));
        QVERIFY(!panel.state());
    }

    void emptyWorkspaceSaysHowToStart() {
        QTemporaryDir empty;
        widgets::SweepPanel panel;
        panel.setWorkspace(empty.path().toStdString());
        QVERIFY(panel.sweepNames().isEmpty());
        QCOMPARE(panel.trialsTable()->rowCount(), 0);
    }
};

QTEST_MAIN(TestSweepPanel)
#include "test_sweep_panel.moc"
