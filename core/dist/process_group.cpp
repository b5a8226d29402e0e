#include "dist/process_group.h"

#include <torch/torch.h>
#ifdef LUMEN_HAVE_C10D
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

namespace lumen::dist {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kHeartbeat = std::chrono::milliseconds(400);
constexpr auto kSilence = std::chrono::milliseconds(2500);  ///< no heartbeat for this long: gone

std::string firstLine(const std::string& s) { return s.substr(0, std::min(s.find('\n'), std::size_t(300))); }

std::string rankList(const std::vector<int>& ranks) {
    std::string s;
    for (std::size_t i = 0; i < ranks.size(); ++i)
        s += (i ? (i + 1 == ranks.size() ? " and " : ", ") : "") + std::to_string(ranks[i]);
    return s;
}

std::unique_ptr<ProcessGroup>& globalGroup() {
    static std::unique_ptr<ProcessGroup> group;
    return group;
}

}  // namespace

#ifdef LUMEN_HAVE_C10D

bool haveGloo() { return true; }

struct ProcessGroup::Impl {
    WorldInfo world;
    std::chrono::milliseconds timeout;
    c10::intrusive_ptr<c10d::Store> store;  // the main thread's connection (prefixed)
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
    std::atomic<double> commSeconds{0};

    // The heartbeat: its own connection to the store (a TCPStore client is not thread-safe).
    std::mutex beatMutex;
    c10::intrusive_ptr<c10d::Store> beatStore;
    std::thread beat;
    std::atomic<bool> stopBeat{false};

    c10::intrusive_ptr<c10d::Store> connect(bool server) const {
        c10d::TCPStoreOptions o;
        o.port = static_cast<std::uint16_t>(world.masterPort);
        o.isServer = server;
        o.numWorkers = static_cast<std::size_t>(world.worldSize);
        o.waitWorkers = false;
        o.timeout = timeout;
        c10::intrusive_ptr<c10d::Store> s = c10::make_intrusive<c10d::TCPStore>(world.masterAddr, o);
        // torch.distributed's keys under torchrun's agent store live in one attempt's prefix.
        if (world.agentStore)
            s = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(world.restartCount), s);
        return c10::make_intrusive<c10d::PrefixStore>("lumen", s);
    }

    std::int64_t beats(int r) {
        std::lock_guard lock(beatMutex);
        return beatStore->add("hb/" + std::to_string(r), 0);
    }

    void startHeartbeat() {
        beatStore = connect(false);
        beat = std::thread([this] {
            const std::string key = "hb/" + std::to_string(world.rank);
            while (!stopBeat) {
                try {
                    std::lock_guard lock(beatMutex);
                    beatStore->add(key, 1);
                } catch (const std::exception&) {
                    return;  // the store is gone; the next collective says so
                }
                std::this_thread::sleep_for(kHeartbeat);
            }
        });
    }

    /// The ranks whose heartbeat stopped, found by watching the counters for kSilence. When
    /// the store itself is unreachable, its host (rank 0, unless torchrun's agent hosts it).
    std::vector<int> silentRanks() {
        std::vector<int> lost;
        try {
            std::vector<std::int64_t> before(static_cast<std::size_t>(world.worldSize));
            for (int r = 0; r < world.worldSize; ++r) before[static_cast<std::size_t>(r)] = beats(r);
            std::this_thread::sleep_for(kSilence);
            for (int r = 0; r < world.worldSize; ++r)
                if (r != world.rank && beats(r) == before[static_cast<std::size_t>(r)]) lost.push_back(r);
        } catch (const std::exception&) {
            if (!world.agentStore && world.rank != 0) lost = {0};
        }
        return lost;
    }

    [[noreturn]] void fail(const std::string& what, const std::string& error) {
        const auto lost = silentRanks();
        std::string m = "rank " + std::to_string(world.rank) + " of " + std::to_string(world.worldSize) + ": ";
        if (lost.empty())
            m += what + " failed (" + firstLine(error) + "); every other rank still answers its heartbeat";
        else
            m += (lost.size() == 1 ? "rank " : "ranks ") + rankList(lost) + (lost.size() == 1 ? " is" : " are") +
                 " gone (no heartbeat" +
                 (lost == std::vector<int>{0} && !world.agentStore ? ", its store is closed" : "") + ") — " + what +
                 " could not finish: " + firstLine(error);
        throw RankLostError(m, lost);
    }

    template <class F>
    void guarded(const std::string& what, F&& f) {
        const auto t0 = Clock::now();
        try {
            f();
        } catch (const RankLostError&) {
            throw;
        } catch (const std::exception& e) {
            fail(what, e.what());
        }
        commSeconds = commSeconds + std::chrono::duration<double>(Clock::now() - t0).count();
    }

    void waitAll(std::vector<c10::intrusive_ptr<c10d::Work>>& works) {
        for (auto& w : works) w->wait();
    }

    /// Every rank checks in under "arrived/<rank>"; a rank missing after the timeout is named.
    void rendezvous() {
        store->set("arrived/" + std::to_string(world.rank), std::vector<std::uint8_t>{1});
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            std::vector<int> missing;
            for (int r = 0; r < world.worldSize; ++r)
                if (!store->check({"arrived/" + std::to_string(r)})) missing.push_back(r);
            if (missing.empty()) return;
            if (Clock::now() > deadline)
                throw RankLostError("rank " + std::to_string(world.rank) + " of " + std::to_string(world.worldSize) +
                                        ": " + (missing.size() == 1 ? "rank " : "ranks ") + rankList(missing) +
                                        " did not join within " + std::to_string(timeout.count() / 1000) + " s",
                                    missing);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
};

