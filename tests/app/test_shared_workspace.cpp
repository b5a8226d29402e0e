// Qt Test suite: one workspace shared by an open GUI and CLI processes (docs/reliability.md,
// "Sharing a workspace"). The GUI shows the workspace as a user has it on screen (file tree
// with icons and types), CLI jobs write to its run store and exit, and both sides keep reading
// and writing; the database stays intact.
#include "main_window_test.h"

#include "config/config.h"
#include "runs/run_lock.h"
#include "runs/run_store.h"
#include "runs_panel.h"
#include "workspace_view.h"

#include "test_support.h"

#include <QAction>
#include <QFileSystemModel>
#include <QMenu>
#include <QStandardPaths>
#include <QTreeView>

#include <algorithm>
#include <fstream>
#include <memory>

using lumen::app::MainWindow;

namespace {

const QString kEchoYaml = "task: test_echo\nrows: 60\ndelay_ms: 1\nepoch_rows: 30\ncomponents: [full]\n";

/// Trains the test plugin's echo task in the GUI process (a GUI write to the run store).
bool trainInGui(MainWindow& w, const QString& name) {
    QSignalSpy ended(&w, &MainWindow::jobEnded);
    const auto task = w.registry().find("test_echo");
    if (!task) return false;
    const auto config = lumen::config::makeConfig(lumen::config::parseYaml(kEchoYaml.toStdString()), task->schema());
    if (w.launchTraining("test_echo", config, name) == 0) return false;
    return ended.wait(60000);
}

/// Asks the workspace tree for every file's icon and type, as painting it on screen does,
/// and gives the model's background gatherer time to fetch them.
void showEveryFile(MainWindow& w, const QString& ws) {
    auto* model = qobject_cast<QFileSystemModel*>(w.workspaceView()->fileTree()->model());
    QVERIFY(model);
    QTRY_VERIFY(model->index(ws + "/lumen.db").isValid());
    for (const char* name : {"lumen.db", "lumen.db-wal", "lumen.db-shm", "predictions/base.csv"}) {
        const QModelIndex index = model->index(ws + "/" + name);
        if (!index.isValid()) continue;
        model->data(index, Qt::DecorationRole);
        model->data(index.siblingAtColumn(2), Qt::DisplayRole);
        model->fileIcon(index);
        model->type(index);
    }
    w.workspaceView()->fileTree()->expandAll();
    QTest::qWait(1500);
}

/// The main window at 1366x768 with the test plugin, open on `ws` (created if needed).
bool showOn(MainWindow& w, const QString& ws) { return showWithWorkspace(w, ws, {LUMEN_BINARY_DIR "/tests/plugins"}); }

QString integrityCheck(const QString& db) {
    QProcess p;
    p.start("/usr/bin/python3", {"-c",
                                 "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                                 "print(c.execute('pragma integrity_check').fetchone()[0])",
                                 db});
    p.waitForFinished(30000);
    return QString::fromUtf8(p.readAllStandardOutput()).trimmed() + QString::fromUtf8(p.readAllStandardError());
}

}  // namespace

