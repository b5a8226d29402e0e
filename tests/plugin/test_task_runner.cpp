// Qt Test suite for core/plugin/task_runner: a task run is recorded in the workspace's run
// store (config, params, metrics, artifacts, final status) whatever way it ends.
#include "jobs/job_pool.h"
#include "plugin/plugin_loader.h"
#include "plugin/task_runner.h"
#include "runs/run_store.h"

#include "test_support.h"

#include <QTemporaryDir>

#include <fstream>
#include <sstream>

using namespace lumen;

class TestTaskRunner : public QObject {
    Q_OBJECT

    plugin::Registry registry_;
    std::unique_ptr<plugin::PluginLoader> loader_;

    plugin::TaskRunRequest request(const std::string& yaml, const QTemporaryDir& dir) {
        auto task = registry_.require("test_echo");
        plugin::TaskRunRequest r;
        r.config = config::makeConfig(config::parseYaml(yaml), task->schema());
        r.workspace = dir.path().toStdString();
        return r;
    }

    /// Runs the request as a job on a pool and returns the job's final state.
    jobs::JobState runAsJob(const plugin::TaskRunRequest& r, plugin::TaskRunResult& result, bool cancelSoon = false) {
        auto task = registry_.require("test_echo");
        jobs::JobPool pool(1);
        const auto id = pool.submit("train", "echo", [&](jobs::JobContext& job) {
            result = plugin::runTask(*task, r, job);
            return result.summary;
        });
        if (cancelSoon) {
            QTest::qWait(150);
            pool.cancel(id);
        }
        pool.waitAll();
        return pool.info(id)->state;
    }

private slots:
    void initTestCase() {
        loader_ = std::make_unique<plugin::PluginLoader>(registry_);
        loader_->load(GOOD_PLUGIN);
    }

    void recordsAFinishedRun() {
        QTemporaryDir dir;
        plugin::TaskRunResult result;
        const auto r = request("task: test_echo\nrows: 5\nmessage: hi\n", dir);
        QCOMPARE(runAsJob(r, result), jobs::JobState::Finished);
        QCOMPARE(result.summary, std::string("5 rows"));
        QVERIFY(std::filesystem::is_directory(result.runDir));
        QCOMPARE(result.runDir.filename().string(), std::to_string(result.runId) + "_test_echo");

        // config.yaml in the run folder is the effective config.
        std::ifstream in(result.runDir / "config.yaml");
        std::stringstream text;
        text << in.rdbuf();
        QCOMPARE(text.str(), r.config.toYaml());

        runs::RunStore store(runs::Workspace{dir.path().toStdString()}.database());
        const auto run = store.run(result.runId);
        QVERIFY(run.has_value());
        QCOMPARE(run->status, runs::RunStatus::Finished);
        QCOMPARE(run->task, std::string("test_echo"));
        QCOMPARE(run->name, std::string("test_echo train"));
        QCOMPARE(run->configHash, r.config.hash());
        QCOMPARE(run->outcome, std::string("5 rows"));

        const auto loss = store.metrics(result.runId, "loss");
        QCOMPARE(loss.size(), size_t(5));
        for (std::size_t i = 0; i < loss.size(); ++i) {
            QCOMPARE(loss[i].step, std::int64_t(i));
            QCOMPARE(loss[i].value, 1.0 / double(i + 1));
        }
        const auto params = store.params(result.runId);
        const auto has = [&](const std::string& k, const std::string& v) {
            return std::find(params.begin(), params.end(), std::make_pair(k, v)) != params.end();
        };
        QVERIFY(has("rows", "5"));
        QVERIFY(has("message", "hi"));
        QVERIFY(has("operation", "train"));
        QCOMPARE(store.artifacts(result.runId).size(), size_t(1));
    }

    void recordsAFailedRun() {
        QTemporaryDir dir;
        plugin::TaskRunResult result;
        QCOMPARE(runAsJob(request("task: test_echo\nrows: 4\nfail: true\n", dir), result), jobs::JobState::Failed);
        runs::RunStore store(runs::Workspace{dir.path().toStdString()}.database());
        const auto all = store.runs();
        QCOMPARE(all.size(), size_t(1));
        QCOMPARE(all[0].status, runs::RunStatus::Failed);
        QCOMPARE(all[0].outcome, std::string("echo task failed on purpose"));
        // The metric reported before the failure is not lost.
        QCOMPARE(store.metrics(all[0].id, "loss").size(), size_t(1));
    }

    void recordsACancelledRun() {
        QTemporaryDir dir;
        plugin::TaskRunResult result;
        QCOMPARE(runAsJob(request("task: test_echo\nrows: 1000\ndelay_ms: 20\n", dir), result, true),
                 jobs::JobState::Cancelled);
        runs::RunStore store(runs::Workspace{dir.path().toStdString()}.database());
        const auto all = store.runs();
        QCOMPARE(all.size(), size_t(1));
        QCOMPARE(all[0].status, runs::RunStatus::Cancelled);
        const auto loss = store.metrics(all[0].id, "loss");
        QVERIFY(!loss.empty());
        QVERIFY(loss.size() < 1000);
    }

    void flattensNestedConfigs() {
        const auto c = config::Config(config::parseYaml("b: 1\na:\n  y: [1, 2]\n  x: text\n"));
        const auto flat = plugin::flattenConfig(c);
        using P = std::pair<std::string, std::string>;
        QCOMPARE(flat, (std::vector<P>{{"a.x", "text"}, {"a.y", "[1, 2]"}, {"b", "1"}}));
    }
};

QTEST_GUILESS_MAIN(TestTaskRunner)
#include "test_task_runner.moc"