ProcessGroup::ProcessGroup(const WorldInfo& world, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
    auto& d = *impl_;
    d.world = world;
    d.timeout = timeout;
    try {
        d.store = d.connect(!world.agentStore && world.rank == 0);
    } catch (const std::exception& e) {
        throw RankLostError("rank " + std::to_string(world.rank) + ": cannot reach the rendezvous store at " +
                                world.masterAddr + ":" + std::to_string(world.masterPort) + " (" + firstLine(e.what()) +
                                ")",
                            {0});
    }
    d.rendezvous();
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (world.masterAddr.rfind("127.", 0) == 0 || world.masterAddr == "localhost")
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 2;
    d.startHeartbeat();
    d.guarded("joining the Gloo group", [&] {
        d.group = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", d.store),
                                                              world.rank, world.worldSize, options);
    });
}

ProcessGroup::~ProcessGroup() {
    impl_->stopBeat = true;
    if (impl_->beat.joinable()) impl_->beat.join();
}

int ProcessGroup::rank() const { return impl_->world.rank; }
int ProcessGroup::size() const { return impl_->world.worldSize; }
const WorldInfo& ProcessGroup::world() const { return impl_->world; }
double ProcessGroup::communicationSeconds() const { return impl_->commSeconds; }

namespace {

/// Flat buffers of `tensors` (grouped by dtype and device, in order, up to `cap` bytes each)
/// and the way back into the tensors.
struct Buckets {
    struct Bucket {
        torch::Tensor flat;
        std::vector<torch::Tensor> members;
    };
    std::vector<Bucket> list;

    Buckets(const std::vector<torch::Tensor>& tensors, std::size_t cap) {
        std::map<std::pair<int, std::string>, std::size_t> open;  // (dtype, device) -> bucket
        std::vector<std::vector<torch::Tensor>> groups;
        std::vector<std::size_t> bytes;
        for (const auto& t : tensors) {
            const auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
            auto it = open.find(key);
            const std::size_t size = static_cast<std::size_t>(t.numel()) * t.element_size();
            if (it == open.end() || bytes[it->second] + size > cap) {
                groups.emplace_back();
                bytes.push_back(0);
                it = open.insert_or_assign(key, groups.size() - 1).first;
            }
            groups[it->second].push_back(t);
            bytes[it->second] += size;
        }
        for (auto& g : groups) {
            std::vector<torch::Tensor> flat;
            for (const auto& t : g) flat.push_back(t.detach().reshape({-1}));
            list.push_back({torch::cat(flat), std::move(g)});
        }
    }

    void scatterBack(double scale) {
        torch::NoGradGuard guard;
        for (auto& b : list) {
            if (scale != 1.0) b.flat.mul_(scale);
            std::int64_t offset = 0;
            for (auto& t : b.members) {
                t.copy_(b.flat.narrow(0, offset, t.numel()).view(t.sizes()));
                offset += t.numel();
            }
        }
    }
};

}  // namespace

namespace {

/// One collective per 64 MiB bucket of `tensors`, waited for together under the group's guard
/// (a lost rank is named), then copied back into the tensors.
template <typename Group, typename Collective>
void bucketed(Group& d, std::vector<torch::Tensor>& tensors, const std::string& what, Collective collective) {
    Buckets buckets(tensors, 64u << 20);
    d.guarded(what, [&] {
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        for (auto& b : buckets.list) {
            std::vector<at::Tensor> one{b.flat};
            works.push_back(collective(one));
        }
        d.waitAll(works);
    });
    buckets.scatterBack(1.0);
}

}  // namespace

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, const std::string& what) {
    auto& d = *impl_;
    bucketed(d, tensors, what, [&](std::vector<at::Tensor>& one) { return d.group->broadcast(one); });
}

void ProcessGroup::allreduceSum(std::vector<torch::Tensor>& tensors, const std::string& what) {
    auto& d = *impl_;
    bucketed(d, tensors, what, [&](std::vector<at::Tensor>& one) { return d.group->allreduce(one); });
}

