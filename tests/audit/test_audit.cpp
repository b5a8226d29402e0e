// Qt Test suite for core/audit: hand-computed cases, thresholds, categories, refusals,
// the run-store history, and a pandas/scipy reference on random tables.
#include "audit/audit.h"
#include "demo/demo_workspace.h"
#include "runs/run_store.h"
#include "util/sha256.h"

#include "test_support.h"

#include <QProcess>
#include <QTemporaryDir>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

using namespace lumen::audit;

namespace {

const Stats* find(const std::vector<Stats>& v, const std::string& name) {
    for (const auto& s : v)
        if (s.name == name) return &s;
    return nullptr;
}

// Independent two-pass Pearson r for the hand-computed case.
double pearson(const std::vector<double>& x, const std::vector<double>& y) {
    double mx = 0, my = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        mx += x[i];
        my += y[i];
    }
    mx /= double(x.size());
    my /= double(y.size());
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / std::sqrt(sxx * syy);
}

}  // namespace

class TestAudit : public QObject {
    Q_OBJECT
private slots:
    void handComputedSmallCase() {
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "baseline.csv", "study_id,x,y\na,1,10\nb,2,20\nc,3,\n");
        const auto n = writeTextFile(dir, "new.csv", "study_id,z,y,x\nc,0,31,3.5\na,0,10,1.5\nd,0,1,1\n");
        const AuditResult result = runAudit(b, n, {});
        const AuditReport& r = result.report;
        QCOMPARE(r.idColumn, std::string("study_id"));
        QCOMPARE(r.sharedIds, std::uint64_t(2));
        QCOMPARE(r.idsOnlyInBaseline, std::vector<std::string>{"b"});
        QCOMPARE(r.idsOnlyInNew, std::vector<std::string>{"d"});
        QCOMPARE(r.columnsOnlyInNew, std::vector<std::string>{"z"});
        QVERIFY(r.columnsOnlyInBaseline.empty());

        const Stats* x = find(r.columns, "x");
        QVERIFY(x);
        QCOMPARE(x->n, std::uint64_t(2));
        QCOMPARE(x->mae, 0.5);
        QVERIFY(x->corr && std::abs(*x->corr - 1.0) < 1e-15);
        QCOMPARE(x->maxDiff, 0.5);
        QCOMPARE(x->maxDiffId, std::string("a"));  // the first of the tied maxima
        QCOMPARE(x->meanBaseline, 2.0);
        QCOMPARE(x->meanNew, 2.5);
        QVERIFY(!x->pass);  // MAE 0.5 ≥ 0.1

        const Stats* y = find(r.columns, "y");
        QCOMPARE(y->n, std::uint64_t(1));
        QCOMPARE(y->missingBaseline, std::uint64_t(1));  // c: empty in baseline, 31 in new
        QCOMPARE(y->missingNew, std::uint64_t(0));
        QVERIFY(!y->corr);
        QVERIFY2(y->corrNote.find("constant") != std::string::npos, y->corrNote.c_str());
        QVERIFY(y->pass);  // identical values: reproduced although r is undefined

