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
    }
};

QTEST_MAIN(TestStudyWorkflow)
#include "test_study_workflow.moc"
