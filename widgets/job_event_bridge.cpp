#include "job_event_bridge.h"

#include <QElapsedTimer>
#include <QMetaObject>

#include <deque>
#include <unordered_map>
#include <functional>
#include <vector>

#include <mutex>

namespace lumen::widgets {

// The bridge pointer is guarded so that a worker never posts to a bridge being destroyed;
// events already posted to a deleted bridge are discarded by Qt.
//
// Coalescing: a job reporting thousands of metrics per second must not post thousands of
// events per second to the GUI thread (each a heap allocation and an event-loop pass, and
// the queue starves timers and painting). Events go into one FIFO; only the first event into
// an empty FIFO posts a drain. The drain delivers events in order, in time slices of
// kSliceMs, re-posting itself when more are left, so the event loop gets a turn between
// slices however fast the workers report (docs/gui.md, "Stall measurement").
struct JobEventBridge::Shared {
    std::mutex mutex;
    JobEventBridge* bridge = nullptr;
    std::deque<std::function<void(JobEventBridge*)>> pending;
    bool drainPosted = false;

    // Progress still waiting for delivery, per job: a newer report replaces it in place (only
    // the latest fraction matters, and a progress bar redrawn 20000 times costs real time).
    struct PendingProgress {
        double fraction = 0;
        QString message;
        double eta = -1;
    };
    std::unordered_map<jobs::JobId, std::shared_ptr<PendingProgress>> progressSlots;

    void postProgress(jobs::JobId id, double fraction, QString message, double eta) {
        std::lock_guard lock(mutex);
        if (!bridge) return;
        if (auto it = progressSlots.find(id); it != progressSlots.end()) {
            it->second->fraction = fraction;
            if (!message.isEmpty()) it->second->message = std::move(message);
            it->second->eta = eta;
            return;
        }
        auto slot = std::make_shared<PendingProgress>(PendingProgress{fraction, std::move(message), eta});
        progressSlots.emplace(id, slot);
        enqueueLocked([this, id, slot](JobEventBridge* b) {
            PendingProgress p;
            {
                std::lock_guard relock(mutex);
                p = *slot;
                progressSlots.erase(id);
            }
            emit b->progress(id, p.fraction, p.message, p.eta);
        });
    }

    void post(std::function<void(JobEventBridge*)> emitter) {
        std::lock_guard lock(mutex);
        if (!bridge) return;
        enqueueLocked(std::move(emitter));
    }

    void enqueueLocked(std::function<void(JobEventBridge*)> emitter) {
        pending.push_back(std::move(emitter));
        if (drainPosted) return;
        drainPosted = true;
        JobEventBridge* target = bridge;
        QMetaObject::invokeMethod(
            target, [target] { target->drain(); }, Qt::QueuedConnection);
    }
};

class JobEventBridge::Observer : public jobs::JobObserver {
public:
    explicit Observer(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

    void onStarted(jobs::JobId id) override {
        shared_->post([id](JobEventBridge* b) { emit b->started(id); });
    }
    void onProgress(jobs::JobId id, const jobs::Progress& p) override {
        shared_->postProgress(id, p.fraction, QString::fromStdString(p.message), p.etaSeconds ? *p.etaSeconds : -1.0);
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
        shared_->post([id, k = QString::fromStdString(kind), p = QString::fromStdString(path)](JobEventBridge* b) {
            emit b->artifact(id, k, p);
        });
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

JobEventBridge::JobEventBridge(QObject* parent) : QObject(parent), shared_(std::make_shared<Shared>()) {
    shared_->bridge = this;
    observer_ = std::make_shared<Observer>(shared_);
}

void JobEventBridge::drain() {
    constexpr int kSliceMs = 5;
    constexpr std::size_t kChunk = 32;
    QElapsedTimer clock;
    clock.start();
    std::vector<std::function<void(JobEventBridge*)>> chunk;
    chunk.reserve(kChunk);
    for (;;) {
        bool more = false;
        {
            std::lock_guard lock(shared_->mutex);
            while (!shared_->pending.empty() && chunk.size() < kChunk) {
                chunk.push_back(std::move(shared_->pending.front()));
                shared_->pending.pop_front();
            }
            more = !shared_->pending.empty();
            if (!more) shared_->drainPosted = false;  // the next event posts a new drain
        }
        for (auto& emitter : chunk) emitter(this);
        chunk.clear();
        if (!more) return;
        if (clock.elapsed() >= kSliceMs) {
            // drainPosted stays true: this re-post is the one pending drain.
            QMetaObject::invokeMethod(
                this, [this] { drain(); }, Qt::QueuedConnection);
            return;
        }
    }
}

JobEventBridge::~JobEventBridge() {
    std::lock_guard lock(shared_->mutex);
    shared_->bridge = nullptr;
}

}  // namespace lumen::widgets
