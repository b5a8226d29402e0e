// data::StudyTable, the Study page's join without Qt: rows joined by id and columns by name,
// the largest difference per row over shared columns only, ROI groups as one choice, and
// every filter (a missing value fails an active filter).
#include "data/study_table.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <fstream>

using lumen::data::StudyTable;

namespace {

std::shared_ptr<const lumen::data::NumericTable> table(const QTemporaryDir& dir, const char* name, const char* text) {
    const auto file = std::filesystem::path(dir.path().toStdString()) / name;
    std::ofstream(file) << text;
    return std::make_shared<lumen::data::NumericTable>(lumen::data::readNumericCsv(file));
}

}  // namespace

class TestStudyTable : public QObject {
    Q_OBJECT
private slots:
    void joinsByIdAndColumnAndFilters() {
        QTemporaryDir dir;
        // New: ids a, b, c; baseline: c, a (other order), no "b", and no column "y".
        const auto fresh = table(dir, "new.csv",
                                 "id,Mass.prob_full,Mass.prob_drop,Mass.faithfulness,x,y\n"
                                 "a,0.9,0.2,0.7,10,1\n"
                                 "b,0.4,0.3,0.1,20,2\n"
                                 "c,0.6,0.5,,30,3\n");
        const auto base = table(dir, "base.csv",
                                "id,x,Mass.prob_full\n"
                                "c,31.5,0.6\n"
                                "a,10,0.85\n");
        StudyTable t;
        t.set(fresh, base);
        QCOMPARE(t.rows(), std::size_t(3));
        QCOMPARE(t.sharedIds(), 2);
        // The ROI group is one choice; x and y follow as plain columns.
        QCOMPARE(t.choices().size(), std::size_t(3));
        const auto& mass = t.choices()[0];
        QCOMPARE(mass.key, std::string("Mass"));
        QCOMPARE(mass.score, 0);
        QCOMPARE(mass.faith, 2);
        QCOMPARE(t.choices()[1].key, std::string("x"));
        QCOMPARE(t.decimals(0), 4);
        QCOMPARE(t.decimals(3), 2);
        QCOMPARE(t.baselineOf(0, 0), 0.85);
        QVERIFY(std::isnan(t.baselineOf(0, 1)));         // b is not in the baseline
        QVERIFY(std::isnan(t.baselineOf(4, 0)));         // y is not in the baseline
        QVERIFY(std::abs(t.maxDiff(0) - 0.05) < 1e-12);  // max of |0.9-0.85| and |10-10|
        QCOMPARE(t.maxDiff(2), 1.5);
        QVERIFY(std::isnan(t.maxDiff(1)));
        QVERIFY(std::isnan(t.faithOf(mass, 2)));  // an empty faithfulness cell

        StudyTable::Filter f;
        f.idContains = "A";
        QVERIFY(t.matches(0, &mass, f));
        QVERIFY(!t.matches(1, &mass, f));
        f = {};
        f.scoreMin = 0.5;
        QVERIFY(t.matches(0, &mass, f) && !t.matches(1, &mass, f) && t.matches(2, &mass, f));
        f = {};
        f.faithfulnessBelow = 0.5;
        QVERIFY(!t.matches(0, &mass, f) && t.matches(1, &mass, f) && !t.matches(2, &mass, f));  // NaN fails
        f = {};
        f.diffAbove = 0.01;
        QVERIFY(t.matches(0, &mass, f) && !t.matches(1, &mass, f) && !t.matches(2, &mass, f));
        f.diffAnyColumn = true;
        f.diffAbove = 1.0;
        QVERIFY(!t.matches(0, &mass, f) && !t.matches(1, &mass, f) && t.matches(2, &mass, f));

        // Without a baseline: no differences, every diff filter fails.
        t.set(fresh, nullptr);
        QCOMPARE(t.sharedIds(), 0);
        QVERIFY(std::isnan(t.maxDiff(0)));
        QVERIFY(!t.matches(0, &mass, f));
    }
};

QTEST_GUILESS_MAIN(TestStudyTable)
#include "test_study_table.moc"
