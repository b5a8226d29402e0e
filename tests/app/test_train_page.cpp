// Qt Test suite for the Train page of the main window: launch from the run launcher → a job
// running plugin::runTask → live curves → the Runs table (status, best metric, context
// actions) → curves of finished runs, compared. And the GUI stall measurement: a flood of
// metrics from the echo task must not block the event loop (docs/gui.md).
#include "main_window.h"

#include "jobs_panel.h"
#include "loss_curve_panel.h"
#include "run_launcher.h"
#include "runs_panel.h"

#include "test_support.h"

#include <QAction>
#include <QElapsedTimer>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTimer>

#include <QThread>

#include <cstdio>
#include <ctime>

using lumen::app::MainWindow;

namespace {

// Sets the launcher's YAML, presses Launch and waits for the job to end; returns the job id.
quint64 launchAndWait(MainWindow& w, const QString& yaml, const QString& name, int timeoutMs = 60000) {
    auto* launcher = w.runLauncher();
    launcher->setYamlText(yaml);
    launcher->setRunName(name);
    if (!launcher->isValid()) {
        qWarning("%s", qPrintable(launcher->issues().join("\n")));
        return 0;
    }
    QSignalSpy ended(&w, &MainWindow::jobEnded);
    QTest::mouseClick(launcher->launchButton(), Qt::LeftButton);
    if (!ended.wait(timeoutMs)) return 0;
    return ended.at(0).at(0).toULongLong();
}

}  // namespace

