#include "plugin/task_runner.h"

#include "plugin/run_record.h"
#include "runs/run_lock.h"

#include "config/environment.h"
#include "jobs/job.h"
#include "runs/run_store.h"
#include "util/atomic_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>

namespace lumen::plugin {

namespace {

/// Forwards every event to the job that runs the task and records metrics and artifacts in
/// the run store. Metrics are buffered: a training loop reports several keys per step, and
/// one SQLite transaction per point would cost more than the step on small models.
class RecordingObserver : public jobs::JobObserver {
public:
    RecordingObserver(jobs::JobContext& outer, runs::RunStore& store, std::int64_t run)
        : outer_(outer), store_(store), run_(run) {}

    void onProgress(jobs::JobId, const jobs::Progress& p) override { outer_.progress(p.fraction, p.message); }
    void onLog(jobs::JobId, jobs::LogLevel level, const std::string& m) override { outer_.log(level, m); }
    void onMetric(jobs::JobId, const std::string& key, std::int64_t step, double value) override {
        outer_.metric(key, step, value);
        std::lock_guard lock(mutex_);
        const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        pending_.push_back({key, step, value, now});
        if (pending_.size() >= 256 || now - lastFlush_ > 1.0) flushLocked(now);
    }
    void onArtifact(jobs::JobId, const std::string& kind, const std::string& path) override {
        outer_.artifact(kind, path);
        store_.addArtifact(run_, kind, path);
    }
    void flush() {
        std::lock_guard lock(mutex_);
        flushLocked(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    }

private:
    void flushLocked(double now) {
        lastFlush_ = now;
        if (pending_.empty()) return;
        store_.logMetrics(run_, pending_);
        pending_.clear();
    }

    jobs::JobContext& outer_;
    runs::RunStore& store_;
    std::int64_t run_;
    std::mutex mutex_;
    std::vector<runs::MetricPoint> pending_;
    double lastFlush_ = 0;
};

void flattenNode(const YAML::Node& node, const std::string& prefix,
                 std::vector<std::pair<std::string, std::string>>& out) {
    if (node.IsMap()) {
        for (const auto& item : node)
            flattenNode(item.second,
                        prefix.empty() ? item.first.as<std::string>() : prefix + "." + item.first.as<std::string>(),
                        out);
    } else if (node.IsScalar()) {
        out.emplace_back(prefix, node.as<std::string>());
    } else if (node.IsSequence()) {
        YAML::Emitter emitter;
        emitter << YAML::Flow << node;
        out.emplace_back(prefix, emitter.c_str());
    } else if (node.IsNull() && !prefix.empty()) {
        out.emplace_back(prefix, "null");
    }
}

}  // namespace

std::string operationName(Operation op) { return op == Operation::Train ? "train" : "infer"; }

std::vector<std::pair<std::string, std::string>> flattenConfig(const config::Config& config) {
    std::vector<std::pair<std::string, std::string>> out;
    flattenNode(config.root(), {}, out);
    std::sort(out.begin(), out.end());
    return out;
}

namespace {

/// The run rank 0 records into: a new one (plugin::recordRun: folder and config.yaml made),
/// or the queued `existingRun` (its folder and config.yaml kept).
TaskRunResult openRun(Task& task, const TaskRunRequest& request, const runs::Workspace& workspace,
                      runs::RunStore& store) {
    TaskRunResult result;
    if (request.existingRun > 0) {
        const auto run = store.run(request.existingRun);
        if (!run)
            throw std::runtime_error("run " + std::to_string(request.existingRun) + ": no such run in " +
                                     workspace.root.string());
        if (run->task != task.id())
            throw std::runtime_error("run " + std::to_string(run->id) + " is a " + run->task + " run, not " +
                                     task.id());
        if (run->status != runs::RunStatus::Queued)
            throw std::runtime_error("run " + std::to_string(run->id) + " is " + runs::runStatusName(run->status) +
                                     ", not queued: it cannot be started again");
        result.runId = run->id;
        result.runDir = workspace.runDir(run->id, task.id());
        return result;
    }
    std::vector<std::pair<std::string, std::string>> extra;
    if (request.worldSize > 1) extra.emplace_back("dist.world_size", std::to_string(request.worldSize));
    const auto recorded = recordRun(store, workspace, task.id(), request, extra);
    result.runId = recorded.id;
    result.runDir = recorded.dir;
    return result;
}

}  // namespace

TaskRunResult runTask(Task& task, const TaskRunRequest& request, jobs::JobContext& job,
                      const std::function<void(std::int64_t, const std::filesystem::path&)>& onRunCreated) {
    const auto workspace = runs::Workspace::open(request.workspace);
    if (request.rank > 0) {  // ranks above 0 train their share and record nothing
        RunContext where{workspace.root, {}, nullptr, 0, request.rank, request.worldSize};
        return {0, {}, task.run(request.operation, request.config, where, job)};
    }
    runs::RunStore store(workspace.database());
    const std::string name = request.name.empty() ? task.id() + " " + operationName(request.operation) : request.name;

    TaskRunResult result = openRun(task, request, workspace, store);
    std::unique_ptr<runs::RunLock> lock;  // held until the run ends: see run_lock.h
    try {
        std::filesystem::create_directories(result.runDir);
        lock = std::make_unique<runs::RunLock>(result.runDir);
    } catch (const std::exception& e) {
        store.setStatus(result.runId, runs::RunStatus::Failed, e.what());
        throw;
    }
    if (onRunCreated) onRunCreated(result.runId, result.runDir);

    auto observer = std::make_shared<RecordingObserver>(job, store, result.runId);
    jobs::JobContext inner(job.id(), job.token(), observer);
    RunContext where{workspace.root, result.runDir, &store, result.runId, 0, request.worldSize};
    store.setStatus(result.runId, runs::RunStatus::Running);
    job.info("run " + std::to_string(result.runId) + " (" + name + ") in " + result.runDir.string());
    try {
        result.summary = task.run(request.operation, request.config, where, inner);
        observer->flush();
        store.setStatus(result.runId, runs::RunStatus::Finished, result.summary);
    } catch (const jobs::Cancelled&) {
        observer->flush();
        store.setStatus(result.runId, runs::RunStatus::Cancelled, "cancelled");
        throw;
    } catch (const std::exception& e) {
        observer->flush();
        store.setStatus(result.runId, runs::RunStatus::Failed, e.what());
        throw;
    }
    return result;
}

}  // namespace lumen::plugin
