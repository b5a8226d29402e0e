// Qt Test suite for core/runs: the SQLite run store, concurrent writers and a reader.
#include "jobs/job_pool.h"
#include "runs/run_files.h"
#include "runs/run_lock.h"
#include "runs/run_store.h"

#include "test_support.h"

#include <QTemporaryDir>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <fstream>
#include <memory>
#include <thread>

using namespace lumen::runs;

class TestRunStore : public QObject {
    Q_OBJECT
private slots:
    void createsSchemaInWalMode() {
        QTemporaryDir dir;
        const Workspace ws = Workspace::open(dir.filePath("ws").toStdString());
        QVERIFY(Workspace::isWorkspace(ws.root));
        QVERIFY(std::filesystem::is_directory(ws.runsDir()));
        RunStore store(ws.database());
        QCOMPARE(store.schemaVersion(), 1);
        QVERIFY(store.runs().empty());
        const auto id = store.createRun("test", "first", "task: test\n", "abc", "{}");
        store.logMetric(id, "loss", 1, 0.5);
        // WAL mode leaves a -wal file next to the database while a connection is open.
        QVERIFY(std::filesystem::exists(ws.database().string() + "-wal"));
        QVERIFY(!Workspace::isWorkspace(dir.filePath("nothing").toStdString()));
    }

    void runLifecycle() {
        QTemporaryDir dir;
        RunStore store(dir.filePath("lumen.db").toStdString());
        const auto a =
            store.createRun("roi_consistency", "tiny", "task: roi_consistency\n", "hash-a", R"({"cpu":"x"})");
        const auto b = store.createRun("audit", "", "", "", "{}");
        QVERIFY(b > a);
        auto runs = store.runs();
        QCOMPARE(runs.size(), size_t(2));
        QCOMPARE(runs[0].id, b);  // newest first
        QCOMPARE(runs[1].task, std::string("roi_consistency"));
        QCOMPARE(runs[1].status, RunStatus::Queued);
        QCOMPARE(runs[1].configHash, std::string("hash-a"));
        QCOMPARE(runs[1].environmentJson, std::string(R"({"cpu":"x"})"));
        QVERIFY(runs[1].createdAtMs > 1600000000000);
        QCOMPARE(runs[1].finishedAtMs, std::int64_t(0));

        store.setStatus(a, RunStatus::Running);
        QCOMPARE(store.run(a)->finishedAtMs, std::int64_t(0));
        store.setStatus(a, RunStatus::Failed, "data.csv: row 7: missing column 'labels'");
        const auto r = *store.run(a);
        QCOMPARE(r.status, RunStatus::Failed);
        QCOMPARE(r.outcome, std::string("data.csv: row 7: missing column 'labels'"));
        QVERIFY(r.finishedAtMs >= r.createdAtMs);
        QVERIFY(!store.run(9999).has_value());
        QVERIFY_THROWS_EXCEPTION(RunStoreError, store.setStatus(9999, RunStatus::Finished));

        store.setParams(a, {{"lr", "0.0001"}, {"batch_size", "8"}});
        store.setParams(a, {{"lr", "0.0002"}});  // replaces
        const auto params = store.params(a);
        QCOMPARE(params.size(), size_t(2));
        QCOMPARE(params[0].first, std::string("batch_size"));
        QCOMPARE(params[1].second, std::string("0.0002"));

        store.logMetrics(a, {{"loss", 2, 0.4}, {"loss", 1, 0.9}, {"lr", 1, 1e-4}});
        const auto loss = store.metrics(a, "loss");
        QCOMPARE(loss.size(), size_t(2));
        QCOMPARE(loss[0].step, std::int64_t(1));  // ordered by step
        QCOMPARE(loss[0].value, 0.9);
        QVERIFY(loss[0].wallTime > 1.6e9);
        QCOMPARE(store.metricKeys(a), (std::vector<std::string>{"loss", "lr"}));
        QVERIFY(store.metrics(b).empty());

        store.addArtifact(a, "checkpoint", "/ws/runs/1/roi_epoch001.pt");
        store.addArtifact(a, "predictions", "/ws/runs/1/preds.csv");
        const auto arts = store.artifacts(a);
        QCOMPARE(arts.size(), size_t(2));
        QCOMPARE(arts[0].kind, std::string("checkpoint"));
    }