class TestTrainPage : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("LumenTest");
        QCoreApplication::setApplicationName("LumenTrainTest");
        QSettings().clear();
    }

    void launchShowsLiveCurvesAndRecordsTheRun() {
        QTemporaryDir dir;
        MainWindow w;
        w.resize(1400, 900);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.loadPlugins({LUMEN_BINARY_DIR "/tests/plugins"});
        QVERIFY(w.showPage("train"));
        QVERIFY(w.runLauncher()->taskIds().contains("test_echo"));
        QVERIFY(w.runLauncher()->selectTask("test_echo"));

        // Without a workspace: refused with a message, nothing queued.
        QTimer::singleShot(200, [] {
            for (QWidget* top : QApplication::topLevelWidgets())
                if (auto* box = qobject_cast<QMessageBox*>(top)) box->accept();
        });
        QCOMPARE(w.launchTraining("test_echo", w.runLauncher()->effectiveConfig(), "x"), 0u);

        QVERIFY(w.openWorkspace(dir.filePath("ws")));
        const QString yaml = "task: test_echo\nrows: 400\ndelay_ms: 1\nepoch_rows: 100\n"
                             "components: [full, consist, drop]\n";
        w.runLauncher()->setYamlText(yaml);
        w.runLauncher()->setRunName("first");
        QSignalSpy ended(&w, &MainWindow::jobEnded);
        QTest::mouseClick(w.runLauncher()->launchButton(), Qt::LeftButton);
        QCOMPARE(w.jobsPanel()->runningCount() + int(ended.count()), 1);
        // Live: curves appear while the job runs.
        QTRY_VERIFY(w.lossCurvePanel()->pointCount("first (live)", "loss") > 0);
        QCOMPARE(w.lossCurvePanel()->runLabels(), QStringList{"first (live)"});
        QVERIFY(ended.wait(60000));
        QTRY_COMPARE(w.lossCurvePanel()->pointCount("first (live)", "loss"), 400);
        // loss, loss.full/consist/drop, lr, grad_norm, val.loss, val.auroc_macro
        QCOMPARE(w.lossCurvePanel()->graphCount(), 8);
        // Recorded: a finished run with its best metric.
        QCOMPARE(w.runsPanel()->rowCount(), 1);
        QCOMPARE(w.runsPanel()->cellText(0, "Status"), QString("finished"));
        QCOMPARE(w.runsPanel()->cellText(0, "Name"), QString("first"));
        QTRY_VERIFY2(w.runsPanel()->cellText(0, "Best").startsWith("val.auroc_macro 0."),
                     qPrintable(w.runsPanel()->cellText(0, "Best")));
        QCOMPARE(w.runsPanel()->cellText(0, "Config").size(), 12);
        QVERIFY(QFileInfo(w.runsPanel()->runFolder(1) + "/config.yaml").exists());

        // A second run, then the Runs table's context actions.
        QVERIFY(launchAndWait(w, yaml + "seed: 7\nlr: 3e-4\n", "second"));
        QTRY_COMPARE(w.runsPanel()->rowCount(), 2);
        w.runsPanel()->selectRuns({1});
        std::unique_ptr<QMenu> menu(w.runsPanel()->makeContextMenu());
        auto* show = menu->findChild<QAction*>("runsShowCurves");
        QVERIFY(show && show->isEnabled());
        QVERIFY(!menu->findChild<QAction*>("runsCompare")->isEnabled());
        show->trigger();
        QCOMPARE(w.lossCurvePanel()->runLabels(), QStringList{"#1 first"});
        QCOMPARE(w.lossCurvePanel()->pointCount("#1 first", "loss.drop"), 400);
        w.runsPanel()->selectRuns({1, 2});
        QCOMPARE(w.runsPanel()->selectedRunIds().size(), 2);
        menu.reset(w.runsPanel()->makeContextMenu());
        auto* compare = menu->findChild<QAction*>("runsCompare");
        QVERIFY(compare->isEnabled());
        compare->trigger();
        QCOMPARE(w.lossCurvePanel()->runLabels().size(), 2);
        QVERIFY(w.lossCurvePanel()->runLabels().contains("#2 second"));
        QTest::qWait(150);
        const QPixmap shot = w.grab();
        QVERIFY(!shot.isNull());
        QVERIFY(shot.save(screenshotPath("train.png")));
    }

    // The GUI stall measurement: 20000 fast rows (no delay) each reporting 6 metrics plus
    // progress, val.* every 1000 rows; a 5 ms timer measures the longest gap between ticks.
    void guiDoesNotStallUnderAMetricFlood() {
        QTemporaryDir dir;
        MainWindow w;
        w.resize(1400, 900);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.loadPlugins({LUMEN_BINARY_DIR "/tests/plugins"});
        QVERIFY(w.openWorkspace(dir.filePath("ws")));
        QVERIFY(w.showPage("train"));
        w.runLauncher()->setYamlText("task: test_echo\nrows: 20000\ndelay_ms: 0\nepoch_rows: 1000\n"
                                     "components: [full, consist, drop, sparse]\n");
        QVERIFY(w.runLauncher()->isValid());
        QTest::qWait(200);  // let the window settle first

        // Wall time between ticks is what a user feels; on this shared 2-core machine it also
        // holds the time other processes had the CPU. The GUI thread's own CPU time within a
        // gap says how long it really worked without returning to the event loop.
        auto threadCpuNs = [] {
            timespec ts{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
        };
        QElapsedTimer clock;
        qint64 last = -1, maxGap = 0, lastCpu = 0, maxCpu = 0;
        int ticks = 0;
        QTimer ticker;
        ticker.setTimerType(Qt::PreciseTimer);
        ticker.setInterval(5);
        QObject::connect(&ticker, &QTimer::timeout, [&] {
            const qint64 now = clock.nsecsElapsed();
            const qint64 cpu = threadCpuNs();
            if (last >= 0) {
                maxGap = std::max(maxGap, now - last);
                maxCpu = std::max(maxCpu, cpu - lastCpu);
            }
            last = now;
            lastCpu = cpu;
            ++ticks;
        });
        clock.start();
        ticker.start();
        QSignalSpy ended(&w, &MainWindow::jobEnded);
        QTest::mouseClick(w.runLauncher()->launchButton(), Qt::LeftButton);
        QVERIFY(ended.wait(120000));
        // Everything delivered: the last points drawn.
        QTRY_COMPARE(w.lossCurvePanel()->pointCount("test_echo train (live)", "loss"), 20000);
        QTest::qWait(100);
        ticker.stop();
        const double runMs = clock.nsecsElapsed() / 1e6;
        const double stallMs = std::max(0.0, maxGap / 1e6 - 5.0);
        double load = -1;
        if (QFile f("/proc/loadavg"); f.open(QIODevice::ReadOnly)) load = f.readAll().split(' ').value(0).toDouble();
        std::printf("GUI stall: longest event-loop stall %.1f ms (max tick gap %.1f ms, %d ticks in %.0f ms; "
                    "%d replots); GUI-thread CPU in the busiest gap %.1f ms; load average %.2f on %d cores\n",
                    stallMs, maxGap / 1e6, ticks, runMs, w.lossCurvePanel()->replotCount(), maxCpu / 1e6,
                    load, QThread::idealThreadCount());
        std::fflush(stdout);
        QCOMPARE(w.runsPanel()->cellText(0, "Status"), QString("finished"));
        QVERIFY2(stallMs < 250, qPrintable(QString("stall %1 ms").arg(stallMs)));
    }
};

QTEST_MAIN(TestTrainPage)
#include "test_train_page.moc"
