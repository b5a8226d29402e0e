// Qt Test suite for widgets: the job event bridge and the Jobs, Runs and Log panels,
// driven with real jobs on a pool and QTest clicks.
#include "job_event_bridge.h"
#include "jobs_panel.h"
#include "log_panel.h"
#include "runs_panel.h"
#include "workspace_view.h"

#include "jobs/job_pool.h"
#include "runs/run_store.h"

#include "test_support.h"

#include <QAbstractButton>
#include <QAction>
#include <QMenu>
#include <QComboBox>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTableWidget>
#include <QThread>
#include <QTimer>

#include <atomic>

using namespace lumen;
using namespace std::chrono_literals;

class TestBridgeAndPanels : public QObject {
    Q_OBJECT
private slots:
    void bridgeDeliversOnGuiThreadInOrder() {
        widgets::JobEventBridge bridge;
        QStringList events;
        QList<QThread*> threads;
        auto record = [&](const QString& e) {
            events << e;
            threads << QThread::currentThread();
        };
        connect(&bridge, &widgets::JobEventBridge::started, this, [&](quint64) { record("started"); });
        connect(&bridge, &widgets::JobEventBridge::progress, this,
                [&](quint64, double f, const QString& m, double) { record(QString("progress %1 %2").arg(f).arg(m)); });
        connect(&bridge, &widgets::JobEventBridge::metric, this, [&](quint64, const QString& k, qint64 s, double v) {
            record(QString("metric %1 %2 %3").arg(k).arg(s).arg(v));
        });
        connect(&bridge, &widgets::JobEventBridge::logLine, this,
                [&](quint64, int l, const QString& m) { record(QString("log %1 %2").arg(l).arg(m)); });
        connect(&bridge, &widgets::JobEventBridge::artifact, this,
                [&](quint64, const QString& k, const QString&) { record("artifact " + k); });
        connect(&bridge, &widgets::JobEventBridge::finished, this,
                [&](quint64, const QString& r) { record("finished " + r); });
        QSignalSpy ended(&bridge, &widgets::JobEventBridge::ended);

        jobs::JobPool pool(1);
        pool.submit(
            "test", "t",
            [](jobs::JobContext& ctx) {
                ctx.progress(0.5, "half");
                ctx.metric("loss", 3, 0.25);
                ctx.log(jobs::LogLevel::Warning, "careful");
                ctx.artifact("checkpoint", "/x.pt");
                return std::string("done");
            },
            bridge.observer());
        pool.waitAll();
        QCOMPARE(events.size(), 0);  // nothing is delivered until the GUI loop runs
        QVERIFY(ended.wait(2000));
        const QStringList expected = {"started",       "progress 0.5 half",   "metric loss 3 0.25",
                                      "log 2 careful", "artifact checkpoint", "finished done"};
        QCOMPARE(events, expected);
        for (QThread* t : threads) QCOMPARE(t, QThread::currentThread());
    }

    // A flood of events: delivered in order in slices (the event loop runs between them),
    // pending progress replaced by the newest, nothing lost.
    void bridgeCoalescesAFlood() {
        widgets::JobEventBridge bridge;
        QList<qint64> steps;
        QList<double> fractions;
        bool endedAfterAll = false;
        connect(&bridge, &widgets::JobEventBridge::metric, this,
                [&](quint64, const QString&, qint64 s, double) { steps << s; });
        connect(&bridge, &widgets::JobEventBridge::progress, this,
                [&](quint64, double f, const QString&, double) { fractions << f; });
        connect(&bridge, &widgets::JobEventBridge::ended, this,
                [&](quint64) { endedAfterAll = steps.size() == 50000; });
        int timerTicks = 0;
        QTimer ticker;
        connect(&ticker, &QTimer::timeout, this, [&] { ++timerTicks; });
        ticker.start(1);
        auto observer = bridge.observer();
        observer->onStarted(1);
        for (int i = 0; i < 50000; ++i) {
            observer->onMetric(1, "loss", i, 1.0);
            observer->onProgress(1, {double(i + 1) / 50000, "", std::nullopt});
        }
        observer->onFinished(1, "done");
        QTRY_VERIFY(endedAfterAll);
        QCOMPARE(steps.size(), 50000);
        for (int i = 0; i < steps.size(); ++i) QCOMPARE(steps[i], qint64(i));
        // All progress was pending at once: one delivery, with the newest value.
        QCOMPARE(fractions.size(), 1);
        QCOMPARE(fractions.last(), 1.0);
        QVERIFY2(timerTicks > 0, "the event loop never ran between slices");
    }

