#include "job_event_bridge.h"

#include <QMetaObject>

#include <mutex>

namespace lumen::widgets {

// The bridge pointer is guarded so that a worker never posts to a bridge being destroyed;
// events already posted to a deleted bridge are discarded by Qt.
struct JobEventBridge::Shared {
    std::mutex mutex;
    JobEventBridge* bridge = nullptr;

    template <typename F>
    void post(F&& emitter) {
        std::lock_guard lock(mutex);
        if (!bridge) return;
        JobEventBridge* target = bridge;
        QMetaObject::invokeMethod(
            target, [target, emitter = std::forward<F>(emitter)] { emitter(target); },
            Qt::QueuedConnection);
    }
};

class JobEventBridge::Observer : public jobs::JobObserver {
public:
    explicit Observer(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

    void onStarted(jobs::JobId id) override {
        shared_->post([id](JobEventBridge* b) { emit b->started(id); });
    }
    void onProgress(jobs::JobId id, const jobs::Progress& p) override {
        const double eta = p.etaSeconds ? *p.etaSeconds : -1.0;
        shared_->post([id, f = p.fraction, m = QString::fromStdString(p.message), eta](JobEventBridge* b) {
            emit b->progress(id, f, m, eta);
        });
    }
    void onMetric(jobs::JobId id, const std::string& key, std::int64_t step, double value) override {
        shared_->post([id, k = QString::fromStdString(key), step, value](JobEventBridge* b) {
            emit b->metric(id, k, step, value);
        });
    }
    void onLog(jobs::JobId id, jobs::LogLevel level, const std::string& message) override {
        shared_->post([id, l = int(level), m = QString::fromStdString(message)](JobEventBridge* b) {
            emit b->logLine(id, l, m);
        });
    }
    void onArtifact(jobs::JobId id, const std::string& kind, const std::string& path) override {
        shared_->post([id, k = QString::fromStdString(kind), p = QString::fromStdString(path)](
                          JobEventBridge* b) { emit b->artifact(id, k, p); });
    }
    void onFinished(jobs::JobId id, const std::string& result) override {
        shared_->post([id, r = QString::fromStdString(result)](JobEventBridge* b) {
            emit b->finished(id, r);
            emit b->ended(id);
        });
    }
    void onFailed(jobs::JobId id, const std::string& error) override {
        shared_->post([id, e = QString::fromStdString(error)](JobEventBridge* b) {
            emit b->failed(id, e);
            emit b->ended(id);
        });
    }
    void onCancelled(jobs::JobId id) override {
        shared_->post([id](JobEventBridge* b) {
            emit b->cancelled(id);
            emit b->ended(id);
        });
    }

private:
    std::shared_ptr<Shared> shared_;
};

JobEventBridge::JobEventBridge(QObject* parent)
    : QObject(parent), shared_(std::make_shared<Shared>()) {
    shared_->bridge = this;
    observer_ = std::make_shared<Observer>(shared_);
}

JobEventBridge::~JobEventBridge() {
    std::lock_guard lock(shared_->mutex);
    shared_->bridge = nullptr;
}

}  // namespace lumen::widgets
