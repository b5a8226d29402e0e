// core/sweep and lumen-cli sweep (docs/sweeps.md).
#include "test_support.h"

#include "metrics/python_reference.h"

#include "runs/run_store.h"
#include "sweep/sweep.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <thread>

using namespace lumen;
namespace fs = std::filesystem;

namespace {

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

std::map<std::string, std::string> asMap(const sweep::Overrides& o) { return {o.begin(), o.end()}; }

}  // namespace

class TestSweep : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    fs::path d_, ws_;

    fs::path sweepFile(const std::string& name, const std::string& body) { return writeTextFile(dir_, name, body); }
    void expectError(const std::string& body, const std::string& key, const std::string& what) {
        const fs::path f = sweepFile("bad.yaml", body);
        try {
            sweep::loadSweep(f);
        } catch (const sweep::SweepError& e) {
            const std::string m = e.what();
            QVERIFY2(m.find("bad.yaml") != std::string::npos && m.find(key) != std::string::npos &&
                         m.find(what) != std::string::npos,
                     m.c_str());
            return;
        }
        QFAIL(("no error for " + key).c_str());
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        d_ = dir_.path().toStdString();
        writeTextFile(dir_, "base.yaml", "task: roi_consistency\nlr: 1.0e-3\n");
    }

    void seedRangesAsWritten() {
        // The contrastive seed's ranges, as the issue writes them.
        const fs::path f = sweepFile("seed.yaml", R"(base: base.yaml
method: random
metric: {name: val.recall@1_i2t, goal: maximize}
count: 400
seed: 7
parameters:
  loss_weights.contrastive: {min: 1.5, max: 3.0}
  temperature: {min: 0.07, max: 0.15, distribution: log_uniform}
  batch_size: {min: 8, max: 10, distribution: int_uniform}
  optimizer: {values: [adamw, sgd]}
)");
        const auto spec = sweep::loadSweep(f);
        QCOMPARE(spec.name, std::string("seed"));
        QVERIFY(spec.maximize);
        const auto trials = sweep::drawTrials(spec);
        QCOMPARE(trials.size(), std::size_t(400));
        double logSum = 0;
        std::set<std::string> sizes, optimizers;
        for (const auto& t : trials) {
            auto m = asMap(t.params);
            const double w = std::stod(m["loss_weights.contrastive"]), temp = std::stod(m["temperature"]);
            QVERIFY(w >= 1.5 && w <= 3.0);
            QVERIFY(temp >= 0.07 && temp <= 0.15);
            logSum += std::log(temp);
            sizes.insert(m["batch_size"]);
            optimizers.insert(m["optimizer"]);
        }
        // log-uniform: the mean of log(T) is the middle of [log 0.07, log 0.15] (sd of the mean ~0.011).
        const double middle = (std::log(0.07) + std::log(0.15)) / 2;
        QVERIFY2(std::abs(logSum / 400 - middle) < 0.05, std::to_string(logSum / 400 - middle).c_str());
        QCOMPARE(sizes, (std::set<std::string>{"8", "9", "10"}));  // both ends drawn
        QCOMPARE(optimizers, (std::set<std::string>{"adamw", "sgd"}));
        // Seeded: the same file draws the same trials; a longer sweep keeps the first ones.
        QCOMPARE(sweep::drawTrials(spec)[17].params, trials[17].params);
        auto longer = spec;
        longer.count = 500;
        QCOMPARE(sweep::drawTrials(longer)[399].params, trials[399].params);
        auto other = spec;
        other.seed = 8;
        QVERIFY(sweep::drawTrials(other)[0].params != trials[0].params);
        QVERIFY(sweep::fingerprint(other) != sweep::fingerprint(spec));
        QCOMPARE(sweep::fingerprint(longer), sweep::fingerprint(spec));  // more trials: same sweep
    }

    void gridOrderAndCount() {
        const fs::path f = sweepFile("grid.yaml", R"(base: base.yaml
method: grid
metric: {name: val.loss, goal: minimize}
parameters:
  lr: {values: [1.0e-3, 1.0e-4]}
  model.variant: {values: [atto, femto, pico]}
  epochs: {value: 2}
)");
        auto spec = sweep::loadSweep(f);
        QVERIFY(!spec.maximize);
        auto trials = sweep::drawTrials(spec);
        QCOMPARE(trials.size(), std::size_t(6));
        QCOMPARE(asMap(trials[0].params)["model.variant"], std::string("atto"));
        QCOMPARE(asMap(trials[1].params)["model.variant"], std::string("femto"));  // the last key varies fastest
        QCOMPARE(asMap(trials[3].params)["lr"], std::string("1.0e-4"));            // values as written
        QCOMPARE(asMap(trials[5].params)["epochs"], std::string("2"));
        spec.count = 4;
        QCOMPARE(sweep::drawTrials(spec).size(), std::size_t(4));
    }

    void badFilesNameTheKey() {
        const std::string head = "base: base.yaml\nmetric: {name: val.loss}\n";
        expectError(head + "method: grid\nparameters:\n  lr: {min: 0.1, max: 1}\n", "parameters.lr",
                    "a grid needs values");
        expectError(head + "method: random\ncount: 3\nparameters:\n  lr: {min: 0.1, max: 1, distribution: normal}\n",
                    "parameters.lr.distribution", "log_uniform");
        expectError(head + "method: random\ncount: 3\nparameters:\n  lr: {min: 0, max: 1, distribution: log_uniform}\n",
                    "parameters.lr.min", "min > 0");
        expectError(head + "method: random\nparameters:\n  lr: {values: [1]}\n", "count", "needs count");
        expectError(head + "method: grid\nparameters:\n  lr: {min: 2, max: 1}\n", "parameters.lr", "above max");
        expectError("base: nothere.yaml\nmethod: grid\nmetric: {name: val.loss}\nparameters:\n  lr: {value: 1}\n",
                    "base", "no such file");
        expectError(head + "method: grid\nparameters:\n  lr: {values: [1]}\nmetod: grid\n", "metod", "unknown key");
        expectError(head + "method: bayes\nparameters:\n  lr: {values: [1]}\n", "method", "grid or random");
        expectError(
            head + "method: grid\nparameters:\n  lr: {values: [1]}\nearly_terminate: {type: hyperband, eta: 1}\n",
            "early_terminate.eta", "at least 2");
    }

    void overridesMakeTypedNestedKeys() {
        const YAML::Node root = YAML::Load("task: x\nloss_weights: {captioning: 0.3}\nname: a\n");
        const YAML::Node out = sweep::applyOverrides(
            root, {{"loss_weights.contrastive", "2.5"}, {"model.sizes", "[1, 2]"}, {"name", "b"}, {"a.b.c", "true"}});
        QCOMPARE(out["loss_weights"]["contrastive"].as<double>(), 2.5);
        QCOMPARE(out["loss_weights"]["captioning"].as<double>(), 0.3);  // siblings kept
        QVERIFY(out["model"]["sizes"].IsSequence());
        QCOMPARE(out["name"].as<std::string>(), std::string("b"));
        QVERIFY(out["a"]["b"]["c"].as<bool>());
        QCOMPARE(root["name"].as<std::string>(), std::string("a"));  // the input is not changed
        QVERIFY_THROWS_EXCEPTION(sweep::SweepError, sweep::applyOverrides(root, {{"name.x", "1"}}));
    }

    void successiveHalving() {
        sweep::EarlyStop rule{true, 1, 2};
        // Rung 1: with 3 others there, a trial must be in the best max(1, 4 / 2) = 2.
        const std::vector<std::vector<double>> others = {{0.9, 0.95}, {0.8}, {0.7, 0.72}};
        QCOMPARE(sweep::earlyStopEpoch({0.6}, others, rule, true), std::optional<int>(1));
        QCOMPARE(sweep::earlyStopEpoch({0.85}, others, rule, true), std::nullopt);
        QCOMPARE(sweep::earlyStopEpoch({0.85}, others, rule, false), std::optional<int>(1));  // minimising
        // Too few at a rung: nobody is stopped there.
        QCOMPARE(sweep::earlyStopEpoch({0.1}, {}, rule, true), std::nullopt);
        // Rung 2 (epoch 2): 0.85 then 0.5 is the worst of the two that reached it.
        QCOMPARE(sweep::earlyStopEpoch({0.85, 0.5}, others, rule, true), std::optional<int>(2));
        QCOMPARE(sweep::earlyStopEpoch({0.6}, others, sweep::EarlyStop{}, true), std::nullopt);  // disabled
        QCOMPARE(sweep::bestValue({0.2, NAN, 0.7, 0.5}, true), std::optional<double>(0.7));
        QCOMPARE(sweep::bestValue({0.2, NAN, 0.7, 0.5}, false), std::optional<double>(0.2));
    }

    void stateRoundTrip() {
        sweep::SweepState s;
        s.name = "n";
        s.fingerprint = "f";
        s.metric = "val.loss";
        s.maximize = false;
        sweep::TrialRecord a, b;
        a.trial = {0, {{"lr", "0.001"}}};
        a.status = sweep::TrialStatus::Finished;
        a.run = 4;
        a.value = 0.25;
        a.epochs = 3;
        b.trial = {1, {{"lr", "0.0001"}}};
        b.status = sweep::TrialStatus::Stopped;
        b.run = 5;
        b.value = 0.5;
        b.outcome = "stopped";
        s.trials = {a, b};
        const fs::path f = d_ / "state" / "state.json";
        sweep::saveState(f, s);
        const auto back = sweep::loadState(f);
        QCOMPARE(back.trials.size(), std::size_t(2));
        QCOMPARE(back.trials[1].status, sweep::TrialStatus::Stopped);
        QCOMPARE(back.trials[0].trial.params, a.trial.params);
        QCOMPARE(back.best()->run, std::int64_t(4));  // minimising: 0.25 beats 0.5
        writeTextFile(dir_, "state/broken.json", "{\"name\": 1}");
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, sweep::loadState(d_ / "state" / "broken.json"));
    }

    void importanceEqualsScipy() {
        sweep::SweepState s;
        s.maximize = true;
        std::mt19937_64 rng(5);
        std::normal_distribution<double> noise(0, 0.3);
        std::vector<double> lr, width, value;
        std::vector<std::string> optimizer;
        for (std::size_t i = 0; i < 24; ++i) {
            sweep::TrialRecord t;
            const double l = std::pow(10.0, -4 + 2.0 * static_cast<double>(i % 7) / 6.0);
            const double w = static_cast<double>((i * 5) % 4);  // ties
            const std::string o = i % 3 == 0 ? "sgd" : "adamw";
            const double v = -std::log10(l) * 0.5 + (o == "sgd" ? -0.4 : 0.0) + noise(rng);
            t.trial = {i,
                       {{"lr", std::to_string(l)},
                        {"width", std::to_string(static_cast<int>(w))},
                        {"optimizer", o},
                        {"fixed", "1"}}};
            t.status = i == 23 ? sweep::TrialStatus::Failed : sweep::TrialStatus::Finished;  // a failed one is left out
            t.value = v;
            s.trials.push_back(t);
            if (i == 23) continue;
            lr.push_back(std::stod(std::to_string(l)));
            width.push_back(w);
            value.push_back(v);
            optimizer.push_back(o);
        }
        const auto imp = sweep::parameterImportance(s);
        QCOMPARE(imp.size(), std::size_t(4));
        const auto ref =
            testing::runPythonReference(R"(
from scipy.stats import spearmanr
y = np.array(inp["value"])
result["lr"] = abs(spearmanr(inp["lr"], y).correlation)
result["width"] = abs(spearmanr(inp["width"], y).correlation)
g = np.array(inp["optimizer"])
between = sum((g == k).sum() * (y[g == k].mean() - y.mean()) ** 2 for k in set(inp["optimizer"]))
result["optimizer"] = math.sqrt(between / ((y - y.mean()) ** 2).sum())
)",
                                        {{"lr", lr}, {"width", width}, {"value", value}, {"optimizer", optimizer}});
        for (const auto& i : imp) {
            if (i.key == "fixed") {
                QVERIFY(std::isnan(i.score));  // no spread
                continue;
            }
            QCOMPARE(i.trials, std::size_t(23));
            QCOMPARE(i.numeric, i.key != "optimizer");
            const double expected = ref[i.key].get<double>();
            QVERIFY2(std::abs(i.score - expected) < 1e-12,
                     (i.key + ": " + std::to_string(i.score) + " vs scipy " + std::to_string(expected)).c_str());
        }
    }

    void sweepRunsTrialsAsRunsAndResumes();
};