    void bridgeOutlivedByItsObserver() {
        auto* bridge = new widgets::JobEventBridge;
        auto observer = bridge->observer();
        observer->onProgress(1, {0.3, "queued before delete", 1.0});
        delete bridge;                            // the posted event dies with it
        observer->onFinished(1, "after delete");  // dropped, no crash
        QCoreApplication::processEvents();
        QVERIFY(true);
    }

    void jobsPanelShowsProgressEtaAndCancels() {
        widgets::JobEventBridge bridge;
        widgets::JobsPanel panel;
        panel.attach(&bridge);
        panel.resize(900, 200);
        panel.show();
        jobs::JobPool pool(1);
        connect(&panel, &widgets::JobsPanel::cancelRequested, this, [&](quint64 job) { pool.cancel(job); });
        std::atomic<bool> halfway{false};
        const auto id = pool.submit(
            "train", "tiny run",
            [&](jobs::JobContext& ctx) {
                ctx.progress(0.0, "warming up");
                std::this_thread::sleep_for(30ms);
                ctx.progress(0.25, "epoch 1/4");
                ctx.metric("gpu_memory_mb", 1, 1536.4);  // what the Trainer reports on CUDA
                halfway = true;
                for (;;) {
                    ctx.throwIfCancelled();
                    std::this_thread::sleep_for(2ms);
                }
                return std::string();
            },
            bridge.observer());
        panel.addJob(id, "train", "tiny run");
        QCOMPARE(panel.jobCount(), 1);
        QCOMPARE(panel.statusText(id), QString("queued"));
        QTRY_COMPARE(panel.progressPercent(id), 25);
        QCOMPARE(panel.statusText(id), QString("running"));
        QCOMPARE(panel.messageText(id), QString("epoch 1/4"));
        QVERIFY2(panel.etaText(id).endsWith(" s"), qPrintable(panel.etaText(id)));
        QTRY_COMPARE(panel.gpuMemoryText(id), QString("1536 MB"));
        QCOMPARE(panel.runningCount(), 1);

        QAbstractButton* cancel = panel.cancelButton(id);
        QVERIFY(cancel && cancel->isEnabled());
        QTest::mouseClick(cancel, Qt::LeftButton);
        QTRY_COMPARE(panel.statusText(id), QString("cancelled"));
        QVERIFY(!cancel->isEnabled());
        QCOMPARE(panel.runningCount(), 0);
        QCOMPARE(pool.info(id)->state, jobs::JobState::Cancelled);
    }

    void jobsPanelShowsFailureText() {
        widgets::JobEventBridge bridge;
        widgets::JobsPanel panel;
        panel.attach(&bridge);
        jobs::JobPool pool(1);
        const auto ok = pool.submit(
            "audit", "good", [](jobs::JobContext&) { return std::string("PASS"); }, bridge.observer());
        const auto bad = pool.submit(
            "audit", "bad",
            [](jobs::JobContext&) -> std::string { throw std::runtime_error("new.csv: no column 'study_id'"); },
            bridge.observer());
        panel.addJob(ok, "audit", "good");
        panel.addJob(bad, "audit", "bad");
        QTRY_COMPARE(panel.statusText(bad), QString("failed"));
        QTRY_COMPARE(panel.statusText(ok), QString("finished"));
        QCOMPARE(panel.messageText(bad), QString("new.csv: no column 'study_id'"));
        QCOMPARE(panel.progressPercent(ok), 100);
        QCOMPARE(panel.messageText(ok), QString("PASS"));
    }

