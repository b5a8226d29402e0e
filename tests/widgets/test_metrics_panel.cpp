// Qt Test suite for widgets/metrics_panel: drives the label selector, threshold slider and
// temperature toggle with QTest events and checks the numbers shown against core/metrics.
// With LUMEN_WRITE_SCREENSHOTS=1 it also writes docs/screenshots/metrics_*.png.
#include "metrics_panel.h"

#include "plot_export.h"

#include "test_support.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>

#include <cmath>
#include <fstream>
#include <random>

using namespace lumen;
using lumen::widgets::MetricsPanel;

namespace {

const std::vector<std::string> kNames = {"Atelectasis", "Cardiomegaly", "Effusion",           "Infiltration",  "Mass",
                                         "Nodule",      "Pneumonia",    "Pneumothorax",       "Consolidation", "Edema",
                                         "Emphysema",   "Fibrosis",     "Pleural_Thickening", "Hernia"};

// NIH-like labels with an overconfident model (logits sharpened), so temperature scaling shows.
struct Data {
    std::vector<std::vector<double>> truth, prob;
};
Data nihLike(std::size_t rows, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0, 1);
    std::uniform_real_distribution<double> u(0, 1);
    Data d;
    d.truth.assign(kNames.size(), std::vector<double>(rows));
    d.prob.assign(kNames.size(), std::vector<double>(rows));
    for (std::size_t l = 0; l < kNames.size(); ++l) {
        const double prevalence = 0.04 + 0.3 * double((l * 5) % 14) / 13.0;
        const double separation = 0.6 + 0.12 * double(l % 9);
        for (std::size_t r = 0; r < rows; ++r) {
            const double y = u(rng) < prevalence ? 1 : 0;
            const double z = separation * (2 * y - 1) + g(rng) + std::log(prevalence / (1 - prevalence));
            d.truth[l][r] = y;
            d.prob[l][r] = 1 / (1 + std::exp(-2.2 * z));
        }
    }
    return d;
}

QString fmt(const metrics::MetricValue& v) { return v.has() ? QString::number(*v.value, 'f', 3) : QStringLiteral("—"); }

int rowOf(QTableWidget* t, const QString& label) {
    for (int r = 0; r < t->rowCount(); ++r)
        if (t->item(r, 0)->text() == label) return r;
    return -1;
}

int columnOf(QTableWidget* t, const QString& header) {
    for (int c = 0; c < t->columnCount(); ++c)
        if (t->horizontalHeaderItem(c)->text() == header) return c;
    return -1;
}

}  // namespace

class TestMetricsPanel : public QObject {
    Q_OBJECT
private:
    // The live labels equal the engine's numbers for (label, threshold) on `scores`.
    void checkLive(const MetricsPanel& panel, const std::vector<double>& y, const std::vector<double>& p, double t) {
        const auto m = metrics::metricsAtThreshold(y, p, t);
        QCOMPARE(panel.shownValue("threshold"), QString::number(t, 'f', 3));
        QCOMPARE(panel.shownValue("tp"), QString::number(m.counts.tp));
        QCOMPARE(panel.shownValue("fp"), QString::number(m.counts.fp));
        QCOMPARE(panel.shownValue("tn"), QString::number(m.counts.tn));
        QCOMPARE(panel.shownValue("fn"), QString::number(m.counts.fn));
        QCOMPARE(panel.shownValue("sensitivity"), fmt(m.recall));
        QCOMPARE(panel.shownValue("specificity"), fmt(m.specificity));
        QCOMPARE(panel.shownValue("ppv"), fmt(m.precision));
        QCOMPARE(panel.shownValue("npv"), fmt(m.npv));
        QCOMPARE(panel.shownValue("f1"), fmt(m.f1));
        QCOMPARE(panel.shownValue("positive_rate"), fmt(m.positiveRate));
    }

