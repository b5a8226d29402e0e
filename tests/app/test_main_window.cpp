// Qt Test suite for the app shell: docks, menus, workspaces, jobs through the bridge,
// layout kept in QSettings, the demo workspace and plugins — driven as a user would.
#include "main_window.h"
#include "user_guide.h"
#include "file_dialogs.h"
#include "run_launcher.h"

#include "data_panel.h"
#include "demo/demo_workspace.h"
#include "dicom_browser.h"
#include "net/pacs_nodes.h"
#include "jobs_panel.h"
#include "log_panel.h"
#include "pacs_panel.h"
#include "runs_panel.h"
#include "audit_panel.h"
#include "study_browser.h"
#include "workspace_view.h"

#include "test_support.h"

#include <QAbstractButton>
#include <QComboBox>
#include <QTableWidget>
#include <QDockWidget>
#include <QLabel>
#include <QMenuBar>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTreeWidget>

#include <atomic>
#include <thread>

using lumen::app::MainWindow;
using namespace std::chrono_literals;

/// A named child (a widget's object names are its test interface); fails when it is missing.
template <typename T>
T* part(QWidget& w, const char* name) {
    T* child = w.findChild<T*>(QString::fromLatin1(name));
    if (!child) qFatal("no %s named %s", T::staticMetaObject.className(), name);
    return child;
}

