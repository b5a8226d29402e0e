// Qt Test suite for core/jobs: the worker pool, cancellation, failure and event order.
#include "jobs/job_pool.h"
#include "util/parallel.h"

#include "test_support.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

using namespace lumen::jobs;
using namespace std::chrono_literals;

namespace {

// Records every event as "kind" strings, per job, under a lock.
class RecordingObserver : public JobObserver {
public:
    void onStarted(JobId id) override { add(id, "started"); }
    void onProgress(JobId id, const Progress& p) override {
        std::lock_guard lock(mutex);
        events[id].push_back("progress");
        progress[id].push_back(p);
    }
    void onMetric(JobId id, const std::string& key, std::int64_t step, double value) override {
        add(id, "metric:" + key + "@" + std::to_string(step) + "=" + std::to_string(int(value)));
    }
    void onLog(JobId id, LogLevel, const std::string& m) override { add(id, "log:" + m); }
    void onArtifact(JobId id, const std::string& kind, const std::string&) override { add(id, "artifact:" + kind); }
    void onFinished(JobId id, const std::string& r) override { add(id, "finished:" + r); }
    void onFailed(JobId id, const std::string& e) override { add(id, "failed:" + e); }
    void onCancelled(JobId id) override { add(id, "cancelled"); }

    std::vector<std::string> of(JobId id) {
        std::lock_guard lock(mutex);
        return events[id];
    }
    int terminalCount(JobId id) {
        int n = 0;
        for (const auto& e : of(id))
            if (e.rfind("finished", 0) == 0 || e.rfind("failed", 0) == 0 || e == "cancelled") ++n;
        return n;
    }

    std::mutex mutex;
    std::map<JobId, std::vector<std::string>> events;
    std::map<JobId, std::vector<Progress>> progress;

private:
    void add(JobId id, std::string e) {
        std::lock_guard lock(mutex);
        events[id].push_back(std::move(e));
    }
};

}  // namespace

class TestJobs : public QObject {
    Q_OBJECT
private slots:
    // util::parallelFor: every item once, progress only on the calling thread, the first
    // error rethrown (and no item started after it on any thread), a stop request honoured.
    void parallelForRunsEveryItemOnceAndStopsOnError() {
        std::vector<std::atomic<int>> seen(1000);
        std::set<std::thread::id> progressThreads;
        std::size_t lastDone = 0;
        lumen::util::ParallelOptions o;
        o.progress = [&](std::size_t done) {
            progressThreads.insert(std::this_thread::get_id());
            QVERIFY(done > lastDone);
            lastDone = done;
        };
        lumen::util::parallelFor(
            seen.size(), 4, [&](std::size_t i) { ++seen[i]; }, o);
        for (const auto& s : seen) QCOMPARE(s.load(), 1);
        QCOMPARE(progressThreads.size(), std::size_t(1));
        QVERIFY(*progressThreads.begin() == std::this_thread::get_id());

        std::atomic<int> started{0};
        const auto failing = [&](std::size_t i) {
            ++started;
            if (i == 10) throw std::runtime_error("item 10 failed");
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        };
        QCOMPARE(errorOf<std::runtime_error>([&] { lumen::util::parallelFor(10000, 3, failing); }),
                 std::string("item 10 failed"));
        QVERIFY2(started.load() < 10000, std::to_string(started.load()).c_str());

        std::atomic<int> ran{0};
        lumen::util::ParallelOptions stopAt;
        stopAt.stopRequested = [&] { return ran.load() >= 5; };
        lumen::util::parallelFor(
            1000, 1, [&](std::size_t) { ++ran; }, stopAt);
        QCOMPARE(ran.load(), 5);
        QCOMPARE(lumen::util::resolveThreads(3), 3u);
        QVERIFY(lumen::util::resolveThreads(0) >= 1u);
    }

    void eventsArriveInOrder() {
        auto observer = std::make_shared<RecordingObserver>();
        JobPool pool(2);
        const JobId id = pool.submit(
            "test", "ordered",
            [](JobContext& ctx) {
                ctx.log(LogLevel::Info, "begin");
                for (int i = 1; i <= 3; ++i) {
                    ctx.metric("loss", i, 10 * i);
                    ctx.progress(i / 3.0, "step");
                }
                ctx.artifact("checkpoint", "/tmp/x.pt");
                return std::string("done");
            },
            observer);
        pool.waitAll();
        const std::vector<std::string> expected = {
            "started",          "log:begin", "metric:loss@1=10",    "progress",     "metric:loss@2=20", "progress",
            "metric:loss@3=30", "progress",  "artifact:checkpoint", "finished:done"};
        QCOMPARE(observer->of(id), expected);
        QCOMPARE(pool.info(id)->state, JobState::Finished);
        QCOMPARE(pool.info(id)->outcome, std::string("done"));
        QCOMPARE(pool.info(id)->kind, std::string("test"));
    }