        // Overall pools (1,1.5), (3,3.5), (10,10).
        QCOMPARE(r.overall.n, std::uint64_t(3));
        QVERIFY(std::abs(r.overall.mae - 1.0 / 3.0) < 1e-15);
        QVERIFY(std::abs(*r.overall.corr - pearson({1, 3, 10}, {1.5, 3.5, 10})) < 1e-14);
        QCOMPARE(r.overall.maxDiff, 0.5);
        QVERIFY(!r.pass());
        QCOMPARE(r.baseline.sha256, lumen::util::sha256File(b));
        // Without a categories file each column is its own category.
        QCOMPARE(r.categories.size(), size_t(2));
        QCOMPARE(result.joinedRows.size(), size_t(2));
    }

    void thresholdsAreStrictForMaeInclusiveForCorr() {
        QTemporaryDir dir;
        // Differences of exactly 0.25 everywhere: MAE 0.25.
        const auto b = writeTextFile(dir, "b.csv", "id,v\n1,0\n2,1\n3,2\n");
        const auto n = writeTextFile(dir, "n.csv", "id,v\n1,0.25\n2,1.25\n3,2.25\n");
        AuditOptions o;
        o.thresholds.maxMae = 0.25;
        QVERIFY(!runAudit(b, n, o).report.pass());  // MAE must be < max
        o.thresholds.maxMae = 0.2500001;
        o.thresholds.minCorr = 1.0;  // r = 1 exactly: ≥ passes
        QVERIFY(runAudit(b, n, o).report.pass());
    }

    void categoriesPoolByPattern() {
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv",
                                     "id,lad_stenosis,rca_stenosis,lad_cto,rca_cto\n"
                                     "s1,10,20,0.1,0.2\ns2,30,40,0.3,0.4\ns3,50,60,0.5,0.6\n");
        const auto n = writeTextFile(dir, "n.csv",
                                     "id,lad_stenosis,rca_stenosis,lad_cto,rca_cto\n"
                                     "s1,10,20,0.1,0.2\ns2,30,41,0.3,0.4\ns3,50,60,0.5,0.6\n");
        const auto cats = writeTextFile(dir, "c.yaml",
                                        "categories:\n"
                                        "  - {name: Stenosis, pattern: _stenosis$}\n"
                                        "  - {name: CTO, pattern: _cto$}\n"
                                        "  - {name: Thrombus, pattern: _thrombus$}\n");
        AuditOptions o;
        o.categories = loadCategories(cats);
        const AuditReport r = runAudit(b, n, o).report;
        QCOMPARE(r.categories.size(), size_t(3));
        const Stats* st = find(r.categories, "Stenosis");
        QCOMPARE(st->columns, (std::vector<std::string>{"lad_stenosis", "rca_stenosis"}));
        QCOMPARE(st->n, std::uint64_t(6));
        QVERIFY(std::abs(st->mae - 1.0 / 6.0) < 1e-15);
        QCOMPARE(st->maxDiffId, std::string("s2"));
        QCOMPARE(st->maxDiffColumn, std::string("rca_stenosis"));
        QVERIFY(!st->pass);  // MAE 0.167 ≥ 0.1
        const Stats* cto = find(r.categories, "CTO");
        QCOMPARE(cto->maxDiff, 0.0);
        QVERIFY(cto->pass);
        const Stats* th = find(r.categories, "Thrombus");
        QCOMPARE(th->n, std::uint64_t(0));
        QVERIFY(!th->pass);  // a category that matches nothing fails loudly
        QVERIFY(th->corrNote.find("_thrombus$") != std::string::npos);
        QVERIFY(!r.pass());

        const auto json = r.toJson();
        QVERIFY(json["categories"][2]["mae"].is_null());
        QCOMPARE(json["categories"][0]["columns"].size(), size_t(2));
        const std::string md = r.toMarkdown();
        QVERIFY2(md.find("| Category | MAE | Correlation | Max Diff | Status |") != std::string::npos, md.c_str());
        QVERIFY(md.find("| Stenosis (2 col) | 0.166667 |") != std::string::npos);
        QVERIFY(md.find("| **OVERALL** |") != std::string::npos);
    }

    void badCategoriesNameTheEntry() {
        QTemporaryDir dir;
        const auto bad = writeTextFile(dir, "c.yaml", "categories:\n  - {name: A, pattern: \"([\"}\n");
        try {
            loadCategories(bad);
            QFAIL("no exception");
        } catch (const std::runtime_error& e) {
            QVERIFY2(std::string(e.what()).find(bad + ":2: categories[0].pattern: not a valid regular expression") == 0,
                     e.what());
        }
        const auto noName = writeTextFile(dir, "d.yaml", "categories:\n  - {pattern: x}\n");
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, loadCategories(noName));
    }

    void idsStayStrings() {
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "study_id,v\n0001234,1\n1234,2\n");
        const auto n = writeTextFile(dir, "n.csv", "study_id,v\n1234,2\n0001234,1\n");
        const AuditReport r = runAudit(b, n, {}).report;
        QCOMPARE(r.sharedIds, std::uint64_t(2));
        QCOMPARE(r.overall.mae, 0.0);  // 0001234 matched 0001234, not 1234
    }

    void idColumnOptionAndErrors() {
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "v,study_id\n1,a\n2,b\n");
        const auto n = writeTextFile(dir, "n.csv", "study_id,v\nb,2\na,1\n");
        AuditOptions o;
        o.idColumn = "study_id";
        QCOMPARE(runAudit(b, n, o).report.sharedIds, std::uint64_t(2));
        // Default id = the baseline's first column ("v"), which new.csv has too (as data):
        // fine; but a new file without it is an error naming the file.
        const auto n2 = writeTextFile(dir, "n2.csv", "study_id,w\nb,2\n");
        try {
            runAudit(b, n2, {});
            QFAIL("no exception");
        } catch (const std::exception& e) {
            QVERIFY2(std::string(e.what()).find(n2 + ": no id column \"v\"") == 0, e.what());
        }
        const auto n3 = writeTextFile(dir, "n3.csv", "v,other\n1,5\n");
        try {
            runAudit(b, n3, {});
            QFAIL("no exception");
        } catch (const std::exception& e) {
            QVERIFY2(std::string(e.what()).find("share no numeric column") != std::string::npos, e.what());
        }
        try {
            runAudit(dir.filePath("missing.csv").toStdString(), n, {});
            QFAIL("no exception");
        } catch (const std::exception& e) {
            QVERIFY2(std::string(e.what()).find("missing.csv: cannot open") != std::string::npos, e.what());
        }
    }

    void reportNeverOverwritesInputs() {
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "baseline.csv", "id,v\n1,1\n2,2\n");
        const auto n = writeTextFile(dir, "new.csv", "id,v\n1,1\n2,2\n");
        const std::string before = lumen::util::sha256File(b);
        const AuditReport r = runAudit(b, n, {}).report;
        QDir(dir.path()).mkdir("sub");
        const std::string sneaky = dir.filePath("sub/../baseline.csv").toStdString();
        QFile::link(QString::fromStdString(b), dir.filePath("link.csv"));
        for (const std::string& target : {b, sneaky, dir.filePath("link.csv").toStdString(), n}) {
            try {
                writeReport(r, target, "");
                QFAIL(("wrote over " + target).c_str());
            } catch (const std::runtime_error& e) {
                QVERIFY2(std::string(e.what()).find("refusing to write the report") == 0, e.what());
            }
            QVERIFY_THROWS_EXCEPTION(std::runtime_error, writeReport(r, "", target));
        }
        QCOMPARE(lumen::util::sha256File(b), before);
        const std::string json = dir.filePath("report.json").toStdString();
        const std::string md = dir.filePath("report.md").toStdString();
        writeReport(r, json, md);
        QVERIFY(QFile::exists(QString::fromStdString(json)) && QFile::exists(QString::fromStdString(md)));
        const auto parsed = nlohmann::json::parse(std::ifstream(json));
        QCOMPARE(parsed["overall"]["n"].get<int>(), 2);
        QCOMPARE(parsed["baseline"]["sha256"].get<std::string>(), before);
        // No temporary files left behind.
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden).filter(".tmp").size(), 0);
    }

    void recordsHistoryInTheRunStore() {
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "id,v\n1,1\n2,2\n3,3\n");
        const auto n1 = writeTextFile(dir, "n1.csv", "id,v\n1,1.5\n2,2\n3,3.9\n");
        const auto n2 = writeTextFile(dir, "n2.csv", "id,v\n1,1\n2,2\n3,3.0001\n");
        lumen::runs::RunStore store(dir.filePath("lumen.db").toStdString());
        const auto r1 = runAudit(b, n1, {}).report;
        const auto r2 = runAudit(b, n2, {}).report;
        recordAudit(store, r1, "before fix");
        const auto id = recordAudit(store, r2, "after fix", {"/x/report.md"});
        const auto history = auditHistory(store);
        QCOMPARE(history.size(), size_t(2));
        QCOMPARE(history[0].stage, std::string("before fix"));
        QCOMPARE(history[1].stage, std::string("after fix"));
        QCOMPARE(history[0].mae, r1.overall.mae);
        QCOMPARE(*history[1].corr, *r2.overall.corr);
        QCOMPARE(history[1].n, std::uint64_t(3));
        QVERIFY(!history[0].pass && history[1].pass);
        QCOMPARE(store.artifacts(id).at(0).path, std::string("/x/report.md"));
        QVERIFY(store.run(id)->outcome.rfind("PASS", 0) == 0);
    }

    void demoPairFailsOnItsGapsUntilAllowed() {
        // The demo's new.csv lacks two baseline ids, has one of its own and some empty cells:
        // every category meets its thresholds, but the audit is incomplete and FAILs until
        // the gaps are allowed, and then passes as partial.
        QTemporaryDir dir;
        lumen::demo::DemoOptions options;
        options.chestImages = 4;
        options.ctVolumes = 1;
        options.angioStudies = 1;
        lumen::demo::createDemoWorkspace(dir.path().toStdString(), options);
        AuditOptions o;
        o.categories = loadCategories(dir.filePath("predictions/categories.yaml").toStdString());
        const std::string b = dir.filePath("predictions/baseline.csv").toStdString();
        const std::string n = dir.filePath("predictions/new.csv").toStdString();
        const AuditReport r = runAudit(b, n, o).report;
        QCOMPARE(r.categories.size(), size_t(5));
        for (const auto& c : r.categories) {
            QCOMPARE(c.columns.size(), size_t(18));
            QVERIFY2(c.pass, c.name.c_str());
        }
        QVERIFY(r.thresholdsPass());
        QVERIFY(!r.pass());
        QCOMPARE(r.verdict(), std::string("FAIL"));
        QCOMPARE(r.idsOnlyInBaseline.size(), size_t(2));
        QCOMPARE(r.idsOnlyInNew.size(), size_t(1));
        QCOMPARE(r.columns.size(), size_t(90));
        QVERIFY(r.valuesMissingInBaseline + r.valuesMissingInNew > 0);
        o.allow.missingIds = o.allow.missingValues = true;
        const AuditReport partial = runAudit(b, n, o).report;
        QVERIFY(partial.pass());
        QCOMPARE(partial.verdict(), std::string("PASS (partial)"));
    }

    void missingIdsFailUnlessAllowed() {
        // Issue 14 §3: the new file lacks 3 of the 5 ids; it used to PASS.
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "id,v\na,1\nb,2\nc,3\nd,4\ne,5\n");
        const auto n = writeTextFile(dir, "n.csv", "id,v\nb,2\nd,4\n");
        AuditReport r = runAudit(b, n, {}).report;
        QVERIFY(r.thresholdsPass());  // what is there is reproduced …
        QVERIFY(!r.pass());           // … but most of it is not there
        QCOMPARE(r.verdict(), std::string("FAIL"));
        const auto gaps = r.gaps();
        QCOMPARE(gaps.size(), size_t(1));
        QCOMPARE(gaps[0].kind, std::string("ids_only_in_baseline"));
        QCOMPARE(gaps[0].count, std::uint64_t(3));
        QCOMPARE(gaps[0].examples, (std::vector<std::string>{"a", "c", "e"}));
        QVERIFY(!gaps[0].allowed);
        const std::string md = r.toMarkdown();
        QVERIFY2(md.find("# Reproducibility audit: FAIL") == 0, md.c_str());
        QVERIFY2(md.find("**FAIL**: 3 ids only in baseline: `a`, `c`, `e`") != std::string::npos, md.c_str());
        AuditOptions o;
        o.allow.missingIds = true;
        r = runAudit(b, n, o).report;
        QVERIFY(r.pass() && r.partial());
        QCOMPARE(r.verdict(), std::string("PASS (partial)"));
        const auto json = r.toJson();
        QCOMPARE(json["verdict"].get<std::string>(), std::string("PASS (partial)"));
        QVERIFY(json["allowed"]["missing_ids"].get<bool>());
        QVERIFY(json["gaps"][0]["allowed"].get<bool>());
        QVERIFY(r.toMarkdown().find("- allowed: 3 ids only in baseline") != std::string::npos);
        QVERIFY(r.toMarkdown().find("- Allowed: missing ids") != std::string::npos);
        // An id only in new is a gap too.
        const auto n2 = writeTextFile(dir, "n2.csv", "id,v\na,1\nb,2\nc,3\nd,4\ne,5\nf,6\n");
        QCOMPARE(runAudit(b, n2, {}).report.verdict(), std::string("FAIL"));
        QCOMPARE(runAudit(b, n2, o).report.verdict(), std::string("PASS (partial)"));
    }

    void missingColumnFailsUnlessAllowed() {
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "id,v,w\na,1,0.1\nb,2,0.2\nc,3,0.3\n");
        const auto n = writeTextFile(dir, "n.csv", "id,v\na,1\nb,2\nc,3\n");
        AuditReport r = runAudit(b, n, {}).report;
        QCOMPARE(r.verdict(), std::string("FAIL"));
        QCOMPARE(r.columnsOnlyInBaseline, std::vector<std::string>{"w"});
        QCOMPARE(r.gaps().at(0).kind, std::string("columns_only_in_baseline"));
        AuditOptions o;
        o.allow.missingIds = true;  // the wrong allowance does not help
        QCOMPARE(runAudit(b, n, o).report.verdict(), std::string("FAIL"));
        o.allow.missingColumns = true;
        r = runAudit(b, n, o).report;
        QCOMPARE(r.verdict(), std::string("PASS (partial)"));
        QVERIFY(r.toJson()["allowed"]["missing_columns"].get<bool>());
        // A column only in new as well.
        QCOMPARE(runAudit(n, b, {}).report.verdict(), std::string("FAIL"));
        QCOMPARE(runAudit(n, b, {}).report.columnsOnlyInNew, std::vector<std::string>{"w"});
    }

    void missingValuesFailUnlessAllowed() {
        // 4 of the 5 values are NaN/empty in the new file; the one left matches.
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "id,v\na,1\nb,2\nc,3\nd,4\ne,5\n");
        const auto n = writeTextFile(dir, "n.csv", "id,v\na,nan\nb,\nc,3\nd,NA\ne,null\n");
        AuditReport r = runAudit(b, n, {}).report;
        QCOMPARE(r.verdict(), std::string("FAIL"));
        QCOMPARE(r.valuesMissingInNew, std::uint64_t(4));
        QCOMPARE(r.valuesMissingInBaseline, std::uint64_t(0));
        QCOMPARE(r.missingValues.size(), size_t(4));
        QCOMPARE(r.missingValues[1].id, std::string("b"));
        QCOMPARE(r.missingValues[1].column, std::string("v"));
        QVERIFY(!r.missingValues[1].inBaseline);
        const auto gaps = r.gaps();
        QCOMPARE(gaps.at(0).kind, std::string("values_missing_in_new"));
        QCOMPARE(gaps.at(0).examples, (std::vector<std::string>{"a / v", "b / v", "d / v", "e / v"}));
        QCOMPARE(r.toJson()["missing_values"][0]["missing_in"].get<std::string>(), std::string("new"));
        AuditOptions o;
        o.allow.missingValues = true;
        QCOMPARE(runAudit(b, n, o).report.verdict(), std::string("PASS (partial)"));
        // Missing on both sides is reproduced, not a gap.
        const auto both = writeTextFile(dir, "both.csv", "id,v\na,1\nb,\nc,3\nd,4\ne,5\n");
        QCOMPARE(runAudit(both, both, {}).report.verdict(), std::string("PASS"));
    }

    void textCellIsNamedAndFails() {
        // A numeric column with one text cell stays numeric; the cell is named and fails the
        // audit whatever is allowed (it used to drop the column and PASS).
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "id,risk,v\na,0.1,1\nb,0.2,2\nc,0.3,3\n");
        const auto n = writeTextFile(dir, "n.csv", "id,risk,v\na,0.1,1\nb,high,2\nc,0.3,3\n");
        AuditOptions o;
        o.allow = {true, true, true};
        const AuditReport r = runAudit(b, n, o).report;
        QCOMPARE(r.verdict(), std::string("FAIL"));
        QVERIFY(r.columnsOnlyInBaseline.empty());
        QCOMPARE(r.badCellCount, std::uint64_t(1));
        QCOMPARE(r.badCells.at(0).file, n);
        QCOMPARE(r.badCells[0].line, 3LL);
        QCOMPARE(r.badCells[0].column, std::string("risk"));
        QCOMPARE(r.badCells[0].text, std::string("high"));
        QCOMPARE(describe(r.badCells[0]), n + ":3: column \"risk\": \"high\" is not a number");
        const std::string md = r.toMarkdown();
        QVERIFY2(md.find("**FAIL**: 1 cells that are not numbers: `" + n +
                         ":3: column \"risk\": \"high\" is not a number`") != std::string::npos,
                 md.c_str());
        QCOMPARE(r.toJson()["non_numeric_cells"][0]["line"].get<int>(), 3);
        QCOMPARE(find(r.columns, "risk")->n, std::uint64_t(2));  // the other cells are compared
        // A column text in one table and numeric in the other: its first text cell is named.
        const auto t = writeTextFile(dir, "t.csv", "id,risk,v\na,low,1\nb,high,2\nc,mid,3\n");
        const AuditReport r2 = runAudit(b, t, o).report;
        QCOMPARE(r2.verdict(), std::string("FAIL"));
        QCOMPARE(describe(r2.badCells.at(0)), t + ":2: column \"risk\": \"low\" is not a number");
        // Text on both sides: not compared, listed, no failure.
        const auto tb = writeTextFile(dir, "tb.csv", "id,note,v\na,x,1\nb,y,2\n");
        const AuditReport r3 = runAudit(tb, tb, {}).report;
        QCOMPARE(r3.verdict(), std::string("PASS"));
        QCOMPARE(r3.textColumns, std::vector<std::string>{"note"});
    }

    void infinitiesCompareAsValues() {
        QTemporaryDir dir;
        // Identical files with one inf: reproduced (it used to FAIL: inf − inf is NaN).
        const auto b = writeTextFile(dir, "b.csv", "id,v\na,1\nb,inf\nc,3\nd,4.5\n");
        AuditReport r = runAudit(b, b, {}).report;
        QCOMPARE(r.verdict(), std::string("PASS"));
        QCOMPARE(r.overall.n, std::uint64_t(4));
        QCOMPARE(r.overall.nonFinite, std::uint64_t(1));
        QCOMPARE(r.overall.mae, 0.0);
        QCOMPARE(r.overall.maxDiff, 0.0);
        QVERIFY(r.overall.corr && std::abs(*r.overall.corr - 1.0) < 1e-15);
        // A column of -inf on both sides (it used to throw std::bad_alloc).
        const auto m = writeTextFile(dir, "m.csv", "id,v\na,-inf\nb,-inf\n");
        r = runAudit(m, m, {}).report;
        QCOMPARE(r.verdict(), std::string("PASS"));
        QCOMPARE(r.overall.maxDiff, 0.0);
        QCOMPARE(r.overall.maxDiffId, std::string("a"));
        QVERIFY(!r.overall.corr);
        QVERIFY(std::isnan(r.overall.meanBaseline));
        QVERIFY(r.toJson()["overall"]["mean_baseline"].is_null());
        // inf against a finite value: a difference of inf, which fails the MAE.
        const auto n = writeTextFile(dir, "n.csv", "id,v\na,1\nb,7\nc,3\nd,4.5\n");
        r = runAudit(b, n, {}).report;
        QCOMPARE(r.verdict(), std::string("FAIL"));
        QVERIFY(std::isinf(r.overall.mae) && std::isinf(r.overall.maxDiff));
        QCOMPARE(r.overall.maxDiffId, std::string("b"));
        QCOMPARE(r.toJson()["overall"]["mae"].get<std::string>(), std::string("inf"));
        QVERIFY(r.toMarkdown().find("| **OVERALL** | **inf** |") != std::string::npos);
    }

    void infinitiesMatchNumpy() {
        // Mixed infinities and noise, checked against numpy with the same rules written out:
        // difference 0 where equal (infinities too), MAE and max over all pairs, means and r
        // over the pairs finite on both sides.
        QTemporaryDir dir;
        std::mt19937_64 rng(5);
        std::normal_distribution<double> g(0, 1);
        std::string bt = "id,v,w\n", nt = "id,v,w\n";
        for (int i = 0; i < 500; ++i) {
            const double x = g(rng), y = x + g(rng) * 0.001;
            std::ostringstream bl, nl;
            bl.precision(17);
            nl.precision(17);
            bl << "s" << i << "," << (i % 50 == 3 ? "inf" : i % 70 == 5 ? "-inf" : std::to_string(x)) << "," << x * 2;
            nl << "s" << i << ","
               << (i % 50 == 3   ? "inf"
                   : i % 70 == 5 ? "-inf"
                                 : std::to_string(x))
               << "," << (i == 400 ? std::string("-inf") : std::to_string(y * 2));
            bt += bl.str() + "\n";
            nt += nl.str() + "\n";
        }
        const auto b = writeTextFile(dir, "b.csv", bt);
        const auto n = writeTextFile(dir, "n.csv", nt);
        const AuditReport r = runAudit(b, n, {}).report;
        const QString script = R"(
import sys, json, pandas as pd, numpy as np, scipy.stats as st
b = pd.read_csv(sys.argv[1], float_precision='round_trip')
n = pd.read_csv(sys.argv[2], float_precision='round_trip')
m = b.merge(n, on='id', suffixes=('_b', '_n'))
out = {}
for c in ['v', 'w']:
    x, y = m[c + '_b'].to_numpy(), m[c + '_n'].to_numpy()
    d = np.where(x == y, 0.0, np.abs(y - x))
    f = np.isfinite(x) & np.isfinite(y)
    mae = float(d.mean())
    out[c] = {'n': len(d), 'non_finite': int((~f).sum()), 'mae': mae if np.isfinite(mae) else None,
              'mae_inf': bool(np.isinf(mae)), 'max_inf': bool(np.isinf(d.max())),
              'corr': float(st.pearsonr(x[f], y[f])[0]), 'mean_b': float(x[f].mean())}
print(json.dumps(out))
)";
        QProcess py;
        py.start("/usr/bin/python3", {"-c", script, QString::fromStdString(b), QString::fromStdString(n)});
        QVERIFY(py.waitForFinished(120000));
        QVERIFY2(py.exitCode() == 0, py.readAllStandardError().constData());
        const auto ref = nlohmann::json::parse(py.readAllStandardOutput().toStdString());
        for (const char* c : {"v", "w"}) {
            const Stats* s = find(r.columns, c);
            const auto& e = ref[c];
            QCOMPARE(s->n, e["n"].get<std::uint64_t>());
            QCOMPARE(s->nonFinite, e["non_finite"].get<std::uint64_t>());
            QCOMPARE(std::isinf(s->mae), e["mae_inf"].get<bool>());
            QCOMPARE(std::isinf(s->maxDiff), e["max_inf"].get<bool>());
            if (!e["mae"].is_null()) QVERIFY2(std::abs(s->mae - e["mae"].get<double>()) <= 1e-15, c);
            QCOMPARE(s->pass, std::string(c) == "v");  // w has -inf against a finite value
            QVERIFY2(std::abs(*s->corr - e["corr"].get<double>()) <= 1e-12, c);
            QVERIFY(std::abs(s->meanBaseline - e["mean_b"].get<double>()) <= 1e-12);
        }
    }

    void defaultIdIsFoundByNameInNew() {
        // The new file is reordered and its first column repeats a value: the id is the
        // baseline header's first column, looked up by name (it used to fail "appears twice").
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "study_id,x,y\na,1,5\nb,1,6\nc,2,7\n");
        const auto n = writeTextFile(dir, "n.csv", "x,y,study_id\n1,6,b\n1,5,a\n2,7,c\n");
        const AuditReport r = runAudit(b, n, {}).report;
        QCOMPARE(r.idColumn, std::string("study_id"));
        QCOMPARE(r.sharedIds, std::uint64_t(3));
        QCOMPARE(r.verdict(), std::string("PASS"));
        // A genuine duplicate id in new is still an error naming the file.
        const auto dup = writeTextFile(dir, "dup.csv", "x,y,study_id\n1,6,b\n1,5,b\n");
        QVERIFY2(errorOf<std::runtime_error>([&] { runAudit(b, dup, {}); }).find(dup + ": id \"b\" appears twice") == 0,
                 errorOf<std::runtime_error>([&] { runAudit(b, dup, {}); }).c_str());
    }

    void categoriesHaveTheirOwnThresholds() {
        QTemporaryDir dir;
        const auto b = writeTextFile(dir, "b.csv", "id,a_pct,b_prob\ns1,10,0.1\ns2,50,0.5\ns3,90,0.9\n");
        const auto n = writeTextFile(dir, "n.csv", "id,a_pct,b_prob\ns1,10.3,0.1\ns2,50.3,0.5\ns3,90.3,0.9\n");
        const auto global = writeTextFile(dir, "g.yaml",
                                          "categories:\n  - {name: Pct, pattern: _pct$}\n"
                                          "  - {name: Prob, pattern: _prob$}\n");
        AuditOptions o;
        o.categories = loadCategories(global);
        AuditReport r = runAudit(b, n, o).report;
        QVERIFY(!find(r.categories, "Pct")->pass);  // MAE 0.3 ≥ 0.1
        QVERIFY(r.overallJudged);
        QCOMPARE(r.verdict(), std::string("FAIL"));
        const auto own = writeTextFile(dir, "c.yaml",
                                       "categories:\n  - {name: Pct, pattern: _pct$, max_mae: 0.5, min_corr: 0.99}\n"
                                       "  - {name: Prob, pattern: _prob$}\n");
        o.categories = loadCategories(own);
        QCOMPARE(o.categories[0].maxMae.value(), 0.5);
        QVERIFY(!o.categories[1].maxMae);
        r = runAudit(b, n, o).report;
        const Stats* pct = find(r.categories, "Pct");
        QVERIFY(pct->pass);
        QCOMPARE(pct->thresholds.maxMae, 0.5);
        QCOMPARE(pct->thresholds.minCorr, 0.99);
        QCOMPARE(find(r.categories, "Prob")->thresholds.maxMae, 0.1);
        QVERIFY(!r.overallJudged);  // pooled MAE 0.15 ≥ 0.1 mixes units: OVERALL follows the categories
        QVERIFY(r.overall.mae >= 0.1 && r.overall.pass);
        QCOMPARE(r.verdict(), std::string("PASS"));
        const auto json = r.toJson();
        QCOMPARE(json["categories"][0]["thresholds"]["max_mae"].get<double>(), 0.5);
        QVERIFY(!json["overall"]["judged"].get<bool>());
        QVERIFY(r.toMarkdown().find("  - Pct: correlation ≥ 0.99, MAE < 0.5") != std::string::npos);
        const auto bad = writeTextFile(dir, "bad.yaml", "categories:\n  - {name: A, pattern: x, max_mae: lots}\n");
        QCOMPARE(errorOf<std::runtime_error>([&] { loadCategories(bad); }),
                 bad + ":2: categories[0].max_mae: expected a number, found \"lots\"");
    }

    void matchesPandasAndScipy() {
        // Random tables with missing cells, extra ids on both sides, shuffled rows and a
        // column only in one side; the reference is pandas merge + scipy.stats.pearsonr.
        QTemporaryDir dir;
        std::mt19937_64 rng(11);
        std::normal_distribution<double> noise(0, 0.01);
        std::uniform_real_distribution<double> u(0, 100);
        const int rows = 3000;
        std::vector<int> order(rows);
        std::iota(order.begin(), order.end(), 0);
        const std::vector<std::string> cols = {"a_stenosis", "b_stenosis", "a_cto", "b_cto", "c_cto"};
        std::vector<std::vector<double>> base(rows, std::vector<double>(cols.size()));
        for (auto& r : base)
            for (size_t c = 0; c < cols.size(); ++c) r[c] = c < 2 ? u(rng) : u(rng) / 100;
        {
            std::ofstream b(dir.filePath("b.csv").toStdString()), n(dir.filePath("n.csv").toStdString());
            b.precision(17);
            n.precision(17);
            b << "study_id";
            for (const auto& c : cols) b << "," << c;
            b << ",only_b\n";
            n << "study_id";
            for (auto it = cols.rbegin(); it != cols.rend(); ++it) n << "," << *it;
            n << "\n";
            for (int r = 0; r < rows; ++r) {
                if (r % 250 == 7) continue;  // ids only in new
                b << "id" << std::setw(6) << std::setfill('0') << r;
                for (size_t c = 0; c < cols.size(); ++c) {
                    if ((r * 7 + int(c)) % 97 == 0) b << ",";
                    else b << "," << base[size_t(r)][c];
                }
                b << "," << r << "\n";
            }
            std::shuffle(order.begin(), order.end(), rng);
            for (int r : order) {
                if (r % 300 == 11) continue;  // ids only in baseline
                n << "id" << std::setw(6) << std::setfill('0') << r;
                for (size_t k = cols.size(); k-- > 0;) {
                    if ((r * 13 + int(k)) % 89 == 0) n << ",nan";
                    else n << "," << base[size_t(r)][k] + noise(rng) * (k < 2 ? 100 : 1);
                }
                n << "\n";
            }
        }
        const auto cats = writeTextFile(dir, "c.yaml",
                                        "categories:\n  - {name: Stenosis, pattern: _stenosis$}\n"
                                        "  - {name: CTO, pattern: _cto$}\n");
        AuditOptions o;
        o.categories = loadCategories(cats);
        const AuditReport r =
            runAudit(dir.filePath("b.csv").toStdString(), dir.filePath("n.csv").toStdString(), o).report;
        const QString script = R"(
import sys, json, pandas as pd, numpy as np, scipy.stats as st
b = pd.read_csv(sys.argv[1], dtype={'study_id': str}, float_precision='round_trip')
n = pd.read_csv(sys.argv[2], dtype={'study_id': str}, float_precision='round_trip')
m = b.merge(n, on='study_id', suffixes=('_b', '_n'))
shared = [c for c in b.columns if c in n.columns and c != 'study_id']
def stats(cols):
    x = np.concatenate([m[c + '_b'].to_numpy() for c in cols])
    y = np.concatenate([m[c + '_n'].to_numpy() for c in cols])
    ok = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[ok], y[ok]
    d = np.abs(y - x)
    return {'n': int(ok.sum()), 'mae': float(d.mean()), 'corr': float(st.pearsonr(x, y)[0]),
            'max_diff': float(d.max()), 'mean_b': float(x.mean()), 'mean_n': float(y.mean())}
out = {'overall': stats(shared), 'Stenosis': stats([c for c in shared if c.endswith('_stenosis')]),
       'CTO': stats([c for c in shared if c.endswith('_cto')]),
       'shared_ids': len(m), 'only_b': sorted(set(b.study_id) - set(n.study_id)),
       'only_n': sorted(set(n.study_id) - set(b.study_id))}
for c in shared: out['col:' + c] = stats([c])
print(json.dumps(out))
)";
        QProcess py;
        py.start("/usr/bin/python3", {"-c", script, dir.filePath("b.csv"), dir.filePath("n.csv")});
        QVERIFY(py.waitForFinished(120000));
        QVERIFY2(py.exitCode() == 0, py.readAllStandardError().constData());
        const auto ref = nlohmann::json::parse(py.readAllStandardOutput().toStdString());
        auto check = [&](const Stats& s, const nlohmann::json& e) {
            QCOMPARE(s.n, e["n"].get<std::uint64_t>());
            QVERIFY2(std::abs(s.mae - e["mae"].get<double>()) <= 1e-12 * std::max(1.0, s.mae), s.name.c_str());
            QVERIFY2(std::abs(*s.corr - e["corr"].get<double>()) <= 1e-12, s.name.c_str());
            QCOMPARE(s.maxDiff, e["max_diff"].get<double>());
            QVERIFY(std::abs(s.meanBaseline - e["mean_b"].get<double>()) <= 1e-12 * std::abs(s.meanBaseline));
            QVERIFY(std::abs(s.meanNew - e["mean_n"].get<double>()) <= 1e-12 * std::abs(s.meanNew));
        };
        check(r.overall, ref["overall"]);
        check(*find(r.categories, "Stenosis"), ref["Stenosis"]);
        check(*find(r.categories, "CTO"), ref["CTO"]);
        for (const auto& c : r.columns) check(c, ref["col:" + c.name]);
        QCOMPARE(r.sharedIds, ref["shared_ids"].get<std::uint64_t>());
        auto sorted = [](std::vector<std::string> v) {
            std::sort(v.begin(), v.end());
            return v;
        };
        QCOMPARE(sorted(r.idsOnlyInBaseline), ref["only_b"].get<std::vector<std::string>>());
        QCOMPARE(sorted(r.idsOnlyInNew), ref["only_n"].get<std::vector<std::string>>());
        QCOMPARE(r.columnsOnlyInBaseline, std::vector<std::string>{"only_b"});
    }
};

QTEST_GUILESS_MAIN(TestAudit)
#include "test_audit.moc"
