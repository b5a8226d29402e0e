// The Retrieval page on a retrieval.json written here with known embeddings: the items table,
// an image's top reports by cosine (its own first), the similarity heatmap's values, captions
// beside references, a query.json's images shown best first, and a broken index named.
#include "retrieval_panel.h"
#include "test_support.h"

#include <qcustomplot.h>

#include <QDir>
#include <QListWidget>
#include <QTableWidget>
#include <QtTest>

#include <cmath>

using namespace lumen::widgets;

class TestRetrievalPanel : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    QString writeIndex() {
        // Three images, two distinct reports; image 2 shares image 0's report.
        const double r = std::sqrt(0.5);
        QDir(dir_.path()).mkpath("idx");
        writeTextFile(dir_, "idx/retrieval.json",
                      R"({"format": "lumen-retrieval", "version": 1,
 "checkpoint": "c.pt", "config": "task: clip_contrastive\n", "temperature": 0.1,
 "items": [
  {"id": "a.png", "path": "", "report": "Right pleural effusion.", "caption": "Right pleural effusion.", "embedding": [1, 0]},
  {"id": "b.png", "path": "", "report": "Lungs are clear.", "caption": "Lungs are clear.", "embedding": [0, 1]},
  {"id": "c.png", "path": "", "report": "Right pleural effusion.", "caption": "Left pleural effusion.", "embedding": [)" +
                          std::to_string(r) + ", " + std::to_string(r) + R"(]}],
 "reports": [{"text": "Right pleural effusion.", "embedding": [0.8, 0.6]},
             {"text": "Lungs are clear.", "embedding": [0.6, 0.8]}]})");
        return dir_.path() + "/idx";
    }

private slots:
    void loadsAndRanks() {
        RetrievalPanel panel;
        panel.resize(1366, 700);
        QCOMPARE(panel.loadIndex(writeIndex()), QString());
        QCOMPARE(panel.itemsTable()->rowCount(), 3);
        QCOMPARE(panel.captionsTable()->item(2, 1)->text(), QString("Left pleural effusion."));
        QCOMPARE(panel.captionsTable()->item(2, 2)->text(), QString("Right pleural effusion."));
        const auto top = panel.topReports(0, 5);
        QCOMPARE(top.size(), std::size_t(2));
        QCOMPARE(top[0].first, std::string("Right pleural effusion."));
        QVERIFY(std::abs(top[0].second - 0.8) < 1e-6);
        QCOMPARE(panel.topReports(1, 1)[0].first, std::string("Lungs are clear."));
        panel.selectItem(1);
        QCOMPARE(panel.matchesTable()->rowCount(), 2);
        QCOMPARE(panel.matchesTable()->item(0, 1)->text(), QString("Lungs are clear."));
        QCOMPARE(panel.matchesTable()->item(0, 0)->text(), QString("0.800"));
        // Heatmap: one image per distinct report (a, b), matched pairs on the diagonal.
        const auto& h = panel.heatmapValues();
        QCOMPARE(h.size(), std::size_t(2));
        QVERIFY(std::abs(h[0][0] - 0.8) < 1e-6 && std::abs(h[0][1] - 0.6) < 1e-6);
        QVERIFY(std::abs(h[1][1] - 0.8) < 1e-6 && std::abs(h[1][0] - 0.6) < 1e-6);
        QVERIFY(panel.similarityPlot()->plottableCount() == 1);
    }

    void showsAQuery() {
        RetrievalPanel panel;
        const QString idx = writeIndex();
        QCOMPARE(panel.loadIndex(idx), QString());
        writeTextFile(dir_, "idx/query.json", R"({"query": "effusion", "results": [
  {"id": "a.png", "path": "", "report": "Right pleural effusion.", "score": 0.9},
  {"id": "c.png", "path": "", "report": "Right pleural effusion.", "score": 0.7}]})");
        QCOMPARE(panel.showQueryResult(idx), QString());
        QCOMPARE(panel.queryResults()->count(), 2);
        QVERIFY(panel.queryResults()->item(0)->text().startsWith("a.png"));
        QVERIFY(panel.queryResults()->item(0)->text().contains("0.900"));
        QSignalSpy asked(&panel, &RetrievalPanel::queryRequested);
        panel.queryEdit()->setText("Lungs are clear.");
        QTest::keyClick(panel.queryEdit(), Qt::Key_Return);
        QCOMPARE(asked.count(), 1);
        QCOMPARE(asked[0][1].toString(), QString("Lungs are clear."));
    }

    void brokenIndexIsNamed() {
        RetrievalPanel panel;
        QDir(dir_.path()).mkpath("bad");
        writeTextFile(dir_, "bad/retrieval.json", R"({"format": "lumen-retrieval", "items": [{"id": "x"}]})");
        const QString error = panel.loadIndex(dir_.path() + "/bad");
        QVERIFY2(error.contains("retrieval.json") && error.contains("embedding"), qPrintable(error));
        QCOMPARE(panel.itemsTable()->rowCount(), 0);
        QVERIFY(panel.loadIndex(dir_.path() + "/none").contains("no such file"));
    }
};

QTEST_MAIN(TestRetrievalPanel)
#include "test_retrieval_panel.moc"
