// Runs `lumen-cli audit` as a user would: the exit code follows the verdict, the
// --allow-missing-* flags make a partial audit pass and say so, and the report names the
// missing ids and the cell that is not a number.
#include "test_support.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>

class TestAuditCli : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string baseline_;

    QString path(const char* name) const { return dir_.filePath(name); }

private slots:
    void initTestCase() {
        baseline_ = writeTextFile(dir_, "baseline.csv", "id,v,w\na,1,0.1\nb,2,0.2\nc,3,0.3\nd,4,0.4\ne,5,0.5\n");
    }

    void missingIdsFailThenPassPartially() {
        const auto fresh = writeTextFile(dir_, "new.csv", "id,v,w\nb,2,0.2\nd,4,0.4\n");
        const QString b = QString::fromStdString(baseline_), n = QString::fromStdString(fresh);
        CliOutcome r = runLumenCli({"audit", "--baseline", b, "--new", n, "--json", path("r1.json")});
        QVERIFY2(r.code == 1, (r.out + r.err).c_str());  // FAIL
        QVERIFY2(r.out.find("# Reproducibility audit: FAIL") == 0, r.out.c_str());
        QVERIFY2(r.out.find("**FAIL**: 3 ids only in baseline: `a`, `c`, `e`") != std::string::npos, r.out.c_str());
        auto json = nlohmann::json::parse(readTextFile(path("r1.json").toStdString()));
        QCOMPARE(json["verdict"].get<std::string>(), std::string("FAIL"));
        QCOMPARE(json["gaps"][0]["examples"].get<std::vector<std::string>>(),
                 (std::vector<std::string>{"a", "c", "e"}));

        r = runLumenCli({"audit", "--baseline", b, "--new", n, "--allow-missing-ids", "--json", path("r2.json"),
                         "--markdown", path("r2.md")});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY2(r.out.find("# Reproducibility audit: PASS (partial)") == 0, r.out.c_str());
        QVERIFY(r.out.find("- Allowed: missing ids") != std::string::npos);
        json = nlohmann::json::parse(readTextFile(path("r2.json").toStdString()));
        QCOMPARE(json["verdict"].get<std::string>(), std::string("PASS (partial)"));
        QVERIFY(json["partial"].get<bool>() && json["allowed"]["missing_ids"].get<bool>());
        QCOMPARE(readTextFile(path("r2.md").toStdString()), r.out);
    }

    void missingColumnNeedsItsOwnFlag() {
        const auto fresh = writeTextFile(dir_, "nocol.csv", "id,v\na,1\nb,2\nc,3\nd,4\ne,5\n");
        const QString b = QString::fromStdString(baseline_), n = QString::fromStdString(fresh);
        QCOMPARE(runLumenCli({"audit", "--baseline", b, "--new", n, "--quiet"}).code, 1);
        QCOMPARE(runLumenCli({"audit", "--baseline", b, "--new", n, "--quiet", "--allow-missing-ids"}).code, 1);
        const auto r = runLumenCli({"audit", "--baseline", b, "--new", n, "--allow-missing-columns"});
        QVERIFY2(r.code == 0, (r.out + r.err).c_str());
        QVERIFY(r.out.find("- allowed: 1 columns only in baseline: `w`") != std::string::npos);
    }

    void missingValuesAndTextCells() {
        const auto nans = writeTextFile(dir_, "nans.csv", "id,v,w\na,nan,0.1\nb,,0.2\nc,3,0.3\nd,NA,0.4\ne,null,0.5\n");
        const QString b = QString::fromStdString(baseline_);
        QCOMPARE(runLumenCli({"audit", "--baseline", b, "--new", QString::fromStdString(nans), "--quiet"}).code, 1);
        QCOMPARE(runLumenCli({"audit", "--baseline", b, "--new", QString::fromStdString(nans), "--quiet",
                              "--allow-missing-values"})
                     .code,
                 0);
        const auto text = writeTextFile(dir_, "text.csv", "id,v,w\na,1,0.1\nb,2,0.2\nc,3,high\nd,4,0.4\ne,5,0.5\n");
        const auto r = runLumenCli({"audit", "--baseline", b, "--new", QString::fromStdString(text),
                                    "--allow-missing-ids", "--allow-missing-columns", "--allow-missing-values"});
        QVERIFY2(r.code == 1, (r.out + r.err).c_str());  // never allowed
        const std::string named = text + ":4: column \"w\": \"high\" is not a number";
        QVERIFY2(r.out.find(named) != std::string::npos, r.out.c_str());
    }

    void infinitiesAndDefaultIdByName() {
        const auto inf = writeTextFile(dir_, "inf.csv", "id,v\na,-inf\nb,-inf\nc,inf\n");
        const QString i = QString::fromStdString(inf);
        const auto same = runLumenCli({"audit", "--baseline", i, "--new", i});
        QVERIFY2(same.code == 0, (same.out + same.err).c_str());  // used to be bad_alloc (exit 2)
        const auto reordered =
            writeTextFile(dir_, "reordered.csv", "w,v,id\n0.1,1,a\n0.1,2,b\n0.3,3,c\n0.4,4,d\n0.5,5,e\n");
        const auto r = runLumenCli({"audit", "--baseline", QString::fromStdString(baseline_), "--new",
                                    QString::fromStdString(reordered), "--quiet"});
        QVERIFY2(r.code == 1 && r.err.find("appears twice") == std::string::npos, r.err.c_str());  // b's w differs
    }
};

QTEST_GUILESS_MAIN(TestAuditCli)
#include "test_audit_cli.moc"