    void durationFormatting_data() {
        QTest::addColumn<double>("seconds");
        QTest::addColumn<QString>("text");
        QTest::newRow("unknown") << -1.0 << "—";
        QTest::newRow("seconds") << 42.4 << "42 s";
        QTest::newRow("minutes") << 185.0 << "3 min 05 s";
        QTest::newRow("hours") << 3725.0 << "1 h 02 min";
    }
    void durationFormatting() {
        QFETCH(double, seconds);
        QFETCH(QString, text);
        QCOMPARE(widgets::formatDuration(seconds), text);
    }

    void runsPanelShowsTheStore() {
        QTemporaryDir dir;
        runs::RunStore store(dir.filePath("lumen.db").toStdString());
        widgets::RunsPanel panel;
        panel.setStore(&store);
        QCOMPARE(panel.rowCount(), 0);
        const auto a = store.createRun("roi_consistency", "baseline", "", "0123456789abcdef", "");
        store.createRun("audit", "check", "", "", "");
        store.setStatus(a, runs::RunStatus::Failed, "images/x.png: truncated PNG");
        panel.refresh();
        QCOMPARE(panel.rowCount(), 2);
        // Sorted by ID descending by default? The table sorts by what the user clicks;
        // find the row for run a.
        int row = panel.cellText(0, "ID") == QString::number(a) ? 0 : 1;
        QCOMPARE(panel.cellText(row, "Task"), QString("roi_consistency"));
        QCOMPARE(panel.cellText(row, "Status"), QString("failed"));
        QCOMPARE(panel.cellText(row, "Config"), QString("0123456789ab"));
        QCOMPARE(panel.cellText(row, "Outcome"), QString("images/x.png: truncated PNG"));
        QVERIFY(panel.cellText(row, "Duration").endsWith(" s"));
        QSignalSpy activated(&panel, &widgets::RunsPanel::runActivated);
        panel.table()->cellDoubleClicked(row, 1);
        QCOMPARE(activated.count(), 1);
        QCOMPARE(activated.at(0).at(0).toLongLong(), qlonglong(a));
        panel.setStore(nullptr);
        QCOMPARE(panel.rowCount(), 0);
    }

    void runsPanelBestMetricSelectionAndContextMenu() {
        QTemporaryDir dir;
        runs::RunStore store(dir.filePath("lumen.db").toStdString());
        const auto a = store.createRun("echo", "a", "", "aaaaaaaaaaaaaaaa", "");
        const auto b = store.createRun("echo", "b", "", "bbbbbbbbbbbbbbbb", "");
        const auto c = store.createRun("echo", "c", "", "cccccccccccccccc", "");
        store.logMetrics(a, {{"loss", 0, 2.0, 0}, {"loss", 1, 0.5, 0}, {"loss", 2, 0.75, 0}});
        store.logMetrics(b, {{"loss", 0, 1.0, 0},
                             {"val.loss", 10, 0.9, 0},
                             {"val.loss", 20, 0.7, 0},
                             {"val.auroc_macro", 10, 0.61, 0},
                             {"val.auroc_macro", 20, 0.83, 0}});
        store.logMetrics(c, {{"val.loss", 5, 1.25, 0}, {"val.loss", 6, 1.5, 0}});
        for (auto id : {a, b, c}) store.setStatus(id, runs::RunStatus::Finished, "ok");
        widgets::RunsPanel panel;
        QSignalSpy read(&panel, &widgets::RunsPanel::bestMetricsRead);
        panel.setStore(&store);
        panel.resize(900, 300);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QTRY_VERIFY(read.count() >= 1);
        auto rowOf = [&](qint64 id) {
            for (int r = 0; r < panel.rowCount(); ++r)
                if (panel.cellText(r, "ID") == QString::number(id)) return r;
            return -1;
        };
        QCOMPARE(panel.cellText(rowOf(a), "Best"), QString("loss 0.5"));
        QCOMPARE(panel.cellText(rowOf(b), "Best"), QString("val.auroc_macro 0.83"));
        QCOMPARE(panel.cellText(rowOf(c), "Best"), QString("val.loss 1.25"));
        {  // The values arrive after the table was sized: the column is widened to them.
            const QTableWidget* t = panel.table();
            int best = -1;
            for (int col = 0; col < t->columnCount(); ++col)
                if (t->horizontalHeaderItem(col) && t->horizontalHeaderItem(col)->text() == "Best") best = col;
            QVERIFY(best >= 0);
            QVERIFY2(t->columnWidth(best) >= t->fontMetrics().horizontalAdvance("val.auroc_macro 0.83"),
                     qPrintable(QString::number(t->columnWidth(best))));
        }
        QCOMPARE(panel.runFolder(b), dir.filePath(QString("runs/%1_echo").arg(b)));

        // Select two rows with the mouse (click, ctrl+click) and compare them.
        QTableWidget* t = panel.table();
        auto clickRow = [&](int row, Qt::KeyboardModifiers mods) {
            const QRect cell = t->visualRect(t->model()->index(row, 2));
            QTest::mouseClick(t->viewport(), Qt::LeftButton, mods, cell.center());
        };
        clickRow(rowOf(a), Qt::NoModifier);
        QCOMPARE(panel.selectedRunIds(), QList<qint64>{a});
        std::unique_ptr<QMenu> menu(panel.makeContextMenu());
        QVERIFY(menu->findChild<QAction*>("runsShowCurves")->isEnabled());
        QVERIFY(!menu->findChild<QAction*>("runsCompare")->isEnabled());
        QSignalSpy show(&panel, &widgets::RunsPanel::showCurvesRequested);
        menu->findChild<QAction*>("runsShowCurves")->trigger();
        QCOMPARE(show.count(), 1);
        QCOMPARE(show.at(0).at(0).toLongLong(), qlonglong(a));
        clickRow(rowOf(c), Qt::ControlModifier);
        QCOMPARE(panel.selectedRunIds().size(), 2);
        menu.reset(panel.makeContextMenu());
        auto* compare = menu->findChild<QAction*>("runsCompare");
        QVERIFY(compare->isEnabled());
        QVERIFY(compare->text().contains("(2)"));
        QSignalSpy compared(&panel, &widgets::RunsPanel::compareRequested);
        compare->trigger();
        QCOMPARE(compared.count(), 1);
        auto ids = compared.at(0).at(0).value<QList<qint64>>();
        std::sort(ids.begin(), ids.end());
        QCOMPARE(ids, (QList<qint64>{a, c}));
        // A refresh keeps the selection.
        panel.refresh();
        QCOMPARE(panel.selectedRunIds().size(), 2);
    }

