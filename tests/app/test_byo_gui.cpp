// Bring your own model in the GUI (docs/byo-model.md): a torchvision resnet18 scripted by Python
// runs as a torchscript-task inference from lumen-cli; in the main window its run is explained
// (Grad-CAM of the model's default layer, with the input its config states), opened in the
// Study view like any task's predictions (heatmap over the image), and benchmarked from the
// Runs panel (a table per batch size). Screenshots docs/screenshots/byo_*.png at 1366×768.
#include "main_window_test.h"
#include "overlay_view.h"
#include "runs_panel.h"
#include "study_browser.h"

#include "test_support.h"

#include <QApplication>
#include <QComboBox>
#include <QDialog>
#include <QMenu>
#include <QProcess>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTimer>

#include <fstream>

using lumen::app::MainWindow;

namespace {

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

QDialog* topLevelDialog(const QString& name) {
    for (QWidget* w : QApplication::topLevelWidgets())
        if (w->objectName() == name && w->isVisible()) return qobject_cast<QDialog*>(w);
    return nullptr;
}

}  // namespace

class TestByoGui : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("LumenTest");
        QCoreApplication::setApplicationName("LumenByoGuiTest");
        QSettings().clear();
    }

    void scriptedModelInTheGui() {
        QTemporaryDir dir;
        const QString ws = dir.filePath("ws");
        auto r = runLumenCli({"demo", "--out", ws});
        QVERIFY2(r.code == 0, r.err.c_str());
        r = runLumenCli({"data", "import-nih", ws + "/chest_xray", "--out", ws + "/manifests"});
        QVERIFY2(r.code == 0, r.err.c_str());
        QProcess py;
        py.start("/usr/bin/python3", {"-c",
                                      "import sys, torch, torchvision; torch.manual_seed(0); "
                                      "m = torchvision.models.resnet18(num_classes=15).eval(); "
                                      "torch.jit.save(torch.jit.script(m), sys.argv[1])",
                                      ws + "/resnet18.pt"});
        QVERIFY(py.waitForFinished(300000));
        QVERIFY2(py.exitCode() == 0, py.readAllStandardError().constData());
        std::ofstream((ws + "/byo.yaml").toStdString()) << R"(task: torchscript
infer: {checkpoint: resnet18.pt}
input: {kind: image, size: [64, 64], channels: 3}
outputs:
  names: [Atelectasis, Cardiomegaly, Effusion, Infiltration, Mass, Nodule, Pneumonia, Pneumothorax,
          Consolidation, Edema, Emphysema, Fibrosis, Pleural_Thickening, Hernia, Normal]
  activation: sigmoid
data: {manifest: manifests/test.csv}
)";
        r = runLumenCli({"infer", "--config", ws + "/byo.yaml", "--workspace", ws});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        const qint64 run = std::stoll(r.out.substr(r.out.find("run ") + 4));

        MainWindow w;
        QVERIFY(showWithWorkspace(w, ws));
        QSignalSpy ended(&w, &MainWindow::jobEnded);

        // Explain: the run's own model at the input its config states (64 px); the dialog lists
        // the model's layers (probed as --list-layers does) and layer3 is chosen.
        QStringList layers;
        QTimer::singleShot(300, [&layers] {
            auto* d = qobject_cast<QDialog*>(QApplication::activeModalWidget());
            auto* combo = d ? d->findChild<QComboBox*>("explainLayer") : nullptr;
            if (!combo) return qWarning("no explain dialog with a layer list");
            for (int i = 0; i < combo->count(); ++i) layers << combo->itemText(i);
            combo->setCurrentText("layer3");
            d->accept();
        });
        QVERIFY(runAction(w, run, "runsExplain"));
        QVERIFY(ended.wait(300000));
        QVERIFY2(layers.contains("layer3") && layers.contains("layer4") && layers.contains("layer4.1.conv2") &&
                     !layers.contains("fc"),
                 qPrintable(layers.join(", ")));
        // Open in Study view: its preds.csv like any task's, with the new heatmaps.
        auto* study = w.studyBrowser();
        QSignalSpy loaded(study, &lumen::widgets::StudyBrowser::tablesLoaded);
        QVERIFY(runAction(w, run, "runsOpenStudy"));
        QVERIFY(loaded.wait(60000));
        QCOMPARE(loaded.at(0).at(0).toInt(), 68);  // the test split
        QVERIFY2(study->camCache().contains("_layer3_gradcam"), qPrintable(study->camCache()));
        const QString id = study->visibleStudies().first();
        QVERIFY(study->setLabel("Atelectasis"));
        QVERIFY(study->selectStudy(id));
        auto* overlay = study->findChild<lumen::widgets::OverlayView*>("overlayView");
        QVERIFY(overlay);
        QTRY_VERIFY_WITH_TIMEOUT(overlay->hasHeatmap(), 30000);
        QTest::qWait(100);
        QVERIFY(w.grab().save(screenshotPath("byo_study.png")));

        // Benchmark inference… : batch 1, 4, 16 at 64 px, a dialog with one row each.
        QVERIFY(runAction(w, run, "runsBenchmark"));
        QTRY_VERIFY_WITH_TIMEOUT(topLevelDialog("benchResultDialog") != nullptr, 300000);
        auto* table = topLevelDialog("benchResultDialog")->findChild<QTableWidget*>("benchTable");
        QVERIFY(table);
        QCOMPARE(table->rowCount(), 3);
        QCOMPARE(table->item(2, 0)->text(), QString("16"));
        QVERIFY(table->item(2, 5)->text().toDouble() > 0);  // samples/s
        QVERIFY(QFileInfo::exists(ws + "/bench/bench_infer_run" + QString::number(run) + ".json"));
        QTest::qWait(100);
        QVERIFY(topLevelDialog("benchResultDialog")->grab().save(screenshotPath("byo_benchmark.png")));
    }
};

QTEST_MAIN(TestByoGui)
#include "test_byo_gui.moc"