std::vector<double> ProcessGroup::sum(const std::vector<double>& values, const std::string& what) {
    if (values.empty()) return {};
    auto t = torch::tensor(values, torch::kDouble);
    std::vector<torch::Tensor> one{t};
    allreduceSum(one, what);
    const auto c = one[0].contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

void ProcessGroup::averageGradients(const std::vector<torch::Tensor>& params, const std::string& what,
                                    std::size_t bucketBytes) {
    auto& d = *impl_;
    std::vector<torch::Tensor> trainable;
    for (const auto& p : params)
        if (p.requires_grad()) trainable.push_back(p);
    // Which gradients exist somewhere: a parameter no rank used keeps no gradient.
    std::vector<double> present(trainable.size());
    for (std::size_t i = 0; i < trainable.size(); ++i) present[i] = trainable[i].grad().defined() ? 1.0 : 0.0;
    present = sum(present, what + " (which gradients exist)");
    std::vector<torch::Tensor> grads;
    // Reverse order, as the backward produces them (the last layers' gradients first).
    for (std::size_t k = trainable.size(); k-- > 0;) {
        if (present[k] == 0) continue;
        auto& p = trainable[k];
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        grads.push_back(p.grad());
    }
    Buckets buckets(grads, bucketBytes);
    d.guarded(what, [&] {
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        for (auto& b : buckets.list) {
            std::vector<at::Tensor> one{b.flat};
            works.push_back(d.group->allreduce(one));
        }
        d.waitAll(works);
    });
    buckets.scatterBack(1.0 / d.world.worldSize);
}

std::string ProcessGroup::shareFromRoot(const std::string& key, const std::string& value) {
    auto& d = *impl_;
    const std::string k = "share/" + key;
    if (d.world.rank == 0) {
        d.store->set(k, std::vector<std::uint8_t>(value.begin(), value.end()));
        return value;
    }
    std::int64_t lastBeat = -1;
    auto lastChange = Clock::now();
    for (;;) {
        try {
            if (d.store->check({k})) {
                const auto bytes = d.store->get(k);
                return std::string(bytes.begin(), bytes.end());
            }
            const auto b = d.beats(0);
            if (b != lastBeat) {
                lastBeat = b;
                lastChange = Clock::now();
            } else if (Clock::now() - lastChange > kSilence) {
                throw std::runtime_error("rank 0's heartbeat stopped");
            }
        } catch (const std::exception& e) {
            throw RankLostError("rank " + std::to_string(d.world.rank) + " of " + std::to_string(d.world.worldSize) +
                                    ": rank 0 is gone (no heartbeat) while waiting for its " + key + " (" +
                                    firstLine(e.what()) + ")",
                                {0});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

void ProcessGroup::barrier(const std::string& what) { sum({1.0}, what); }

#else  // no c10d in this LibTorch

bool haveGloo() { return false; }
struct ProcessGroup::Impl {
    WorldInfo world;
};
ProcessGroup::ProcessGroup(const WorldInfo& world, std::chrono::milliseconds) {
    throw WorldError("this LibTorch has no c10d/Gloo: cannot run as " + world.describe() +
                     " (build against a LibTorch with USE_DISTRIBUTED, see docs/building.md)");
}
ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const { return 0; }
int ProcessGroup::size() const { return 1; }
const WorldInfo& ProcessGroup::world() const { return impl_->world; }
double ProcessGroup::communicationSeconds() const { return 0; }
void ProcessGroup::broadcast(std::vector<torch::Tensor>&, const std::string&) {}
void ProcessGroup::allreduceSum(std::vector<torch::Tensor>&, const std::string&) {}
std::vector<double> ProcessGroup::sum(const std::vector<double>& v, const std::string&) { return v; }
void ProcessGroup::averageGradients(const std::vector<torch::Tensor>&, const std::string&, std::size_t) {}
std::string ProcessGroup::shareFromRoot(const std::string&, const std::string& v) { return v; }
void ProcessGroup::barrier(const std::string&) {}

#endif

ProcessGroup* processGroup() { return globalGroup().get(); }

void joinProcessWorld(const WorldInfo& world, std::chrono::milliseconds timeout) {
    if (!world.distributed() || globalGroup()) return;
    globalGroup() = std::make_unique<ProcessGroup>(world, timeout);
}

void leaveProcessWorld(bool clean) {
    auto& g = globalGroup();
    if (!g) return;
    if (clean) {
        try {
            g->barrier("the final barrier");
        } catch (const std::exception&) {
            // leaving anyway: the error was reported by whoever hit it first
        }
    }
    g.reset();
}

}  // namespace lumen::dist

extern "C" __attribute__((visibility("default"))) void lumen_ml_join_world(const lumen::dist::WorldInfo* world,
                                                                           long long timeoutMs) {
    lumen::dist::joinProcessWorld(*world, std::chrono::milliseconds(timeoutMs));
}

extern "C" __attribute__((visibility("default"))) void lumen_ml_leave_world(bool clean) {
    lumen::dist::leaveProcessWorld(clean);
}