    void logPanelFiltersByLevel() {
        widgets::LogPanel panel;
        panel.append(lumen::jobs::LogLevel::Debug, "job 1", "debug detail");
        panel.append(lumen::jobs::LogLevel::Info, "job 1", "epoch 1 done");
        panel.append(lumen::jobs::LogLevel::Warning, "plugins", "refused libx.so");
        panel.append(lumen::jobs::LogLevel::Error, "job 2", "failed: boom");
        QCOMPARE(panel.lineCount(), 4);
        QString text = panel.visibleText();
        QVERIFY(!text.contains("debug detail"));  // default level: info
        QVERIFY(text.contains("[job 1] epoch 1 done"));
        auto* box = panel.findChild<QComboBox*>("logLevel");
        QVERIFY(box);
        box->setCurrentIndex(2);  // as the user would
        text = panel.visibleText();
        QVERIFY(!text.contains("epoch 1 done"));
        QVERIFY(text.contains("refused libx.so"));
        QVERIFY(text.contains("failed: boom"));
        panel.setMinimumLevel(0);
        QVERIFY(panel.visibleText().contains("debug detail"));
        panel.clear();
        QCOMPARE(panel.lineCount(), 0);
        QVERIFY(panel.visibleText().isEmpty());
    }

    void workspaceViewSummary() {
        widgets::WorkspaceView view;
        QVERIFY(view.summaryText().contains("No workspace open"));
        QTemporaryDir dir;
        view.setSummary({dir.path(), 3, {"roi_consistency", "torchscript"}, {"libbad.so: refused"}, false});
        const QString text = view.summaryText();
        QVERIFY(text.contains(dir.path()));
        QVERIFY(text.contains("3 runs"));
        QVERIFY(text.contains("roi_consistency"));
        QVERIFY(text.contains("libbad.so: refused"));
    }
};

QTEST_MAIN(TestBridgeAndPanels)
#include "test_bridge_and_panels.moc"