void TestSweep::sweepRunsTrialsAsRunsAndResumes() {
    ws_ = d_ / "ws";
    const auto demo = runLumenCli({"demo", "--out", q(ws_)});
    QVERIFY2(demo.code == 0, demo.err.c_str());
    std::string base = readTextFile(fs::path(LUMEN_SOURCE_DIR) / "resources/configs/roi_consistency_demo.yaml");
    base = std::regex_replace(base, std::regex("image_size: \\d+"), "image_size: 32");
    base = std::regex_replace(base, std::regex("num_workers: \\d+"), "num_workers: 1");
    base = std::regex_replace(base, std::regex("epochs: \\d+"), "epochs: 2");
    base = std::regex_replace(base, std::regex("  val_fraction: [0-9.]+"),
                              "  val_fraction: 0.2\n  max_images: 16\n  max_val_images: 8");
    base = std::regex_replace(base, std::regex("  nih_dir: chest_xray"), "  nih_dir: " + (ws_ / "chest_xray").string());
    writeTextFile(dir_, "roi_base.yaml", base);
    const fs::path sweepYaml = sweepFile("lrs.yaml", R"(base: roi_base.yaml
method: grid
metric: {name: val.loss, goal: minimize}
parameters:
  lr: {values: [1.0e-3, 1.0e-4]}
  warmup_steps: {value: 2}
)");
    // A bad value is caught before anything runs, naming the trial and the key.
    const fs::path bad = sweepFile("bad_lr.yaml", R"(base: roi_base.yaml
method: grid
metric: {name: val.loss, goal: minimize}
parameters:
  lr: {values: [1.0e-3, high]}
)");
    const auto refused = runLumenCli({"sweep", "--config", q(bad), "--workspace", q(ws_)});
    QVERIFY2(refused.code == 1, refused.err.c_str());
    QVERIFY2(refused.err.find("trial 1") != std::string::npos && refused.err.find("lr") != std::string::npos,
             refused.err.c_str());
    QVERIFY(!fs::exists(ws_ / "sweeps" / "bad_lr"));

    // Start, and interrupt once the first trial has finished (1 at a time).
    QProcess p;
    p.start(QStringLiteral(LUMEN_BINARY_DIR "/bin/lumen-cli"),
            {"sweep", "--config", q(sweepYaml), "--workspace", q(ws_), "--parallel", "1", "--threads", "2"});
    QVERIFY(p.waitForStarted());
    const fs::path state = ws_ / "sweeps" / "lrs" / "state.json";
    auto finishedTrials = [&] {
        if (!fs::exists(state)) return 0;
        int n = 0;
        for (const auto& t : sweep::loadState(state).trials) n += t.status == sweep::TrialStatus::Finished ? 1 : 0;
        return n;
    };
    for (int i = 0; i < 2400 && finishedTrials() < 1 && p.state() == QProcess::Running; ++i) QTest::qWait(100);
    QCOMPARE(finishedTrials(), 1);
    ::kill(static_cast<pid_t>(p.processId()), SIGINT);
    QVERIFY(p.waitForFinished(120000));
    const std::string firstErr = p.readAllStandardError().toStdString();
    QCOMPARE(p.exitCode(), 2);
    QVERIFY2(firstErr.find("run the same command again to resume") != std::string::npos, firstErr.c_str());
    const auto interrupted = sweep::loadState(state);
    const std::int64_t firstRun = interrupted.trials[0].run;
    QCOMPARE(interrupted.trials[0].status, sweep::TrialStatus::Finished);
    QVERIFY(interrupted.trials[1].status == sweep::TrialStatus::Cancelled ||
            interrupted.trials[1].status == sweep::TrialStatus::Pending);

    // Resume, 2 at a time (1 thread each): trial 0 is not run again.
    const auto resumed = runLumenCli(
        {"sweep", "--config", q(sweepYaml), "--workspace", q(ws_), "--parallel", "2", "--threads", "2"}, 600000);
    QVERIFY2(resumed.code == 0, (resumed.out + resumed.err).c_str());
    QVERIFY2(resumed.err.find("trial 0 started") == std::string::npos, resumed.err.c_str());
    QVERIFY2(resumed.err.find("trial 1 started") != std::string::npos, resumed.err.c_str());
    QVERIFY2(resumed.err.find("1 threads") != std::string::npos, resumed.err.c_str());  // 2 threads / 2 trials
    const auto done = sweep::loadState(state);
    QCOMPARE(done.trials[0].run, firstRun);
    runs::RunStore store(ws_ / "lumen.db");
    for (const auto& t : done.trials) {
        QCOMPARE(t.status, sweep::TrialStatus::Finished);
        QCOMPARE(t.epochs, 2);
        // Linked to the sweep, with its parameters applied, and its value the best epoch's.
        std::map<std::string, std::string> params;
        for (const auto& [k, v] : store.params(t.run)) params[k] = v;
        QCOMPARE(params["sweep.name"], std::string("lrs"));
        QCOMPARE(params["sweep.trial"], std::to_string(t.trial.index));
        QCOMPARE(std::stod(params["lr"]), std::stod(asMap(t.trial.params)["lr"]));
        QCOMPARE(params["warmup_steps"], std::string("2"));
        double best = 1e30;
        for (const auto& m : store.metrics(t.run, "val.loss")) best = std::min(best, m.value);
        QCOMPARE(*t.value, best);
    }
    QVERIFY2(resumed.out.find("best: trial") != std::string::npos, resumed.out.c_str());
    const std::string bestYaml = readTextFile(ws_ / "sweeps" / "lrs" / "best.yaml");
    QVERIFY2(bestYaml.find("warmup_steps: 2") != std::string::npos, bestYaml.c_str());
    QVERIFY(fs::exists(ws_ / "sweeps" / "lrs" / "trial-1.log"));

    // Everything done: running it again starts nothing; a changed sweep is refused.
    const auto again = runLumenCli({"sweep", "--config", q(sweepYaml), "--workspace", q(ws_)});
    QVERIFY2(again.code == 0, again.err.c_str());
    QVERIFY2(again.err.find("started") == std::string::npos, again.err.c_str());
    sweepFile("lrs.yaml", readTextFile(sweepYaml) + "seed: 3\n");
    const auto changed = runLumenCli({"sweep", "--config", q(sweepYaml), "--workspace", q(ws_)});
    QCOMPARE(changed.code, 2);
    QVERIFY2(changed.err.find("changed since") != std::string::npos, changed.err.c_str());
}

QTEST_GUILESS_MAIN(TestSweep)
#include "test_sweep.moc"