class TestSharedWorkspace : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("LumenTest");
        QCoreApplication::setApplicationName("LumenTestShared");
        QSettings().clear();
    }

    // The reported failure: GUI open on a workspace, a CLI job on it exits, and the GUI's
    // next read or write fails with "database disk image is malformed" because the CLI
    // deleted lumen.db-wal/-shm believing it was the last connection.
    void cliJobsOnAWorkspaceTheGuiHoldsOpen() {
        QTemporaryDir dir;
        const QString ws = dir.filePath("ws");
        MainWindow w;
        QVERIFY(showOn(w, ws));
        QVERIFY(QDir().mkpath(ws + "/predictions"));
        const QString base = ws + "/predictions/base.csv", next = ws + "/predictions/new.csv";
        writeTextFile(dir, "ws/predictions/base.csv", "id,p\na,0.10\nb,0.20\nc,0.30\n");
        writeTextFile(dir, "ws/predictions/new.csv", "id,p\na,0.10\nb,0.20\nc,0.31\n");

        QVERIFY(trainInGui(w, "gui-1"));
        QTRY_COMPARE(w.runsPanel()->rowCount(), 1);
        QVERIFY2(w.runsPanel()->cellText(0, "Status") == "finished", qPrintable(w.runsPanel()->cellText(0, "Outcome")));
        QVERIFY(w.showPage("workspace"));
        showEveryFile(w, ws);
        const QString lost = anotherProcessOpensAndCloses(ws + "/lumen.db");
        QVERIFY2(lost.isEmpty(), qPrintable(lost));

        // A CLI job writes to the same run store and exits while the GUI holds it open.
        auto cli = runLumenCli(
            {"audit", "--baseline", base, "--new", next, "--workspace", ws, "--stage", "from-cli", "--quiet"});
        QVERIFY2(cli.code == 0 || cli.code == 1, cli.err.c_str());  // the verdict does not matter here
        QVERIFY2(QFile::exists(ws + "/lumen.db-wal"), "the CLI removed the WAL under the GUI's connection");
        QVERIFY(QFile::exists(ws + "/lumen.db-shm"));

        // The GUI sees the CLI's run by itself (it watches the store) and keeps writing.
        QTRY_COMPARE_WITH_TIMEOUT(w.runsPanel()->rowCount(), 2, 5000);
        QVERIFY(trainInGui(w, "gui-2"));
        QTRY_COMPARE(w.runsPanel()->rowCount(), 3);
        QVERIFY2(w.runsPanel()->cellText(0, "Status") == "finished", qPrintable(w.runsPanel()->cellText(0, "Outcome")));
        QCOMPARE(w.runsPanel()->cellText(0, "Name"), QString("gui-2"));

        // The CLI reads what the GUI wrote, and writes again.
        showEveryFile(w, ws);
        cli = runLumenCli({"audit", "--history", "--workspace", ws});
        QVERIFY2(cli.code == 0, cli.err.c_str());
        QVERIFY2(QString::fromStdString(cli.out).contains("from-cli"), cli.out.c_str());
        cli = runLumenCli(
            {"audit", "--baseline", base, "--new", next, "--workspace", ws, "--stage", "from-cli-2", "--quiet"});
        QVERIFY2(cli.code == 0 || cli.code == 1, cli.err.c_str());
        QTRY_COMPARE_WITH_TIMEOUT(w.runsPanel()->rowCount(), 4, 5000);
        QVERIFY(trainInGui(w, "gui-3"));
        QTRY_COMPARE(w.runsPanel()->rowCount(), 5);

        QVERIFY(w.grab().save(screenshotPath("shared_workspace.png")));
        w.close();
        QCOMPARE(integrityCheck(ws + "/lumen.db"), QString("ok"));
    }

    // A run left `running` by a process that died shows as interrupted within seconds, and
    // one click resumes it from its last checkpoint (a new run with `resume:` set).
    void deadRunShowsInterruptedAndResumesWithOneClick() {
        QTemporaryDir dir;
        const QString ws = dir.filePath("ws");
        MainWindow w;
        QVERIFY(showOn(w, ws));
        // What a CLI killed after its first checkpoint leaves: a `running` row, its folder with
        // the config and checkpoints/last.pt, and a run.lock nobody holds.
        const auto workspace = lumen::runs::Workspace::open(ws.toStdString());
        std::int64_t id = 0;
        {
            lumen::runs::RunStore cli(workspace.database());
            id = cli.createRun("test_echo", "killed", kEchoYaml.toStdString(), "hash", "{}");
            const auto runDir = workspace.runDir(id, "test_echo");
            std::filesystem::create_directories(runDir / "checkpoints");
            { lumen::runs::RunLock died(runDir); }
            std::ofstream(runDir / "checkpoints" / "last.pt") << "checkpoint";
            cli.setStatus(id, lumen::runs::RunStatus::Running);
        }
        QTRY_COMPARE_WITH_TIMEOUT(w.runsPanel()->rowCount(), 1, 5000);
        QTRY_COMPARE_WITH_TIMEOUT(w.runsPanel()->cellText(0, "Status"), QString("interrupted"), 5000);

        w.runsPanel()->selectRuns({id});
        std::unique_ptr<QMenu> menu(w.runsPanel()->makeContextMenu());
        auto* resume = menu->findChild<QAction*>("runsResume");
        QVERIFY(resume && resume->isEnabled());
        QSignalSpy ended(&w, &MainWindow::jobEnded);
        resume->trigger();
        QVERIFY(ended.wait(60000));
        QTRY_COMPARE(w.runsPanel()->rowCount(), 2);
        QCOMPARE(w.runsPanel()->cellText(0, "Name"), QString("killed (resumed)"));
        QVERIFY2(w.runsPanel()->cellText(0, "Status") == "finished", qPrintable(w.runsPanel()->cellText(0, "Outcome")));
        lumen::runs::RunStore store(workspace.database());
        const auto params = store.params(store.runs().front().id);
        const auto last = (workspace.runDir(id, "test_echo") / "checkpoints" / "last.pt").string();
        QVERIFY(std::find(params.begin(), params.end(), std::make_pair(std::string("resume"), last)) != params.end());
        QVERIFY(w.grab().save(screenshotPath("runs_interrupted.png")));

        // A finished run offers no resume.
        w.runsPanel()->selectRuns({store.runs().front().id});
        menu.reset(w.runsPanel()->makeContextMenu());
        QVERIFY(!menu->findChild<QAction*>("runsResume")->isEnabled());
    }
};

QTEST_MAIN(TestSharedWorkspace)
#include "test_shared_workspace.moc"
