// Qt Test suite for the Audit panel, driven as a user would: inputs, Run, the summary, the
// scatter (hover and click on a known point), the study list, the histogram, the history.
#include "audit_panel.h"
#include "job_event_bridge.h"

#include "demo/demo_workspace.h"
#include "jobs/job_pool.h"

#include "test_support.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QLabel>
#include <QComboBox>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>

using namespace lumen;

namespace {

// The panel's audits run as jobs of `pool`, their events through `bridge` (as in the app).
void runJobsOn(lumen::widgets::AuditPanel& panel, lumen::jobs::JobPool& pool, lumen::widgets::JobEventBridge& bridge) {
    panel.setJobRunner(
        [&pool, &bridge](const QString& kind, const QString& title, lumen::jobs::JobFunction work) {
            return pool.submit(kind.toStdString(), title.toStdString(), std::move(work), bridge.observer());
        },
        &bridge);
}

// The panel's minimum width once its layouts have settled. A label's new text invalidates only
// its own box layout; the nested ones keep their cached sizes until the posted LayoutRequest
// events run, so measuring before they run reads the previous state (seen under load in CI).
int settledMinimumWidth(QWidget& panel) {
    for (int i = 0; i < 4; ++i) QCoreApplication::sendPostedEvents(nullptr, QEvent::LayoutRequest);
    return panel.minimumSizeHint().width();
}

}  // namespace

class TestAuditPanel : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString demo_;

    // The selector holds the categories only: the scatter, the histogram and Max |Δ| are one
    // category's (stenosis in percent never shares a histogram with probabilities).
    void checkCategorySelector(widgets::AuditPanel& panel) {
        const auto& report = panel.result()->report;
        QCOMPARE(panel.categoryBox()->count(), 5);
        auto histogramTotal = [&] {
            auto* bars = qobject_cast<QCPBars*>(panel.histogramPlot()->plottable(0));
            double total = 0;
            for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it) total += it->value;
            return total;
        };
        for (int i : {3, 0}) {
            panel.categoryBox()->setCurrentIndex(i);
            const auto& c = report.categories[size_t(i)];
            QCOMPARE(panel.pointCount(), int(c.n));
            QCOMPARE(histogramTotal(), double(c.n));
            QVERIFY2(
                panel.maxDiffText() == QString("Max |Δ| %1 at %2 / %3")
                                           .arg(QString::number(c.maxDiff, 'f', 4), QString::fromStdString(c.maxDiffId),
                                                QString::fromStdString(c.maxDiffColumn)),
                qPrintable(panel.maxDiffText()));
            QCOMPARE(panel.histogramPlot()->xAxis->label(), "new − baseline (" + QString::fromStdString(c.name) + ")");
        }
        QVERIFY(report.categories[3].maxDiff < report.categories[0].maxDiff);  // the figures differ per category
    }

    // Allowing the missing ids alone is not enough; with the missing values too the audit
    // passes deliberately as partial, and says what was allowed.
    void allowingTheGapsPassesPartially(widgets::AuditPanel& panel, QSignalSpy& finished) {
        QTest::mouseClick(panel.allowMissingIds(), Qt::LeftButton);
        QVERIFY(panel.allowMissingIds()->isChecked());
        QVERIFY(panel.runAudit());
        QVERIFY(finished.wait(30000));
        QCOMPARE(finished.last().at(0).toBool(), false);
        QVERIFY2(panel.gapsText().contains("allowed:</b> 2 ids only in baseline"), qPrintable(panel.gapsText()));
        panel.allowMissingValues()->setChecked(true);
        QVERIFY(panel.runAudit());
        QVERIFY(finished.wait(30000));
        QCOMPARE(finished.last().at(0).toBool(), true);
        QVERIFY2(panel.statusText().startsWith("PASS (partial) — 5 of 5 categories pass"),
                 qPrintable(panel.statusText()));
        QVERIFY(!panel.gapsText().contains("FAIL:"));
        QCOMPARE(panel.result()->report.verdict(), std::string("PASS (partial)"));
        QCOMPARE(panel.historyTable()->rowCount(), 3);
        QCOMPARE(panel.historyTable()->item(2, 4)->text(), QString("PASS (partial)"));
    }

