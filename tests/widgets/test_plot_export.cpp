// Qt Test suite for widgets/plot_export: PNG, SVG and PDF files of a real plot.
#include "plot_export.h"

#include "test_support.h"

#include <qcustomplot.h>

#include <QTemporaryDir>

class TestPlotExport : public QObject {
    Q_OBJECT
private slots:
    void exportsEachFormat_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QByteArray>("magic");
        QTest::newRow("png") << "plot.png" << QByteArray("\x89PNG");
        QTest::newRow("svg") << "plot.svg" << QByteArray("<?xml");
        QTest::newRow("pdf") << "plot.pdf" << QByteArray("%PDF");
    }
    void exportsEachFormat() {
        QFETCH(QString, name);
        QFETCH(QByteArray, magic);
        QCustomPlot plot;
        plot.resize(400, 300);
        auto* g = plot.addGraph();
        g->setData({0, 1, 2, 3}, {0, 1, 4, 9});
        plot.rescaleAxes();
        plot.xAxis->setLabel("epoch");
        QTemporaryDir dir;
        QString error;
        QVERIFY2(lumen::widgets::exportPlot(&plot, dir.filePath(name), &error), qPrintable(error));
        QFile f(dir.filePath(name));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        QVERIFY(bytes.size() > 500);
        QVERIFY2(bytes.startsWith(magic), bytes.left(16).constData());
        if (name.endsWith(".svg")) QVERIFY(bytes.contains("epoch"));
        if (name.endsWith(".png")) {
            QImage image(dir.filePath(name));
            QCOMPARE(image.size(), QSize(800, 600));  // exported at 2x for sharpness
        }
    }
    void refusesUnknownFormatAndUnwritablePath() {
        QCustomPlot plot;
        QString error;
        QVERIFY(!lumen::widgets::exportPlot(&plot, "/tmp/plot.bmpx", &error));
        QVERIFY(error.contains("unknown plot format"));
        QVERIFY(!lumen::widgets::exportPlot(&plot, "/nonexistent/dir/plot.png", &error));
        QVERIFY(error.contains("/nonexistent/dir/plot.png"));
    }
};

QTEST_MAIN(TestPlotExport)
#include "test_plot_export.moc"
