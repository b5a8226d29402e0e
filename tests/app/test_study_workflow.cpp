// The researcher's loop in the GUI on real outputs, no fixtures: the demo workspace → a
// roi_consistency model launched from the main window → Runs panel: Infer… (preds.csv, roi_vis
// masks) → Explain (Grad-CAM cache) → Open in Study view, showing a study with the model's own
// heatmap and mask; then lumen-cli explain on the same preds.csv without --image-root. Also
// the screenshot docs/screenshots/study_view_real.png.
#include "main_window.h"
#include "runs_panel.h"
#include "config/config.h"
#include "config/schema.h"
#include "overlay_view.h"
#include "study_browser.h"

#include "test_support.h"

#include <QAbstractButton>
#include <QApplication>
#include <QDialog>
#include <QDirIterator>
#include <QMenu>
#include <QSignalSpy>
#include <QTimer>
#include <QLabel>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTableWidget>

using lumen::app::MainWindow;

/// A named child (a widget's object names are its test interface); fails when it is missing.
template <typename T>
T* part(QWidget& w, const char* name) {
    T* child = w.findChild<T*>(QString::fromLatin1(name));
    if (!child) qFatal("no %s named %s", T::staticMetaObject.className(), name);
    return child;
}

namespace {

const QString kCli = LUMEN_BINARY_DIR "/bin/lumen-cli";

/// Runs lumen-cli; fails the test (with its stderr) unless it exits 0.
bool cli(const QStringList& args, QString* out = nullptr) {
    QProcess p;
    p.setProcessChannelMode(QProcess::SeparateChannels);
    p.start(kCli, args);
    if (!p.waitForFinished(900000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        qWarning("lumen-cli %s failed:\n%s", qPrintable(args.join(' ')), p.readAllStandardError().constData());
        return false;
    }
    if (out) *out = QString::fromUtf8(p.readAllStandardOutput());
    return true;
}

/// Accepts the modal dialog named `name` (its current choice) once it is shown.
/// Clicks the button named `button` of the modal dialog named `name` once it is up.
void clickInDialogSoon(const QString& name, const QString& button) {
    QTimer::singleShot(200, [name, button] {
        auto* d = qobject_cast<QDialog*>(QApplication::activeModalWidget());
        auto* b = d && d->objectName() == name ? d->findChild<QAbstractButton*>(button) : nullptr;
        if (b) b->click();
        else qWarning("no modal dialog %s with a button %s", qPrintable(name), qPrintable(button));
    });
}

void acceptDialogSoon(const QString& name) {
    QTimer::singleShot(200, [name] {
        auto* d = qobject_cast<QDialog*>(QApplication::activeModalWidget());
        if (d && d->objectName() == name) d->accept();
        else qWarning("no modal dialog named %s", qPrintable(name));
    });
}

/// Triggers the Runs panel's context-menu action `action` for run `run`; false when it is
/// missing or disabled.
bool runAction(MainWindow& w, qint64 run, const char* action) {
    w.runsPanel()->refresh();
    w.runsPanel()->selectRuns({run});
    std::unique_ptr<QMenu> menu(w.runsPanel()->makeContextMenu());
    auto* a = menu->findChild<QAction*>(action);
    if (!a || !a->isEnabled()) {
        qWarning("run %lld: action %s %s", run, action, a ? "disabled" : "missing");
        return false;
    }
    a->trigger();
    return true;
}

}  // namespace

class TestStudyWorkflow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("LumenTest");
        QCoreApplication::setApplicationName("LumenStudyWorkflowTest");
        QSettings().clear();
    }

    // The clinician's first minute: --demo generates the demo, trains, runs and explains its
    // tiny chest X-ray model as visible jobs, and the Study page lists studies with heatmaps.
    void theClinicianFirstMinute() {
        QDir(MainWindow::demoWorkspacePath()).removeRecursively();
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.loadPlugins();
        QVERIFY(w.openDemoWorkspace() > 0);
        auto* study = w.studyBrowser();
        // Until the chain ends the page shows the demo's angiography table; the model's own
        // predictions (preds.csv of its inference run) replace it, read off the GUI thread.
        const auto showsTheModel = [study] {
            const auto table = study->predictions();
            return table && table->path.filename() == "preds.csv";
        };
        QTRY_VERIFY_WITH_TIMEOUT(w.currentPage() == study && study->camCache().contains("/cache/cam/") &&
                                     showsTheModel() && !study->visibleStudies().isEmpty(),
                                 900000);
        QCOMPARE(w.runsPanel()->rowCount(), 3);  // the demo, its model, the model's inference
        QVERIFY(!study->roiFolder().isEmpty());
        // The first study shows its image with the heatmap of its top output and its mask.
        const QString id = study->visibleStudies().first();
        QFile index(study->camCache() + "/index.csv");
        QVERIFY(index.open(QIODevice::ReadOnly));
        QString label;
        for (const QByteArray& line : index.readAll().split('\n'))
            if (line.startsWith(id.toUtf8() + ",")) label = QString::fromUtf8(line.split(',').value(1));
        QVERIFY2(!label.isEmpty(), qPrintable("no CAM for " + id));
        QVERIFY(study->setLabel(label));
        QVERIFY(study->selectStudy(id));
        auto* overlay = part<lumen::widgets::OverlayView>(*study, "overlayView");
        QTRY_VERIFY_WITH_TIMEOUT(overlay->hasHeatmap(), 30000);
        QVERIFY(overlay->colorBarShown());
        QTest::qWait(100);
        QVERIFY(w.grab().save(screenshotPath("demo_study_ready.png")));
    }

    void theResearcherLoopInTheGui() {
        QTemporaryDir dir;
        const QString ws = dir.filePath("ws");
        QVERIFY(cli({"demo", "--out", ws}));
        MainWindow w;
        w.resize(1500, 900);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.loadPlugins();
        QVERIFY(w.openWorkspace(ws));
        QSignalSpy ended(&w, &MainWindow::jobEnded);

        // Launch: the demo config, one epoch (enough for a model whose CAMs are its own).
        QFile demo(LUMEN_SOURCE_DIR "/resources/configs/roi_consistency_demo.yaml");
        QVERIFY(demo.open(QIODevice::ReadOnly));
        QString yaml = QString::fromUtf8(demo.readAll());
        yaml.replace(QRegularExpression("\\nepochs: \\d+"), "\nepochs: 1");
        const auto task = w.registry().find("roi_consistency");
        QVERIFY(task);
        const auto config =
            lumen::config::makeConfig(lumen::config::parseYaml(yaml.toStdString(), "demo"), task->schema(), "demo");
        QVERIFY(w.launchTraining("roi_consistency", config, "loop"));
        QVERIFY(ended.wait(900000));
        const qint64 trained = 1;
        QVERIFY2(!w.runsPanel()->artifact(trained, "best_checkpoint").isEmpty(), "no best checkpoint");

        // Infer… on the validation split (the dialog's first choice), as a recorded run.
        acceptDialogSoon("inferDialog");
        QVERIFY(runAction(w, trained, "runsInfer"));
        QVERIFY(ended.wait(300000));
        const qint64 inferred = 2;
        const QString preds = w.runsPanel()->artifact(inferred, "predictions");
        QVERIFY2(QFileInfo::exists(preds), qPrintable(preds));

        // Explain (Grad-CAM) of that run's images with its model, top 2 outputs each.
        acceptDialogSoon("explainDialog");
        QVERIFY(runAction(w, inferred, "runsExplain"));
        QVERIFY(ended.wait(300000));

        // Open in Study view: predictions, the workspace's images, the run's masks, the new CAMs.
        auto* study = w.studyBrowser();
        QSignalSpy loaded(study, &lumen::widgets::StudyBrowser::tablesLoaded);
        QVERIFY(runAction(w, inferred, "runsOpenStudy"));
        QVERIFY(loaded.wait(60000));
        QCOMPARE(w.currentPage(), static_cast<QWidget*>(study));
        QCOMPARE(loaded.at(0).at(0).toInt(), 68);  // the validation images
        QCOMPARE(QDir(study->roiFolder()).absolutePath(),
                 QDir(QFileInfo(preds).dir().filePath("roi_vis")).absolutePath());
        QVERIFY2(study->camCache().contains(ws + "/cache/cam/"), qPrintable(study->camCache()));

        // The first image has a mask (infer.visuals) and CAMs for its two highest outputs: show
        // the top one's label.
        const QString id = study->visibleStudies().first();
        QFile index(study->camCache() + "/index.csv");
        QVERIFY(index.open(QIODevice::ReadOnly));
        QString label;
        for (const QByteArray& line : index.readAll().split('\n'))
            if (line.startsWith(id.toUtf8() + ",")) {
                label = QString::fromUtf8(line.split(',').value(1));
                break;
            }
        QVERIFY2(!label.isEmpty(), qPrintable("no CAM for " + id));
        QVERIFY(study->setLabel(label));
        QSignalSpy shown(study, &lumen::widgets::StudyBrowser::studyShown);
        QVERIFY(study->selectStudy(id));
        QVERIFY(shown.wait(30000) || part<lumen::widgets::OverlayView>(*study, "overlayView")->hasHeatmap());
        auto* overlay = part<lumen::widgets::OverlayView>(*study, "overlayView");
        QTRY_VERIFY(overlay->hasHeatmap());
        QVERIFY(overlay->hasMask());
        QCOMPARE(overlay->imageSize(), QSize(256, 256));
        // The heatmap is the model's: normalised to [0, 1] with its peak at 1, and the top-k mask
        // keeps 10 % of the 64 px model input, i.e. 10 % of the image.
        const auto& heat = overlay->heatAtImage();
        QCOMPARE(heat.size(), std::size_t(256 * 256));
        QCOMPARE(*std::max_element(heat.begin(), heat.end()), 1.0f);
        const auto& mask = overlay->maskAtImage();
        const double kept = std::count_if(mask.begin(), mask.end(), [](std::uint8_t v) { return v > 0; }) / 65536.0;
        QVERIFY2(std::abs(kept - 0.10) < 0.02, qPrintable(QString::number(kept)));
        QVERIFY(part<QLabel>(*study, "studyTitle")->text().contains(id));
        QTest::qWait(100);
        QVERIFY(w.grab().save(screenshotPath("study_view_real.png")));

        // The CLI's explain takes the same preds.csv without --image-root: it names images by
        // id, found in the workspace (another layer, so its CAMs are computed, not cached).
        QString out;
        QVERIFY(cli({"explain", "--model", w.runsPanel()->artifact(trained, "best_checkpoint"), "--images", preds,
                     "--workspace", ws, "--labels", "top:1", "--layer", "features.5", "--max-images", "4"},
                    &out));
        QVERIFY2(out.startsWith("4 images: 4 CAMs computed, 0 reused"), qPrintable(out));

        // Infer… on a folder of images (no labels): the folder listed as a manifest in the
        // workspace, every image predicted.
        const QString images = ws + "/chest_xray/images_001";
        const int pngs = int(QDir(images + "/images").entryList({"*.png"}, QDir::Files).size()) +
                         int(QDir(images).entryList({"*.png"}, QDir::Files).size());
        QVERIFY(pngs > 0);
        const QString listed = w.manifestForFolder(images);
        QCOMPARE(listed, ws + "/manifests/folders/images_001.csv");
        QVERIFY(w.inferFromRun(trained, "*", listed) > 0);
        QVERIFY(ended.wait(300000));
        QFile folderPreds(w.runsPanel()->artifact(3, "predictions"));
        QVERIFY2(folderPreds.open(QIODevice::ReadOnly), qPrintable(folderPreds.fileName()));
        QCOMPARE(int(folderPreds.readAll().count('\n')) - 1, pngs);  // a header, then a row per image

        // Export the training run: config, TorchScript model, best checkpoint, its reports.
        const QString exported = w.exportRun(trained, dir.filePath("export"));
        QCOMPARE(exported, dir.filePath("export/run_1_roi_consistency"));
        const QString best = QFileInfo(w.runsPanel()->artifact(trained, "best_checkpoint")).fileName();
        for (const QString& name : {QString("config.yaml"), QString("roi_consistency_best.torchscript.pt"), best})
            QVERIFY2(QFileInfo(exported + "/" + name).size() > 0, qPrintable(name));

        // Delete the inference run from its context menu, confirmed in the dialog: rows and
        // folder go, the training run stays.
        const QString folder = w.runsPanel()->runFolder(inferred);
        QVERIFY(QFileInfo::exists(folder));
        const int rows = w.runsPanel()->rowCount();
        clickInDialogSoon("deleteRunsDialog", "confirmDelete");
        QVERIFY(runAction(w, inferred, "runsDelete"));
        QTRY_COMPARE(w.runsPanel()->rowCount(), rows - 1);
        QVERIFY(!QFileInfo::exists(folder));
        QVERIFY(!w.runsPanel()->artifact(trained, "best_checkpoint").isEmpty());
    }
};

QTEST_MAIN(TestStudyWorkflow)
#include "test_study_workflow.moc"