private slots:
    void initTestCase() {
        demo_ = dir_.filePath("demo");
        demo::DemoOptions o;
        o.chestImages = 4;
        o.ctVolumes = 1;
        o.angioStudies = 2;
        demo::createDemoWorkspace(demo_.toStdString(), o);
    }

    void runsTheDemoAuditAndShowsIt() {
        jobs::JobPool pool(2);
        widgets::JobEventBridge bridge;
        widgets::AuditPanel panel;
        panel.resize(1400, 800);
        runJobsOn(panel, pool, bridge);
        panel.setDatabase(dir_.filePath("lumen.db"));
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));

        panel.findChild<QLineEdit*>("baselineEdit")->setText(demo_ + "/predictions/baseline.csv");
        panel.findChild<QLineEdit*>("newEdit")->setText(demo_ + "/predictions/new.csv");
        panel.findChild<QLineEdit*>("categoriesEdit")->setText(demo_ + "/predictions/categories.yaml");
        QTest::keyClicks(panel.findChild<QLineEdit*>("stageEdit"), "first rerun");
        QSignalSpy finished(&panel, &widgets::AuditPanel::auditFinished);
        QTest::mouseClick(panel.runButton(), Qt::LeftButton);
        QVERIFY(finished.wait(30000));
        // Every category meets its thresholds, but new.csv lacks two baseline ids and has
        // values missing on one side: a complete audit FAILs and names them.
        QCOMPARE(finished.at(0).at(0).toBool(), false);
        QVERIFY2(panel.statusText().startsWith("FAIL — 5 of 5 categories pass"), qPrintable(panel.statusText()));
        const auto& first = panel.result()->report;
        QVERIFY2(panel.gapsText().contains("FAIL:</b> 2 ids only in baseline: " +
                                           QString::fromStdString(first.idsOnlyInBaseline[0])),
                 qPrintable(panel.gapsText()));
        QVERIFY(panel.gapsText().contains("values missing"));

        // Summary: five categories + overall, all meeting their thresholds, on green.
        QTableWidget* summary = panel.summaryTable();
        QCOMPARE(summary->rowCount(), 6);
        const auto& report = panel.result()->report;
        for (int row = 0; row < 6; ++row) {
            QCOMPARE(summary->item(row, 7)->text(), QString("PASS"));
            QCOMPARE(summary->item(row, 0)->background().color(), QColor(0xd4, 0xf4, 0xdc));
        }
        int overallRow = -1;
        for (int row = 0; row < 6; ++row)
            if (summary->item(row, 0)->text() == "OVERALL") overallRow = row;
        QVERIFY(overallRow >= 0);
        QCOMPARE(summary->item(overallRow, 2)->text(), QString::number(report.overall.n));
        QCOMPARE(summary->item(overallRow, 3)->text(), QString::number(report.overall.mae, 'f', 6));
        // Sorting by MAE puts the smallest first.
        summary->sortItems(3, Qt::AscendingOrder);
        QVERIFY(summary->item(0, 3)->text().toDouble() <= summary->item(5, 3)->text().toDouble());

        checkCategorySelector(panel);
        if (QTest::currentTestFailed()) return;
        const auto& stenosis = report.categories[0];
        const QString stenosisMaxId = QString::fromStdString(stenosis.maxDiffId);  // outlives this result
        QVERIFY(panel.outlierCount() > 0);

        // Zoom onto the largest difference, hover it, click it.
        const auto& r = *panel.result();
        const auto rb = *r.baseline->findRow(stenosis.maxDiffId);
        const auto rn = *r.newer->findRow(stenosis.maxDiffId);
        const double x = r.baseline->values[size_t(r.baseline->columnIndex(stenosis.maxDiffColumn))][rb];
        const double y = r.newer->values[size_t(r.newer->columnIndex(stenosis.maxDiffColumn))][rn];
        QCustomPlot* scatter = panel.scatterPlot();
        scatter->xAxis->setRange(x - 0.02, x + 0.02);
        scatter->yAxis->setRange(y - 0.02, y + 0.02);
        scatter->replot();
        const QPoint pixel = panel.pixelOf(x, y);
        const auto hovered = panel.pointAt(pixel + QPoint(2, 1));  // within the hover radius
        QVERIFY(hovered.has_value());
        QCOMPARE(hovered->id.toStdString(), stenosis.maxDiffId);
        QCOMPARE(hovered->column.toStdString(), stenosis.maxDiffColumn);
        QCOMPARE(hovered->baseline, x);
        QVERIFY(!panel.pointAt(pixel + QPoint(40, 40)).has_value());  // empty space

        QSignalSpy selected(&panel, &widgets::AuditPanel::studySelected);
        QTest::mouseClick(scatter, Qt::LeftButton, {}, pixel);
        QCOMPARE(selected.count(), 1);
        QCOMPARE(selected.at(0).at(0).toString().toStdString(), stenosis.maxDiffId);
        QTableWidget* study = panel.studyTable();
        QCOMPARE(study->rowCount(), 90);
        QCOMPARE(study->item(0, 0)->text().toStdString(), stenosis.maxDiffColumn);  // largest |diff| first
        QCOMPARE(study->item(0, 1)->text(), QString::number(x, 'f', 6));
        QCOMPARE(study->item(0, 2)->text(), QString::number(y, 'f', 6));

        // History: one audit recorded under its stage name; a second one adds a row.
        QCOMPARE(panel.historyTable()->rowCount(), 1);
        QCOMPARE(panel.historyTable()->item(0, 0)->text(), QString("first rerun"));
        QCOMPARE(panel.historyTable()->item(0, 4)->text(), QString("FAIL"));

        allowingTheGapsPassesPartially(panel, finished);
        if (QTest::currentTestFailed()) return;

        // Readable at 1366×768: the page fits.
        panel.resize(1366, 768);
        QCOMPARE(panel.size(), QSize(1366, 768));
        panel.categoryBox()->setCurrentIndex(0);
        panel.selectStudy(stenosisMaxId);
        QCOMPARE(panel.studyTable()->rowCount(), 90);
        QVERIFY(panel.grab().save(screenshotPath("audit_panel.png")));
    }

    void failuresAreShownNotThrown() {
        jobs::JobPool pool(1);
        widgets::JobEventBridge bridge;
        widgets::AuditPanel panel;
        runJobsOn(panel, pool, bridge);
        QVERIFY(!panel.runAudit());  // no inputs yet
        QVERIFY(panel.statusText().contains("Choose both"));
        panel.setInputs(demo_ + "/predictions/baseline.csv", dir_.filePath("missing.csv"));
        QVERIFY(panel.runAudit());
        QTRY_VERIFY_WITH_TIMEOUT(panel.statusText().startsWith("Audit failed"), 20000);
        QVERIFY2(panel.statusText().contains("missing.csv"), qPrintable(panel.statusText()));
        QVERIFY(panel.runButton()->isEnabled());
        QVERIFY(!panel.result());
    }

    void aFailedAuditClearsTheLastResult() {
        // A PASS, then an audit that fails with a 1,000+ character error (an id column missing
        // from a 90-column table): the old verdict, tables and report are gone, Save report is
        // off, and the message neither widens the panel nor is lost (tooltip).
        jobs::JobPool pool(1);
        widgets::JobEventBridge bridge;
        widgets::AuditPanel panel;
        runJobsOn(panel, pool, bridge);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        auto* save = panel.findChild<QPushButton*>("saveReport");
        QVERIFY(save && !save->isEnabled());
        QSignalSpy finished(&panel, &widgets::AuditPanel::auditFinished);
        panel.setInputs(demo_ + "/predictions/baseline.csv", demo_ + "/predictions/baseline.csv");
        QVERIFY(panel.runAudit());
        QVERIFY(finished.wait(60000));
        QVERIFY(panel.result());
        QVERIFY(save->isEnabled());
        const int widthBefore = settledMinimumWidth(panel);

        QStringList columns;
        for (int i = 0; i < 90; ++i) columns << QString("segment_%1_stenosis_binary").arg(i);
        const std::string base90 = writeTextFile(
            dir_, "base90.csv",
            ("study_id," + columns.join(',') + "\n1," + QString("0,").repeated(89) + "0\n").toStdString());
        const std::string new90 = writeTextFile(
            dir_, "new90.csv",
            (columns.join(',') + ",StudyInstanceUID\n" + QString("0,").repeated(90) + "1\n").toStdString());
        panel.setInputs(QString::fromStdString(base90), QString::fromStdString(new90));
        QVERIFY(panel.runAudit());
        QTRY_VERIFY_WITH_TIMEOUT(panel.statusText().startsWith("Audit failed"), 20000);
        QVERIFY(!panel.result());
        QVERIFY(!save->isEnabled());
        QCOMPARE(panel.findChild<QTableWidget*>("auditSummary")->rowCount(), 0);
        auto* status = panel.findChild<QLabel*>("auditStatus");
        QVERIFY2(status->toolTip().size() > 1000 && status->toolTip().contains("no id column \"study_id\""),
                 qPrintable(status->toolTip()));
        QVERIFY(status->text().size() < 600);
        const int widthAfter = settledMinimumWidth(panel);
        QVERIFY2(widthAfter <= widthBefore, qPrintable(QString("%1 > %2").arg(widthAfter).arg(widthBefore)));
    }

    void dropFillsTheInputs() {
        widgets::AuditPanel panel;
        panel.show();  // drops are delivered to shown widgets that accept them
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QMimeData data;
        data.setUrls({QUrl::fromLocalFile("/data/base.csv"), QUrl::fromLocalFile("/data/new.csv"),
                      QUrl::fromLocalFile("/data/cats.yaml")});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &data, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&panel, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &data, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&panel, &drop);
        QCOMPARE(panel.findChild<QLineEdit*>("baselineEdit")->text(), QString("/data/base.csv"));
        QCOMPARE(panel.findChild<QLineEdit*>("newEdit")->text(), QString("/data/new.csv"));
        QCOMPARE(panel.findChild<QLineEdit*>("categoriesEdit")->text(), QString("/data/cats.yaml"));
    }
};

QTEST_MAIN(TestAuditPanel)
#include "test_audit_panel.moc"
