// Data-parallel training from the GUI (docs/distributed.md): the Run launcher's "Processes"
// box set to 2 launches `lumen-cli train --nproc 2` as a job; its progress reaches the Jobs
// panel, the run recorded by rank 0 appears in the Runs panel with dist.world_size 2; Cancel
// stops both ranks at a step boundary with last.pt saved. Screenshot
// docs/screenshots/data_parallel_launch.png at 1366×768.
#include "jobs_panel.h"
#include "main_window_test.h"
#include "run_launcher.h"
#include "runs_panel.h"

#include "runs/run_store.h"
#include "test_support.h"

#include <QAbstractButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>

#include <filesystem>
#include <regex>

using lumen::app::MainWindow;
namespace fs = std::filesystem;

namespace {

QString smallConfig(int epochs) {
    std::string text = readTextFile(fs::path(LUMEN_SOURCE_DIR) / "resources/configs/roi_consistency_demo.yaml");
    text = std::regex_replace(text, std::regex("image_size: \\d+"), "image_size: 32");
    text = std::regex_replace(text, std::regex("batch_size: \\d+"), "batch_size: 4");
    text = std::regex_replace(text, std::regex("epochs: \\d+"), "epochs: " + std::to_string(epochs));
    text = std::regex_replace(text, std::regex("  val_fraction: [0-9.]+"),
                              "  val_fraction: 0.2\n  max_images: 16\n  max_val_images: 8");
    return QString::fromStdString(text);
}

}  // namespace

class TestDataParallelGui : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("LumenTest");
        QCoreApplication::setApplicationName("LumenDataParallelGuiTest");
        QSettings().clear();
    }

    void twoProcessesFromTheLauncher() {
        QTemporaryDir dir;
        const QString ws = dir.filePath("ws");
        const auto demo = runLumenCli({"demo", "--out", ws});
        QVERIFY2(demo.code == 0, demo.err.c_str());

        MainWindow w;
        QVERIFY(showWithWorkspace(w, ws));
        auto* launcher = w.runLauncher();
        QVERIFY(launcher->selectTask("roi_consistency"));
        launcher->setYamlText(smallConfig(2));
        QVERIFY2(launcher->isValid(), qPrintable(launcher->issues().join("\n")));
        auto* box = launcher->findChild<QSpinBox*>("launcherProcesses");
        QVERIFY(box && box->isEnabled());
        box->setValue(2);
        launcher->setRunName("two ranks");
        QSignalSpy ended(&w, &MainWindow::jobEnded);
        launcher->launch();
        QVERIFY(ended.wait(240000));
        lumen::runs::RunStore store((fs::path(ws.toStdString()) / "lumen.db").string());
        const auto runs = store.runs();
        QCOMPARE(runs.size(), std::size_t(1));  // rank 1 recorded nothing
        QCOMPARE(runs.front().status, lumen::runs::RunStatus::Finished);
        QCOMPARE(runs.front().name, std::string("two ranks"));
        QVERIFY2(runs.front().outcome.find("2 ranks") != std::string::npos, runs.front().outcome.c_str());
        const auto params = store.params(runs.front().id);
        QVERIFY(std::find(params.begin(), params.end(),
                          std::make_pair(std::string("dist.world_size"), std::string("2"))) != params.end());
        QCOMPARE(store.metrics(runs.front().id, "loss").size(), std::size_t(4));  // 16 images / (2 x 4), 2 epochs
        const quint64 job = ended.at(0).at(0).toULongLong();
        QCOMPARE(w.jobsPanel()->statusText(job), QString("finished"));
        QVERIFY2(w.jobsPanel()->messageText(job).contains("trained 2 epochs"),
                 qPrintable(w.jobsPanel()->messageText(job)));
        w.runsPanel()->refresh();
        QTest::qWait(200);
        QVERIFY(w.grab().save(screenshotPath("data_parallel_launch.png")));

        // A long run, cancelled from the Jobs panel once it trains: both ranks stop, last.pt kept.
        launcher->setYamlText(smallConfig(400));
        launcher->setRunName("cancelled");
        ended.clear();
        launcher->launch();
        QTRY_VERIFY_WITH_TIMEOUT(store.runs().size() == 2 && store.metrics(store.runs().front().id, "loss").size() >= 2,
                                 120000);
        const auto second = store.runs().front().id;
        const quint64 job2 = job + 1;
        QAbstractButton* cancel = w.jobsPanel()->cancelButton(job2);
        QVERIFY(cancel && cancel->isEnabled());
        QTest::mouseClick(cancel, Qt::LeftButton);
        QVERIFY(ended.wait(120000));
        QCOMPARE(w.jobsPanel()->statusText(job2), QString("cancelled"));
        QTRY_COMPARE_WITH_TIMEOUT(store.run(second)->status, lumen::runs::RunStatus::Cancelled, 10000);
        QVERIFY(fs::exists(fs::path(ws.toStdString()) / "runs" / (std::to_string(second) + "_roi_consistency") /
                           "checkpoints" / "last.pt"));
    }
};

QTEST_MAIN(TestDataParallelGui)
#include "test_data_parallel_gui.moc"