    // The panel on screen with `d`, no bootstrap (its intervals are tested elsewhere).
    static void showWithoutBootstrap(MetricsPanel& panel, const Data& d) {
        panel.setBootstrapResamples(0);
        panel.setData(d.truth, d.prob, kNames);
        panel.resize(1200, 800);
        panel.show();
    }

private slots:
    void sliderUpdatesTheNumbersShown() {
        const Data d = nihLike(300, 1);
        MetricsPanel panel;
        showWithoutBootstrap(panel, d);
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QCOMPARE(panel.labelCount(), 14);
        checkLive(panel, d.truth[0], d.prob[0], 0.5);

        // Pick Effusion with the keyboard, then move its slider.
        panel.labelSelector()->setFocus();
        QTest::keyClick(panel.labelSelector(), Qt::Key_Down);
        QTest::keyClick(panel.labelSelector(), Qt::Key_Down);
        QCOMPARE(panel.currentLabel(), 2);
        QCOMPARE(panel.labelSelector()->currentText(), QString("Effusion"));
        checkLive(panel, d.truth[2], d.prob[2], 0.5);
        const QString before = panel.shownValue("positive_rate");

        QSignalSpy changed(&panel, &MetricsPanel::thresholdChanged);
        QTest::keyClick(panel.thresholdSlider(), Qt::Key_Home);
        QCOMPARE(panel.threshold(2), 0.0);
        checkLive(panel, d.truth[2], d.prob[2], 0.0);
        QCOMPARE(panel.shownValue("positive_rate"), QString("1.000"));
        QCOMPARE(panel.shownValue("fn"), QString("0"));
        QVERIFY(panel.shownValue("positive_rate") != before);
        QCOMPARE(changed.count(), 1);
        QCOMPARE(changed.at(0).at(0).toInt(), 2);

        for (int step = 0; step < 25; ++step) QTest::keyClick(panel.thresholdSlider(), Qt::Key_PageUp);
        const double t = panel.thresholdSlider()->value() / 1000.0;
        QVERIFY(t > 0.1);
        QCOMPARE(panel.threshold(2), t);
        checkLive(panel, d.truth[2], d.prob[2], t);

        // Drag to the far right: nothing predicted positive, PPV undefined with its reason.
        QTest::keyClick(panel.thresholdSlider(), Qt::Key_End);
        const auto m = metrics::metricsAtThreshold(d.truth[2], d.prob[2], 1.0);
        if (!m.precision.has()) {
            QCOMPARE(panel.shownValue("ppv"), QString("—"));
            QCOMPARE(panel.findChild<QLabel*>("ppvValue")->toolTip(), QString::fromStdString(m.precision.reason));
        }
        checkLive(panel, d.truth[2], d.prob[2], 1.0);

        // The table row follows the slider.
        const int row = rowOf(panel.table(), "Effusion");
        QCOMPARE(panel.table()->item(row, columnOf(panel.table(), "Threshold"))->text(), QString("1.000"));
        QCOMPARE(panel.table()->item(row, columnOf(panel.table(), "Positive rate"))->text(), fmt(m.positiveRate));

        // Thresholds are per label: back on Atelectasis the slider shows its own 0.5.
        panel.labelSelector()->setCurrentIndex(0);
        QCOMPARE(panel.thresholdSlider()->value(), 500);
        checkLive(panel, d.truth[0], d.prob[0], 0.5);
        panel.labelSelector()->setCurrentIndex(2);
        QCOMPARE(panel.thresholdSlider()->value(), 1000);
    }

    void temperatureToggleShowsScaledNumbers() {
        const Data d = nihLike(400, 2);
        MetricsPanel panel;
        showWithoutBootstrap(panel, d);
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        panel.setCurrentLabel(4);
        panel.setThreshold(4, 0.3);
        const auto fit = metrics::fitTemperature(d.truth[4], d.prob[4]);
        QVERIFY(std::abs(panel.temperatureFit(4).temperature - fit.temperature) < 1e-12);
        QVERIFY(fit.temperature > 1.3);  // the data are overconfident
        QTest::mouseClick(panel.temperatureToggle(), Qt::LeftButton, {},
                          QPoint(8, panel.temperatureToggle()->height() / 2));
        QVERIFY(panel.temperatureScaled());
        checkLive(panel, d.truth[4], metrics::applyTemperature(d.prob[4], fit.temperature), 0.3);
        const auto scaledEce =
            metrics::expectedCalibrationError(d.truth[4], metrics::applyTemperature(d.prob[4], fit.temperature));
        const int row = rowOf(panel.table(), "Mass");
        QCOMPARE(panel.table()->item(row, columnOf(panel.table(), "ECE after T"))->text(), fmt(scaledEce));
        QVERIFY(*scaledEce.value < *metrics::expectedCalibrationError(d.truth[4], d.prob[4]).value);
        auto* title = qobject_cast<QCPTextElement*>(panel.reliabilityPlot()->plotLayout()->element(0, 0));
        QVERIFY(title && title->text().contains("after temperature scaling"));
        QVERIFY(title->text().contains(fmt(scaledEce)));
        QTest::mouseClick(panel.temperatureToggle(), Qt::LeftButton, {},
                          QPoint(8, panel.temperatureToggle()->height() / 2));
        checkLive(panel, d.truth[4], d.prob[4], 0.3);
    }

