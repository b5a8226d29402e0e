// The clinician's path end to end on real outputs, no fixtures: the demo workspace → a
// roi_consistency model trained by lumen-cli → its inference (preds.csv, roi_vis masks) →
// lumen-cli explain (Grad-CAM cache) → the Study page showing a study with the model's own
// heatmap and mask. Also the screenshot docs/screenshots/study_view_real.png.
#include "main_window.h"
#include "overlay_view.h"
#include "study_browser.h"

#include "test_support.h"

#include <QDirIterator>
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

    void trainedModelsCamAndMaskShowInTheStudyView() {
        QTemporaryDir dir;
        const QString ws = dir.filePath("ws");
        QVERIFY(cli({"demo", "--out", ws}));
        // The demo config, one epoch: enough for a model whose CAMs are its own.
        QFile demo(LUMEN_SOURCE_DIR "/resources/configs/roi_consistency_demo.yaml");
        QVERIFY(demo.open(QIODevice::ReadOnly));
        QString yaml = QString::fromUtf8(demo.readAll());
        yaml.replace(QRegularExpression("\\nepochs: \\d+"), "\nepochs: 1");
        const QString config = dir.filePath("roi.yaml");
        QFile c(config);
        QVERIFY(c.open(QIODevice::WriteOnly));
        c.write(yaml.toUtf8());
        c.close();
        QVERIFY(cli({"train", "--config", config, "--workspace", ws}));
        const QDir checkpoints(ws + "/runs/1_roi_consistency/checkpoints");
        const QStringList best = checkpoints.entryList({"roi_consistency_epoch001_*.pt"}, QDir::Files);
        QCOMPARE(best.size(), 1);
        const QString model = checkpoints.filePath(best.first());
        const QString infer = ws + "/infer";
        QVERIFY(cli({"infer", "--config", config, "--checkpoint", model, "--out", infer, "--workspace", ws}));
        QVERIFY(QFileInfo::exists(infer + "/preds.csv"));
        QVERIFY(cli({"explain", "--model", model, "--images", infer + "/preds.csv", "--image-root",
                     ws + "/chest_xray/images_001", "--workspace", ws, "--labels", "top:2", "--layer", "features.5"}));

        MainWindow w;
        w.resize(1500, 900);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.openWorkspace(ws));
        QVERIFY(w.showPage("study"));
        auto* study = w.studyBrowser();
        QVERIFY(study->camCache().contains("features.5_gradcam"));  // the newest cache of the workspace
        QSignalSpy loaded(study, &lumen::widgets::StudyBrowser::tablesLoaded);
        study->openTables(infer + "/preds.csv");
        QVERIFY(loaded.wait(60000));
        QCOMPARE(loaded.at(0).at(0).toInt(), 68);  // the validation images
        QCOMPARE(QDir(study->roiFolder()).absolutePath(), QDir(infer + "/roi_vis").absolutePath());

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
    }
};

QTEST_MAIN(TestStudyWorkflow)
#include "test_study_workflow.moc"