    void progressCarriesEta() {
        auto observer = std::make_shared<RecordingObserver>();
        JobPool pool(1);
        const JobId id = pool.submit(
            "test", "eta",
            [](JobContext& ctx) {
                ctx.progress(0.0, "starting");
                std::this_thread::sleep_for(50ms);
                ctx.progress(0.5, "half");
                ctx.progress(2.0, "clamped");
                return std::string();
            },
            observer);
        pool.waitAll();
        const auto& p = observer->progress[id];
        QCOMPARE(p.size(), size_t(3));
        QVERIFY(!p[0].etaSeconds.has_value());  // nothing done yet: no estimate
        QVERIFY(p[1].etaSeconds.has_value());
        // Half done after >= 50 ms: about as long again remains.
        QVERIFY2(*p[1].etaSeconds >= 0.045 && *p[1].etaSeconds < 5.0, qPrintable(QString::number(*p[1].etaSeconds)));
        QCOMPARE(p[1].message, std::string("half"));
        QCOMPARE(p[2].fraction, 1.0);
        QCOMPARE(*p[2].etaSeconds, 0.0);
    }

    void cancelMidwayStopsTheWork() {
        auto observer = std::make_shared<RecordingObserver>();
        JobPool pool(1);
        std::atomic<int> iterations{0};
        std::atomic<bool> started{false};
        const JobId id = pool.submit(
            "test", "long",
            [&](JobContext& ctx) {
                started = true;
                for (int i = 0; i < 100000; ++i) {
                    ctx.throwIfCancelled();
                    ++iterations;
                    std::this_thread::sleep_for(1ms);
                }
                return std::string("ran to the end");
            },
            observer);
        while (!started) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(20ms);
        QVERIFY(pool.cancel(id));
        QVERIFY(pool.wait(id, 5000ms));
        QCOMPARE(pool.info(id)->state, JobState::Cancelled);
        const int atCancel = iterations.load();
        QVERIFY(atCancel > 0 && atCancel < 100000);
        std::this_thread::sleep_for(20ms);
        QCOMPARE(iterations.load(), atCancel);  // really stopped
        QCOMPARE(observer->of(id).back(), std::string("cancelled"));
        QCOMPARE(observer->terminalCount(id), 1);
        QVERIFY(!pool.cancel(id));  // already ended
    }

    void returningAfterCancelIsCancelled() {
        JobPool pool(1);
        std::atomic<bool> go{false};
        const JobId id = pool.submit("test", "cooperative", [&](JobContext& ctx) {
            while (!ctx.isCancelled()) std::this_thread::sleep_for(1ms);
            go = true;
            return std::string("saved a checkpoint, then stopped");
        });
        std::this_thread::sleep_for(10ms);
        pool.cancel(id);
        QVERIFY(pool.wait(id, 5000ms));
        QVERIFY(go);
        QCOMPARE(pool.info(id)->state, JobState::Cancelled);
        QCOMPARE(pool.info(id)->outcome, std::string("saved a checkpoint, then stopped"));
    }

    void queuedJobCancelledWithoutRunning() {
        auto observer = std::make_shared<RecordingObserver>();
        JobPool pool(1);
        std::atomic<bool> release{false};
        std::atomic<bool> secondRan{false};
        const JobId first = pool.submit("test", "blocker", [&](JobContext&) {
            while (!release) std::this_thread::sleep_for(1ms);
            return std::string();
        });
        const JobId second = pool.submit(
            "test", "queued",
            [&](JobContext&) {
                secondRan = true;
                return std::string();
            },
            observer);
        QCOMPARE(pool.info(second)->state, JobState::Queued);
        QVERIFY(pool.cancel(second));
        QCOMPARE(pool.info(second)->state, JobState::Cancelled);
        release = true;
        pool.waitAll();
        QVERIFY(!secondRan);
        QCOMPARE(observer->of(second), std::vector<std::string>{"cancelled"});
        QCOMPARE(pool.info(first)->state, JobState::Finished);
    }