namespace {
QStringList menuTitles(QMainWindow& w) {
    QStringList titles;
    for (QAction* a : w.menuBar()->actions()) titles << a->text().remove('&');
    return titles;
}
QString statusText(QMainWindow& w) {
    QStringList parts;
    for (auto* label : w.statusBar()->findChildren<QLabel*>()) parts << label->text();
    return parts.join(" | ");
}
}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);  // settings and data under ~/.qttest
        QCoreApplication::setOrganizationName("LumenTest");
        QCoreApplication::setApplicationName("LumenTest");
        QSettings().clear();
        QDir(MainWindow::demoWorkspacePath()).removeRecursively();
    }

    void hasDocksMenusAndStatus() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        for (const char* name : {"jobsDock", "runsDock", "logDock"}) {
            auto* dock = w.findChild<QDockWidget*>(name);
            QVERIFY2(dock, name);
            QVERIFY(dock->isVisible() || w.tabifiedDockWidgets(dock).size() > 0);
        }
        QCOMPARE(menuTitles(w), (QStringList{"File", "View", "Help"}));
        QVERIFY(statusText(w).contains("No workspace open"));
        QVERIFY(statusText(w).contains("idle"));
        QVERIFY(w.workspaceView()->summaryText().contains("No workspace open"));
    }

    void fitsA1280x720Screen() {
        // docs/gui.md: every page usable on a 1280x720 screen (pages scroll when they need
        // more), with the task plugins loaded and a workspace open.
        QTemporaryDir dir;
        MainWindow w;
        w.loadPlugins();
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.openWorkspace(dir.path()));
        for (const char* page :
             {"workspace", "data", "dicom", "pacs", "volume", "audit", "study", "metrics", "train"}) {
            QVERIFY2(w.showPage(page), page);
            QCoreApplication::processEvents();
            const QSize min = w.minimumSizeHint().expandedTo(w.minimumSize());
            QVERIFY2(min.width() <= 1280 && min.height() <= 720,
                     qPrintable(QString("%1: minimum %2x%3").arg(page).arg(min.width()).arg(min.height())));
        }
        w.resize(1280, 720);
        QCoreApplication::processEvents();
        QVERIFY2(w.width() <= 1280 && w.height() <= 720, qPrintable(QString("%1x%2").arg(w.width()).arg(w.height())));

        // An error of 1,000 characters (a failed job, the log, the status bar) does not widen
        // the window: it wraps or is cut, with the whole text in a tooltip and the log.
        const QSize before = w.minimumSizeHint().expandedTo(w.minimumSize());
        const std::string longError = "no id column in /data/predictions.csv (columns: " + std::string(950, 'c') + ")";
        QSignalSpy ended(&w, &MainWindow::jobEnded);
        w.submitJob("test", "A job that fails with a long message",
                    [longError](lumen::jobs::JobContext&) -> std::string { throw std::runtime_error(longError); });
        QVERIFY(ended.wait(10000));
        w.logPanel()->append(lumen::jobs::LogLevel::Error, "test", QString::fromStdString(longError));
        w.statusBar()->showMessage(QString::fromStdString(longError));
        QCoreApplication::processEvents();
        const QSize after = w.minimumSizeHint().expandedTo(w.minimumSize());
        QVERIFY2(after.width() <= 1280 && after.height() <= 720, qPrintable(QString("%1x%2 (was %3x%4)")
                                                                                .arg(after.width())
                                                                                .arg(after.height())
                                                                                .arg(before.width())
                                                                                .arg(before.height())));
        QCOMPARE(after, before);
    }

    // Help → User guide: the docs rendered in the app; config templates on the Train page,
    // copied into the workspace; file dialogs start in the workspace.
    void userGuideTemplatesAndDialogFolders() {
        MainWindow w;
        w.loadPlugins();
        auto* guide = w.showUserGuide();
        QVERIFY(guide->documentCount() >= 15);
        QCOMPARE(guide->currentDocument(), QString("gui.md"));
        QVERIFY(guide->currentText().contains("Run launcher"));
        QVERIFY(guide->openDocument("audit.md"));
        QVERIFY(guide->currentText().contains("Reproducibility audit"));
        QVERIFY(!guide->openDocument("no_such_page.md"));
        guide->close();

        auto* launcher = w.findChild<lumen::widgets::RunLauncher*>("runLauncher");
        QVERIFY(launcher);
        QStringList names;
        for (const QString& t : launcher->templates()) names << QFileInfo(t).fileName();
        QVERIFY2(names.contains("roi_consistency_demo.yaml") && names.contains("ct_multilabel_demo.yaml"),
                 qPrintable(names.join(", ")));
        QTemporaryDir dir;
        QVERIFY(w.openWorkspace(dir.path()));
        QCOMPARE(lumen::widgets::dialogStartFolder(), QDir(dir.path()).absolutePath());
        QCOMPARE(lumen::widgets::dialogDirectory("metrics.csv"), QDir(dir.path()).filePath("metrics.csv"));
        QCOMPARE(lumen::widgets::dialogDirectory("/tmp"), QString("/tmp"));
        QString error;
        const QString ct = w.findChild<lumen::widgets::RunLauncher*>("runLauncher")
                               ->useTemplate(MainWindow::shareFolder("configs") + "/ct_multilabel_demo.yaml", &error);
        QCOMPARE(ct, QDir(dir.path()).filePath("configs/ct_multilabel_demo.yaml"));
        QCOMPARE(launcher->currentTask(), QString("ct_multilabel"));
        // The workspace's copy is the user's: edited, it is loaded again as it is, not replaced.
        QFile copy(ct);
        QVERIFY(copy.open(QIODevice::Append));
        copy.write("# my edit\n");
        copy.close();
        QCOMPARE(launcher->useTemplate(MainWindow::shareFolder("configs") + "/ct_multilabel_demo.yaml", &error), ct);
        QVERIFY(launcher->yamlText().contains("# my edit"));
    }

    void dataPageReadsAManifestAsAJob() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.showPage("data"));
        auto* panel = w.findChild<lumen::widgets::DataPanel*>("dataPanel");
        QVERIFY(panel);
        QTRY_VERIFY(panel->isVisible());
        QTemporaryDir dir;
        const auto file =
            writeTextFile(dir, "m.csv", "id,patient_id,path,labels,split\na,P1,a.png,Mass,train\nb,P2,b.png,,test\n");
        QSignalSpy loaded(panel, &lumen::widgets::DataPanel::loaded);
        QSignalSpy ended(&w, &MainWindow::jobEnded);
        QVERIFY(panel->open(QString::fromStdString(file)));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 20000);
        QVERIFY(ended.count() >= 1);  // it ran on the window's pool
        QVERIFY(panel->statusText().contains("2 images"));
    }

    void opensAWorkspaceAndRemembersIt() {
        QTemporaryDir dir;
        MainWindow w;
        QSignalSpy opened(&w, &MainWindow::workspaceOpened);
        QVERIFY(w.openWorkspace(dir.filePath("ws")));
        QCOMPARE(opened.count(), 1);
        QVERIFY(QFile::exists(dir.filePath("ws/lumen.db")));
        QVERIFY(statusText(w).contains(dir.filePath("ws")));
        QVERIFY(w.windowTitle().contains(dir.filePath("ws")));
        QCOMPARE(w.recentWorkspaces().first(), dir.filePath("ws"));
        QCOMPARE(w.runsPanel()->rowCount(), 0);
        QVERIFY(w.workspaceView()->summaryText().contains("0 runs"));

        // A folder that cannot be a workspace: an error, logged, and the app goes on.
        QString error;
        QVERIFY(!w.openWorkspace("/proc/lumen-cannot-create-this", &error));
        QVERIFY2(error.contains("/proc/lumen-cannot-create-this"), qPrintable(error));
        QCOMPARE(w.workspacePath(), dir.filePath("ws"));  // the previous one stays open
        w.logPanel()->setMinimumLevel(0);
        QVERIFY(w.logPanel()->visibleText().contains("lumen-cannot-create-this"));
    }

    void jobsShowInThePanelAndCancelFromIt() {
        MainWindow w;
        w.show();
        std::atomic<bool> running{false};
        const auto id = w.submitJob("train", "endless", [&](lumen::jobs::JobContext& job) {
            running = true;
            for (int i = 0;; ++i) {
                job.throwIfCancelled();
                if (i == 5) job.progress(0.1, "step 5");
                std::this_thread::sleep_for(2ms);
            }
            return std::string();
        });
        QTRY_VERIFY(running);
        QTRY_COMPARE(w.jobsPanel()->progressPercent(id), 10);
        QTRY_VERIFY(statusText(w).contains("1 job running"));
        QTest::mouseClick(w.jobsPanel()->cancelButton(id), Qt::LeftButton);
        QTRY_COMPARE(w.jobsPanel()->statusText(id), QString("cancelled"));
        QTRY_VERIFY(statusText(w).contains("idle"));

        const auto bad = w.submitJob("audit", "broken", [](lumen::jobs::JobContext&) -> std::string {
            throw std::runtime_error("baseline.csv: no id column");
        });
        QTRY_COMPARE(w.jobsPanel()->statusText(bad), QString("failed"));
        QVERIFY(w.logPanel()->visibleText().contains("failed: baseline.csv: no id column"));
    }

    void layoutIsKeptInSettings() {
        {
            MainWindow w;
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            w.findChild<QDockWidget*>("runsDock")->hide();
            QVERIFY(w.close());
        }
        {
            MainWindow w;
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            QVERIFY(!w.findChild<QDockWidget*>("runsDock")->isVisible());
            // View → Reset layout brings it back.
            QAction* reset = nullptr;
            for (QAction* menu : w.menuBar()->actions())
                for (QAction* a : menu->menu()->actions())
                    if (a->text().remove('&') == "Reset layout") reset = a;
            QVERIFY(reset);
            reset->trigger();
            QVERIFY(w.findChild<QDockWidget*>("runsDock")->isVisible());
            QVERIFY(w.close());
        }
    }

    void demoWorkspaceIsGeneratedAsAJobOnce() {
        MainWindow w;
        w.show();
        w.openDemoWorkspace();
        QCOMPARE(w.workspacePath(), MainWindow::demoWorkspacePath());
        QCOMPARE(w.jobsPanel()->jobCount(), 1);
        QTRY_VERIFY_WITH_TIMEOUT(w.runningJobs() == 0, 120000);
        QVERIFY(lumen::demo::isDemoWorkspace(MainWindow::demoWorkspacePath().toStdString()));
        QCOMPARE(w.runsPanel()->rowCount(), 1);
        QCOMPARE(w.runsPanel()->cellText(0, "Task"), QString("demo"));
        QCOMPARE(w.runsPanel()->cellText(0, "Status"), QString("finished"));
        QVERIFY(w.runsPanel()->cellText(0, "Outcome").contains("X-rays"));
        QVERIFY(w.workspaceView()->summaryText().contains("Demo workspace"));

        MainWindow again;
        again.openDemoWorkspace();  // complete already: no second job
        QCOMPARE(again.jobsPanel()->jobCount(), 0);
        QCOMPARE(again.runsPanel()->rowCount(), 1);
    }

    void pacsPageShowsTheWorkspacesNodes() {
        QTemporaryDir dir;
        lumen::net::savePacsNodes(dir.path().toStdString(),
                                  {{"archive", lumen::net::parseNodeAddress("ARCHIVE@127.0.0.1:11112")}});
        MainWindow w;
        QVERIFY(w.openWorkspace(dir.path()));
        QVERIFY(w.showPage("pacs"));
        QCOMPARE(w.centralWidget()->findChild<lumen::widgets::PacsPanel*>(), w.pacsPanel());
        QCOMPARE(int(w.pacsPanel()->nodes().size()), 1);
        QCOMPARE(w.pacsPanel()->workspace(), w.workspacePath());
    }

    void pluginsAreListedAndRefusalsShown() {
        MainWindow w;
        w.loadPlugins({LUMEN_BINARY_DIR "/tests/plugins"});
        // The tests' folder adds test_echo to the tasks of the build's own plugin folder.
        QCOMPARE(w.registry().ids(), (std::vector<std::string>{"angio_multiview", "clip_contrastive", "ct_multilabel",
                                                               "roi_consistency", "test_echo", "torchscript"}));
        const QString summary = w.workspaceView()->summaryText();
        QVERIFY(summary.contains("test_echo"));
        QVERIFY(summary.contains("Plugins refused"));
        QVERIFY(summary.contains("interface version"));
        QVERIFY2(statusText(w).contains("6 tasks"), qPrintable(statusText(w)));
    }

    void dicomPageScansIntoTheWorkspace() {
        QTemporaryDir dir;
        lumen::demo::DemoOptions o;
        o.chestImages = 2;
        o.ctVolumes = 1;
        o.angioStudies = 1;
        o.predictionStudies = 4;
        lumen::demo::createDemoWorkspace(dir.filePath("data").toStdString(), o);
        MainWindow w;
        QVERIFY(w.openWorkspace(dir.filePath("ws")));
        QVERIFY(w.showPage("dicom"));
        QCOMPARE(w.currentPage(), static_cast<QWidget*>(w.dicomBrowser()));
        QSignalSpy scanned(w.dicomBrowser(), &lumen::widgets::DicomBrowser::scanFinished);
        QVERIFY(w.dicomBrowser()->scanFolder(dir.filePath("data")));
        QVERIFY(scanned.wait(60000));
        QCOMPARE(w.dicomBrowser()->tree()->topLevelItemCount(), 2);  // the CT patient and one angiography patient
        QCOMPARE(w.jobsPanel()->findChildren<QObject*>().isEmpty(), false);
        // The index lives in the workspace database, beside the runs.
        QVERIFY(QFile::exists(dir.filePath("ws/lumen.db")));
        QCOMPARE(w.runsPanel()->rowCount(), 0);
    }

    void auditSelectionOpensTheStudyPage() {
        // A study picked in the audit opens in the Study page, the audit's tables as new/baseline.
        QTemporaryDir dir;
        lumen::demo::DemoOptions o;
        o.chestImages = 2;
        o.ctVolumes = 1;
        o.angioStudies = 2;
        o.predictionStudies = 6;
        lumen::demo::createDemoWorkspace(dir.path().toStdString(), o);
        MainWindow w;
        w.show();
        QVERIFY(w.openWorkspace(dir.path()));
        QCOMPARE(w.studyBrowser()->mediaRoot(), w.workspacePath());
        w.auditPanel()->setInputs(dir.filePath("predictions/baseline.csv"), dir.filePath("predictions/new.csv"));
        QSignalSpy finished(w.auditPanel(), &lumen::widgets::AuditPanel::auditFinished);
        QVERIFY(w.auditPanel()->runAudit());
        QVERIFY(finished.wait(60000));
        const auto result = w.auditPanel()->result();
        QVERIFY(result);
        QFile studies(dir.filePath("angio/studies.csv"));
        QVERIFY(studies.open(QIODevice::ReadOnly));
        studies.readLine();
        const QString id = QString::fromUtf8(studies.readLine()).section(',', 0, 0);
        QVERIFY(result->newer->findRow(id.toStdString()));
        QSignalSpy shown(w.studyBrowser(), &lumen::widgets::StudyBrowser::studyShown);
        w.auditPanel()->selectStudy(id);
        QCOMPARE(w.currentPage(), static_cast<QWidget*>(w.studyBrowser()));
        QCOMPARE(w.studyBrowser()->currentStudy(), id);
        QCOMPARE(w.studyBrowser()->predictions(), result->newer);
        QCOMPARE(w.studyBrowser()->baseline(), result->baseline);
        QCOMPARE(part<QTableWidget>(*w.studyBrowser(), "studyPredictions")->rowCount(), 90);
        // An angiography study: two views found under angio/studies/S<id>/.
        QTRY_VERIFY_WITH_TIMEOUT(!shown.isEmpty() && shown.last().at(0).toString() == id, 20000);
        QCOMPARE(part<QComboBox>(*w.studyBrowser(), "studyView")->count(), 2);
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
