// The Retrieval page walked as a user: a clip_contrastive model trained and run by lumen-cli on
// the demo workspace (one quick epoch of the recipe at 64 px), then in the main window the page lists the
// inference, shows an image's reports, and a typed report runs `lumen-cli retrieve` as a job
// whose images appear best first.
#include "main_window_test.h"
#include "retrieval_panel.h"
#include "test_support.h"

#include <QLineEdit>
#include <QListWidget>
#include <QSignalSpy>
#include <QTableWidget>
#include <QtTest>

#include <filesystem>
#include <regex>

using lumen::app::MainWindow;

class TestRetrievalGui : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private slots:
    void searchFromThePage() {
        const QString ws = dir_.path() + "/ws";
        auto r = runLumenCli({"demo", "--out", ws});
        QVERIFY2(r.code == 0, r.err.c_str());
        // The recipe at 64 px, for training and inference alike (its spatial pooling fixes the size).
        std::string recipe = readTextFile(LUMEN_SOURCE_DIR "/resources/configs/clip_contrastive_demo.yaml");
        QVERIFY(std::regex_search(recipe, std::regex("image_size: \\d+")));
        recipe = std::regex_replace(recipe, std::regex("image_size: \\d+"), "image_size: 64");
        const QString config = QString::fromStdString(writeTextFile(dir_, "clip64.yaml", recipe));
        r = runLumenCli(
            {"train", "--config", config, "--workspace", ws, "--set", "epochs=1", "--set", "caption.val_samples=4"});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        // The summary names the best checkpoint; it lies in the run's checkpoints/ folder.
        const auto best = QString::fromStdString(r.out.substr(r.out.rfind("best ") + 5)).trimmed().toStdString();
        QString checkpoint;
        for (const auto& e : std::filesystem::recursive_directory_iterator((ws + "/runs").toStdString()))
            if (e.path().filename() == best) checkpoint = QString::fromStdString(e.path().string());
        QVERIFY2(!checkpoint.isEmpty(), best.c_str());
        r = runLumenCli(
            {"infer", "--config", config, "--workspace", ws, "--checkpoint", checkpoint, "--out", ws + "/clip_test"});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());

        MainWindow w;
        QVERIFY(showWithWorkspace(w, ws));
        w.showPage("retrieval");
        auto* page = w.retrievalPanel();
        QCOMPARE(page->indexFolders().size(), 1);
        QCOMPARE(page->itemsTable()->rowCount(), 68);  // the demo's test split
        page->selectItem(3);
        QCOMPARE(page->matchesTable()->rowCount(), 5);
        QSignalSpy ended(&w, &MainWindow::jobEnded);
        page->queryEdit()->setText("A 15 mm nodule in the left upper zone.");
        QTest::keyClick(page->queryEdit(), Qt::Key_Return);
        QVERIFY(ended.wait(120000));
        QTRY_COMPARE_WITH_TIMEOUT(page->queryResults()->count(), 5, 10000);
        QVERIFY2(page->statusText().contains("15 mm nodule"), qPrintable(page->statusText()));
        QTest::qWait(200);
        QVERIFY(w.grab().save(screenshotPath("page_retrieval_query.png")));
    }
};

QTEST_MAIN(TestRetrievalGui)
#include "test_retrieval_gui.moc"