    void tableSortsAndShowsIntervals() {
        Data d = nihLike(250, 3);
        std::fill(d.truth[13].begin(), d.truth[13].end(), 0.0);  // Hernia: no positives
        MetricsPanel panel;
        panel.setBootstrapResamples(100);
        QSignalSpy ready(&panel, &MetricsPanel::intervalsReady);
        panel.setData(d.truth, d.prob, kNames);
        auto* t = panel.table();
        panel.resize(1200, 800);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        // Data reloaded and intervals arriving while the user has the table sorted: refills
        // must keep each row whole.
        QTRY_VERIFY_WITH_TIMEOUT(ready.count() == 1, 60000);
        t->sortItems(columnOf(t, "Positives"), Qt::DescendingOrder);
        panel.setData(d.truth, d.prob, kNames);
        QTRY_VERIFY_WITH_TIMEOUT(ready.count() == 2, 60000);
        QVERIFY(panel.intervals());
        const int auroc = columnOf(t, "AUROC"), ci = columnOf(t, "AUROC 95% CI");
        QVERIFY(auroc >= 0 && ci >= 0);
        for (int row = 0; row < t->rowCount(); ++row) {
            const int l =
                int(std::find(kNames.begin(), kNames.end(), t->item(row, 0)->text().toStdString()) - kNames.begin());
            QVERIFY(l < 14);
            const auto m = metrics::metricsAtThreshold(d.truth[l], d.prob[l], 0.5);
            QCOMPARE(t->item(row, columnOf(t, "Sensitivity"))->text(), fmt(m.recall));
            QCOMPARE(t->item(row, columnOf(t, "F1"))->text(), fmt(m.f1));
            QCOMPARE(t->item(row, auroc)->text(), fmt(metrics::auroc(d.truth[l], d.prob[l])));
        }
        const int hernia = rowOf(t, "Hernia");
        QCOMPARE(t->item(hernia, auroc)->text(), QString("—"));
        QCOMPARE(t->item(hernia, auroc)->toolTip(), QString("undefined: label has no positive samples"));
        QCOMPARE(t->item(hernia, ci)->text(), QString("—"));
        const int effusion = rowOf(t, "Effusion");
        const QStringList bounds = t->item(effusion, ci)->text().split(" – ");
        QCOMPARE(bounds.size(), 2);
        const double value = panel.report().labels[2].auroc.value.value();
        QVERIFY(bounds[0].toDouble() <= value + 5e-4 && value - 5e-4 <= bounds[1].toDouble());
        // Click the AUROC header twice: descending, the missing value last.
        const int x = t->horizontalHeader()->sectionViewportPosition(auroc) + 5;
        QTest::mouseClick(t->horizontalHeader()->viewport(), Qt::LeftButton, {}, QPoint(x, 5));
        QTest::mouseClick(t->horizontalHeader()->viewport(), Qt::LeftButton, {}, QPoint(x, 5));
        double best = 0;
        for (const auto& l : panel.report().labels)
            if (l.auroc.has()) best = std::max(best, *l.auroc.value);
        const bool descending = t->horizontalHeader()->sortIndicatorOrder() == Qt::DescendingOrder;
        QCOMPARE(t->item(descending ? 0 : 13, auroc)->text(), QString::number(best, 'f', 3));
        QCOMPARE(t->item(descending ? 13 : 0, 0)->text(), QString("Hernia"));
        // The slider still updates the right row after sorting.
        panel.setCurrentLabel(5);
        panel.setThreshold(5, 0.25);
        const auto m = metrics::metricsAtThreshold(d.truth[5], d.prob[5], 0.25);
        QCOMPARE(t->item(rowOf(t, "Nodule"), columnOf(t, "Sensitivity"))->text(), fmt(m.recall));

        // A pair of CSVs that cannot be loaded clears what was shown (it belonged to other
        // files) and turns the exports off; the error names the file.
        auto* exportTable = panel.findChild<QPushButton*>("metricsExportTable");
        QVERIFY(exportTable->isEnabled());
        QString error;
        QVERIFY(!panel.loadCsv("/nonexistent/labels.csv", "/nonexistent/preds.csv", &error));
        QVERIFY2(error.contains("/nonexistent/"), qPrintable(error));
        QCOMPARE(panel.labelCount(), 0);
        QCOMPARE(t->rowCount(), 0);
        QVERIFY(!exportTable->isEnabled());
        QVERIFY(!panel.findChild<QPushButton*>("metricsExportPlot")->isEnabled());
        panel.setData(d.truth, d.prob, kNames);
        QVERIFY(exportTable->isEnabled());
        QCOMPARE(t->rowCount(), 14);
    }

