// The task kit's example plugin (tests/plugin/example_linear_plugin.cpp, docs/plugins.md),
// walked as a user would with lumen-cli --plugin-dir: the generated default config validates,
// training learns a separable problem (validation AUROC > 0.95 on data with a margin), a
// file that is not a checkpoint is refused by name, inference writes preds.csv in the
// workspace, and resuming a finished run continues from its last checkpoint.
#include "test_support.h"

#include "data/csv_records.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

namespace fs = std::filesystem;

namespace {

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

CliOutcome cli(QStringList args) {
    args.prepend(QStringLiteral(EXAMPLE_PLUGIN_DIR));
    args.prepend("--plugin-dir");
    return runLumenCli(args);
}

}  // namespace

class TestExamplePlugin : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    fs::path ws_;

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        ws_ = fs::path(dir_.path().toStdString()) / "ws";
        fs::create_directories(ws_);
        // Two features; label 1 when x1 + x2 > 0, points kept at least 0.3 away from the line.
        std::mt19937_64 rng(5);
        std::normal_distribution<double> g(0, 1);
        std::ofstream csv(ws_ / "data.csv");
        csv << "id,label,x1,x2\n";
        for (int i = 0; i < 400;) {
            const double a = g(rng), b = g(rng);
            if (std::abs(a + b) < 0.3) continue;
            csv << "r" << i++ << ',' << (a + b > 0 ? 1 : 0) << ',' << a << ',' << b << '\n';
        }
    }

    void defaultConfigTrainsAndInfers() {
        const auto init = cli({"config", "init", "example_linear", "--out", q(ws_ / "linear.yaml")});
        QVERIFY2(init.code == 0, init.err.c_str());
        const std::string yaml = readTextFile(ws_ / "linear.yaml");
        QVERIFY2(yaml.find("# CSV with id,label,<features...>") != std::string::npos, yaml.c_str());
        QVERIFY(yaml.find("task: example_linear") != std::string::npos);
        QCOMPARE(cli({"config", "init", "example_linear", "--out", q(ws_ / "linear.yaml")}).code,
                 2);  // never overwritten
        const auto check = cli({"config", "check", q(ws_ / "linear.yaml")});
        QVERIFY2(check.code == 0, check.err.c_str());

        const auto train = cli({"train", "--config", q(ws_ / "linear.yaml"), "--workspace", q(ws_)});
        QVERIFY2(train.code == 0, train.err.c_str());
        std::smatch m;
        QVERIFY2(std::regex_search(train.out, m,
                                   std::regex("run 1: trained 20 epochs \\(\\d+ steps\\), val auroc ([0-9.]+)")),
                 train.out.c_str());
        QVERIFY2(std::stod(m[1].str()) > 0.95, train.out.c_str());
        const fs::path run = ws_ / "runs" / "1_example_linear";
        QVERIFY(fs::exists(run / "checkpoints" / "last.pt"));
        QVERIFY(fs::exists(run / "example_linear_best.torchscript.pt"));

        // Inference: out dir relative to the workspace (the kit's rule), one row per input row.
        const auto infer = cli({"infer", "--config", q(ws_ / "linear.yaml"), "--workspace", q(ws_), "--checkpoint",
                                q(run / "checkpoints" / "last.pt"), "--out", q(ws_ / "preds")});
        QVERIFY2(infer.code == 0, infer.err.c_str());
        const auto rows = lumen::data::readCsvRecords(ws_ / "preds" / "preds.csv");
        QCOMPARE(rows.size(), std::size_t(401));
        QCOMPARE(rows[0].fields, (std::vector<std::string>{"id", "probability"}));

        // Resuming the finished run by id continues from its last checkpoint (nothing left to do).
        const auto resume = cli({"train", "--resume", "1", "--workspace", q(ws_)});
        QVERIFY2(resume.code == 0, resume.err.c_str());
    }

    void unreadableCheckpointIsRefused() {
        std::ofstream(ws_ / "not_a_checkpoint.pt") << "garbage";
        const auto bad = cli({"infer", "--config", q(ws_ / "linear.yaml"), "--workspace", q(ws_), "--checkpoint",
                              q(ws_ / "not_a_checkpoint.pt"), "--out", q(ws_ / "preds2")});
        QVERIFY(bad.code != 0);
        QVERIFY2(bad.err.find("not_a_checkpoint.pt") != std::string::npos, bad.err.c_str());
    }
};

QTEST_GUILESS_MAIN(TestExamplePlugin)
#include "test_example_plugin.moc"