    void metricSummariesPerKey() {
        QTemporaryDir dir;
        RunStore store(dir.filePath("lumen.db").toStdString());
        const auto run = store.createRun("t", "n", "", "", "");
        const auto other = store.createRun("t", "m", "", "", "");
        // Out of step order on purpose: `last` is the value at the largest step.
        store.logMetrics(run,
                         {{"loss", 2, 0.5, 0}, {"loss", 0, 2.0, 0}, {"loss", 1, 0.25, 0}, {"val.auroc", 9, 0.75, 0}});
        store.logMetric(other, "loss", 0, -7);
        const auto s = store.metricSummaries(run);
        QCOMPARE(s.size(), std::size_t(2));
        QCOMPARE(s[0].key, std::string("loss"));
        QCOMPARE(s[0].count, std::int64_t(3));
        QCOMPARE(s[0].min, 0.25);
        QCOMPARE(s[0].max, 2.0);
        QCOMPARE(s[0].lastStep, std::int64_t(2));
        QCOMPARE(s[0].last, 0.5);
        QCOMPARE(s[1].key, std::string("val.auroc"));
        QCOMPARE(s[1].last, 0.75);
        QVERIFY(store.metricSummaries(12345).empty());
    }

    // A diverged run: NaN goes in (SQLite keeps it as NULL) and comes back as NaN, never 0;
    // infinities round-trip as they are.
    void nanMetricsRoundTrip() {
        QTemporaryDir dir;
        RunStore store(dir.filePath("lumen.db").toStdString());
        const auto run = store.createRun("t", "diverged", "", "", "");
        const double nan = std::numeric_limits<double>::quiet_NaN();
        const double inf = std::numeric_limits<double>::infinity();
        store.logMetrics(run, {{"loss", 1, 0.5, 0}, {"loss", 2, nan, 0}, {"grad_norm", 2, inf, 0}});
        store.logMetric(run, "val.loss", 3, nan);
        const auto loss = store.metrics(run, "loss");
        QCOMPARE(loss.size(), std::size_t(2));
        QCOMPARE(loss[0].value, 0.5);
        QVERIFY2(std::isnan(loss[1].value), std::to_string(loss[1].value).c_str());
        QVERIFY(loss[1].wallTime > 0);
        for (const auto& p : store.metrics(run))
            if (p.key == "grad_norm") QCOMPARE(p.value, inf);
        const auto s = store.metricSummaries(run);
        QCOMPARE(s.size(), std::size_t(3));
        QCOMPARE(s[1].key, std::string("loss"));
        QCOMPARE(s[1].min, 0.5);  // NaN is no minimum
        QVERIFY(std::isnan(s[1].last));
        QCOMPARE(s[2].key, std::string("val.loss"));
        QVERIFY(std::isnan(s[2].min) && std::isnan(s[2].max) && std::isnan(s[2].last));
    }

    void reopenKeepsData() {
        QTemporaryDir dir;
        const std::string file = dir.filePath("lumen.db").toStdString();
        std::int64_t id;
        {
            RunStore store(file);
            id = store.createRun("t", "n", "", "", "");
            store.logMetric(id, "acc", 3, 0.75);
        }
        RunStore again(file);
        QCOMPARE(again.runs().size(), size_t(1));
        QCOMPARE(again.metrics(id, "acc").at(0).value, 0.75);
    }

    void concurrentWritersAndAGuiReader() {
        QTemporaryDir dir;
        const std::string file = dir.filePath("lumen.db").toStdString();
        RunStore gui(file);  // the GUI thread's own connection
        constexpr int kJobs = 6, kSteps = 150;
        std::vector<std::int64_t> runIds;
        for (int j = 0; j < kJobs; ++j) runIds.push_back(gui.createRun("t", "job", "", "", ""));

        lumen::jobs::JobPool pool(3);
        for (int j = 0; j < kJobs; ++j) {
            pool.submit("train", "writer", [&, j](lumen::jobs::JobContext&) {
                RunStore store(file);  // each job writes through its own connection
                store.setStatus(runIds[j], RunStatus::Running);
                for (int s = 0; s < kSteps; ++s) {
                    if (s % 3 == 0) store.logMetrics(runIds[j], {{"loss", s, 1.0 / (s + 1)}, {"lr", s, 1e-4}});
                    else store.logMetric(runIds[j], "loss", s, 1.0 / (s + 1));
                }
                store.addArtifact(runIds[j], "checkpoint", "last.pt");
                store.setStatus(runIds[j], RunStatus::Finished, "ok");
                return std::string("ok");
            });
        }
        // Read while they write: reads never fail and counts only grow.
        int reads = 0;
        size_t lastSeen = 0;
        bool done = false;
        while (!done) {
            done = true;
            size_t seen = 0;
            for (auto id : runIds) seen += gui.metrics(id, "loss").size();
            QVERIFY(seen >= lastSeen);
            lastSeen = seen;
            for (const auto& r : gui.runs()) done = done && r.status == RunStatus::Finished;
            ++reads;
        }
        pool.waitAll();
        for (const auto& info : pool.jobs())
            QVERIFY2(info.state == lumen::jobs::JobState::Finished, info.outcome.c_str());
        QVERIFY(reads >= 1);
        for (auto id : runIds) {
            QCOMPARE(gui.metrics(id, "loss").size(), size_t(kSteps));
            QCOMPARE(gui.metrics(id, "lr").size(), size_t(kSteps / 3));
            QCOMPARE(gui.artifacts(id).size(), size_t(1));
            QCOMPARE(gui.run(id)->outcome, std::string("ok"));
        }
    }