    void exportsTableAndPlots() {
        const Data d = nihLike(200, 4);
        MetricsPanel panel;
        panel.setBootstrapResamples(0);
        panel.setData(d.truth, d.prob, kNames);
        panel.resize(1100, 750);
        panel.setThreshold(0, 0.42);
        QTemporaryDir dir;
        QString error;
        QVERIFY2(panel.exportTableCsv(dir.filePath("table.csv"), &error), qPrintable(error));
        QFile f(dir.filePath("table.csv"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QStringList lines = QString(f.readAll()).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 15);
        QVERIFY(lines[0].startsWith("label,n,positives,auroc"));
        const QStringList first = lines[1].split(',');
        QCOMPARE(first[0], QString("Atelectasis"));
        QVERIFY(std::abs(first[3].toDouble() - *metrics::auroc(d.truth[0], d.prob[0]).value) < 1e-11);
        QCOMPARE(first[7].toDouble(), 0.42);
        QVERIFY(!panel.exportTableCsv("/nonexistent/dir/t.csv", &error));
        QVERIFY(error.contains("/nonexistent/dir/t.csv"));
        for (const char* name : {"roc.png", "pr.svg", "reliability.pdf"}) {
            QCustomPlot* plot = QString(name).startsWith("roc")  ? panel.rocPlot()
                                : QString(name).startsWith("pr") ? panel.prPlot()
                                                                 : panel.reliabilityPlot();
            QVERIFY2(widgets::exportPlot(plot, dir.filePath(name), &error), qPrintable(error));
            QVERIFY(QFileInfo(dir.filePath(name)).size() > 1000);
        }
    }

    void loadsCsvPairAndReportsErrors() {
        QTemporaryDir dir;
        std::ofstream(dir.filePath("l.csv").toStdString()) << "id,A,B\n1,0,1\n2,1,0\n3,1,1\n4,0,0\n";
        std::ofstream(dir.filePath("p.csv").toStdString())
            << "id,B,A\n4,0.1,0.2\n3,0.9,0.8\n2,0.3,0.7\n1,0.6,0.4\n9,0.5,0.5\n";
        QString error;
        std::unique_ptr<MetricsPanel> panel(
            MetricsPanel::fromCsv(dir.filePath("l.csv"), dir.filePath("p.csv"), nullptr, &error));
        QVERIFY2(panel, qPrintable(error));
        QCOMPARE(panel->labelCount(), 2);
        QCOMPARE(*panel->report().labels[0].auroc.value, 1.0);  // A: 0.4, 0.7, 0.8, 0.2 against 0, 1, 1, 0
        QVERIFY(panel->findChild<QLabel*>("metricsStatus")->text().contains("1 id(s) only in the predictions"));
        std::ofstream(dir.filePath("bad.csv").toStdString()) << "id,A\n1,0.5\n";
        QVERIFY(!MetricsPanel::fromCsv(dir.filePath("l.csv"), dir.filePath("bad.csv"), nullptr, &error));
        QVERIFY2(error.contains("bad.csv") && error.contains("\"B\""), qPrintable(error));
    }

    void screenshots() {
        const Data d = nihLike(400, 7);
        MetricsPanel panel;
        panel.setBootstrapResamples(200);
        QSignalSpy ready(&panel, &MetricsPanel::intervalsReady);
        panel.setData(d.truth, d.prob, kNames);
        QVERIFY(ready.wait(60000));
        panel.resize(1400, 900);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        panel.setCurrentLabel(2);
        panel.setThreshold(2, 0.35);
        QTest::qWait(100);
        QVERIFY(panel.grab().save(screenshotPath("metrics_roc.png")));
        panel.plotTabs()->setCurrentIndex(2);
        panel.temperatureToggle()->click();
        QTest::qWait(100);
        QVERIFY(panel.grab().save(screenshotPath("metrics_reliability.png")));
        QImage shot(screenshotPath("metrics_reliability.png"));
        QVERIFY(shot.width() >= 1400);
    }
};

QTEST_MAIN(TestMetricsPanel)
#include "test_metrics_panel.moc"