    void exceptionBecomesFailed() {
        auto observer = std::make_shared<RecordingObserver>();
        JobPool pool(1);
        const JobId id = pool.submit(
            "test", "boom",
            [](JobContext&) -> std::string { throw std::runtime_error("config.yaml: lr: expected a number"); },
            observer);
        const JobId odd = pool.submit(
            "test", "odd", [](JobContext&) -> std::string { throw 42; }, observer);
        pool.waitAll();
        QCOMPARE(pool.info(id)->state, JobState::Failed);
        QCOMPARE(observer->of(id).back(), std::string("failed:config.yaml: lr: expected a number"));
        QCOMPARE(pool.info(odd)->state, JobState::Failed);
        QVERIFY(pool.info(odd)->outcome.find("unknown error") != std::string::npos);
        // The pool still works after failures.
        const JobId after = pool.submit("test", "after", [](JobContext&) { return std::string("ok"); });
        pool.waitAll();
        QCOMPARE(pool.info(after)->state, JobState::Finished);
    }

    void throwingObserverDoesNotCrash() {
        struct Throwing : JobObserver {
            void onProgress(JobId, const Progress&) override { throw std::runtime_error("ui gone"); }
        };
        JobPool pool(1);
        const JobId id = pool.submit(
            "test", "t",
            [](JobContext& ctx) {
                ctx.progress(0.5);
                return std::string("fine");
            },
            std::make_shared<Throwing>());
        pool.waitAll();
        QCOMPARE(pool.info(id)->state, JobState::Finished);
    }

    void fiftyConcurrentJobs() {
        auto observer = std::make_shared<RecordingObserver>();
        JobPool pool(4);
        QCOMPARE(pool.threadCount(), 4u);
        std::atomic<int> running{0}, maxRunning{0}, sum{0};
        std::mutex threadsMutex;
        std::set<std::thread::id> threads;
        std::vector<JobId> ids;
        for (int i = 0; i < 50; ++i) {
            ids.push_back(pool.submit(
                "test", "job" + std::to_string(i),
                [&, i](JobContext& ctx) {
                    const int now = ++running;
                    int prev = maxRunning.load();
                    while (now > prev && !maxRunning.compare_exchange_weak(prev, now)) {
                    }
                    {
                        std::lock_guard lock(threadsMutex);
                        threads.insert(std::this_thread::get_id());
                    }
                    std::this_thread::sleep_for(2ms);
                    ctx.progress(1.0);
                    sum += i;
                    --running;
                    return std::to_string(i);
                },
                observer));
        }
        pool.waitAll();
        QCOMPARE(sum.load(), 49 * 50 / 2);
        QVERIFY(maxRunning.load() <= 4);
        QVERIFY(maxRunning.load() >= 2);  // they really ran side by side
        QVERIFY(threads.size() >= 2);
        std::set<JobId> unique(ids.begin(), ids.end());
        QCOMPARE(unique.size(), size_t(50));
        for (size_t i = 0; i < ids.size(); ++i) {
            QCOMPARE(pool.info(ids[i])->state, JobState::Finished);
            QCOMPARE(pool.info(ids[i])->outcome, std::to_string(i));
            QCOMPARE(observer->terminalCount(ids[i]), 1);
            QCOMPARE(observer->of(ids[i]).front(), std::string("started"));
        }
        QCOMPARE(pool.jobs().size(), size_t(50));
    }

    void destructionWithJobsRunning() {
        auto observer = std::make_shared<RecordingObserver>();
        std::vector<JobId> ids;
        std::atomic<int> started{0};
        {
            JobPool pool(2);
            for (int i = 0; i < 6; ++i)
                ids.push_back(pool.submit(
                    "test", "endless",
                    [&](JobContext& ctx) {
                        ++started;
                        for (;;) {
                            ctx.throwIfCancelled();
                            std::this_thread::sleep_for(1ms);
                        }
                        return std::string();
                    },
                    observer));
            while (started < 2) std::this_thread::sleep_for(1ms);
        }  // the destructor cancels and joins; reaching the next line is the test
        for (JobId id : ids) {
            QCOMPARE(observer->terminalCount(id), 1);
            QCOMPARE(observer->of(id).back(), std::string("cancelled"));
        }
        QCOMPARE(started.load(), 2);  // the four queued jobs never ran
    }

    void unknownIdsAreHandled() {
        JobPool pool(1);
        QVERIFY(!pool.cancel(12345));
        QVERIFY(!pool.info(12345).has_value());
        QVERIFY(!pool.wait(12345, 10ms));
    }
};

QTEST_GUILESS_MAIN(TestJobs)
#include "test_jobs.moc"