    void sharedStoreFromManyThreads() {
        QTemporaryDir dir;
        RunStore store(dir.filePath("lumen.db").toStdString());
        const auto id = store.createRun("t", "", "", "", "");
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int s = 0; s < 50; ++s) store.logMetric(id, "k" + std::to_string(t), s, s);
            });
        for (auto& th : threads) th.join();
        QCOMPARE(store.metrics(id).size(), size_t(200));
    }

    // A `running` run nobody holds the lock of was interrupted (its process died); one whose
    // lock is held is running; terminal runs are never touched.
    void interruptedRuns() {
        QTemporaryDir dir;
        const auto ws = lumen::runs::Workspace::open(dir.path().toStdString());
        lumen::runs::RunStore store(ws.database());
        using lumen::runs::RunStatus;
        const auto alive = store.createRun("t", "alive", "", "", "{}");
        const auto dead = store.createRun("t", "dead", "", "", "{}");
        const auto legacy = store.createRun("t", "no lock file", "", "", "{}");
        const auto done = store.createRun("t", "done", "", "", "{}");
        for (auto id : {alive, dead}) std::filesystem::create_directories(ws.runDir(id, "t"));
        auto held = std::make_unique<lumen::runs::RunLock>(ws.runDir(alive, "t"));
        { lumen::runs::RunLock released(ws.runDir(dead, "t")); }
        for (auto id : {alive, dead, legacy}) store.setStatus(id, RunStatus::Running);
        store.setStatus(done, RunStatus::Finished, "ok");
        QVERIFY(lumen::runs::RunLock::isHeld(ws.runDir(alive, "t")));
        QVERIFY(!lumen::runs::RunLock::isHeld(ws.runDir(dead, "t")));
        // A second holder is refused, naming the lock file.
        QVERIFY(errorOf<lumen::runs::RunStoreError>([&] {
                    lumen::runs::RunLock again(ws.runDir(alive, "t"));
                }).find("run.lock: the run is held by another process") != std::string::npos);

        const auto marked = lumen::runs::markInterruptedRuns(store, ws);
        QCOMPARE(marked, (std::vector<std::int64_t>{legacy, dead}));  // newest first
        QCOMPARE(store.run(alive)->status, RunStatus::Running);
        QCOMPARE(store.run(dead)->status, RunStatus::Interrupted);
        QVERIFY(store.run(dead)->finishedAtMs > 0);
        QCOMPARE(store.run(done)->status, RunStatus::Finished);
        QCOMPARE(store.run(done)->outcome, std::string("ok"));
        // Only a running run is marked: a run that finished meanwhile keeps its status.
        QVERIFY(!store.markInterrupted(done, "late"));
        QCOMPARE(lumen::runs::runStatusFromName("interrupted"), RunStatus::Interrupted);
        held.reset();
        QCOMPARE(lumen::runs::markInterruptedRuns(store, ws), (std::vector<std::int64_t>{alive}));
    }

    // Delete: refused while the run's lock is held; then rows and folder go, other runs stay.
    // Export: config + the kept artifact files, never over an existing export.
    void deleteAndExportRuns() {
        QTemporaryDir dir;
        const auto ws = Workspace::open(dir.path().toStdString());
        RunStore store(ws.database());
        const auto keep = store.createRun("t", "keep", "seed: 1\n", "h1", "{}");
        const auto gone = store.createRun("t", "gone", "seed: 2\n", "h2", "{}");
        const auto folder = ws.runDir(gone, "t");
        std::filesystem::create_directories(folder / "checkpoints");
        std::ofstream(folder / "model.torchscript.pt") << "model bytes";
        std::ofstream(folder / "report.json") << "{\"auroc\": 0.9}";
        std::ofstream(folder / "checkpoints" / "last.pt") << "checkpoint";
        store.addArtifact(gone, "torchscript", (folder / "model.torchscript.pt").string());
        store.addArtifact(gone, "report", (folder / "report.json").string());
        store.addArtifact(gone, "roi_vis", folder.string());  // a folder: not exported
        store.logMetric(gone, "loss", 1, 0.5);
        store.setParams(gone, {{"lr", "0.001"}});

        const auto exported = exportRun(store, gone, dir.filePath("export").toStdString());
        const auto out = std::filesystem::path(dir.filePath("export").toStdString()) / "run_2_t";
        QCOMPARE(exported.size(), std::size_t(3));
        QCOMPARE(readTextFile(out / "config.yaml"), std::string("seed: 2\n"));
        QCOMPARE(readTextFile(out / "model.torchscript.pt"), std::string("model bytes"));
        QCOMPARE(readTextFile(out / "report.json"), std::string("{\"auroc\": 0.9}"));
        QVERIFY(errorOf<RunStoreError>([&] {
                    exportRun(store, gone, dir.filePath("export").toStdString());
                }).find("is never overwritten") != std::string::npos);
        QCOMPARE(readTextFile(out / "config.yaml"), std::string("seed: 2\n"));

        {
            RunLock running(folder);
            QVERIFY(errorOf<RunStoreError>([&] { deleteRun(store, ws, gone); }).find("is running") !=
                    std::string::npos);
            QVERIFY(store.run(gone) && std::filesystem::exists(folder / "checkpoints" / "last.pt"));
        }
        deleteRun(store, ws, gone);
        QVERIFY(!store.run(gone));
        QVERIFY(store.metrics(gone).empty() && store.params(gone).empty() && store.artifacts(gone).empty());
        QVERIFY(!std::filesystem::exists(folder));
        QVERIFY(namesIn(ws.runsDir()).empty());  // nothing left aside
        QCOMPARE(store.run(keep)->configYaml, std::string("seed: 1\n"));
        QVERIFY(errorOf<RunStoreError>([&] { deleteRun(store, ws, gone); }).find("no run 2") != std::string::npos);
        deleteRun(store, ws, keep);  // a run without a folder
        QVERIFY(store.runs().empty());
    }

    // PRAGMA data_version moves when another connection commits, not on our own writes; the
    // rows after a given one are exactly the new points.
    void dataVersionAndMetricsAfter() {
        QTemporaryDir dir;
        const auto file = std::filesystem::path(dir.path().toStdString()) / "lumen.db";
        lumen::runs::RunStore gui(file), cli(file);
        const auto run = cli.createRun("t", "r", "", "", "{}");
        const auto v0 = gui.dataVersion();
        gui.logMetric(run, "loss", 0, 1.0);
        QCOMPARE(gui.dataVersion(), v0);
        cli.logMetrics(run, {{"loss", 1, 0.5, 0}, {"lr", 1, 0.1, 0}});
        QVERIFY(gui.dataVersion() != v0);
        std::int64_t last = 0;
        QCOMPARE(gui.metricsAfter(run, 0, last).size(), std::size_t(3));
        const auto mark = last;
        QVERIFY(gui.metricsAfter(run, last, last).empty());
        QCOMPARE(last, mark);
        cli.logMetric(run, "loss", 2, 0.25);
        const auto fresh = gui.metricsAfter(run, last, last);
        QCOMPARE(fresh.size(), std::size_t(1));
        QCOMPARE(fresh[0].step, std::int64_t(2));
        QCOMPARE(fresh[0].value, 0.25);
    }

    void unusableFileNamesIt() {
        QTemporaryDir dir;
        const std::string file = dir.filePath("not-a-db").toStdString();
        std::ofstream(file) << std::string(4096, 'x');
        try {
            RunStore store(file);
            QFAIL("opened garbage as a database");
        } catch (const RunStoreError& e) {
            QVERIFY2(std::string(e.what()).find(file) != std::string::npos, e.what());
        }
        try {
            RunStore store("/nonexistent/dir/lumen.db");
            QFAIL("opened an impossible path");
        } catch (const RunStoreError& e) {
            QVERIFY(std::string(e.what()).find("/nonexistent/dir/lumen.db") != std::string::npos);
        }
    }
};

QTEST_GUILESS_MAIN(TestRunStore)
#include "test_run_store.moc"
