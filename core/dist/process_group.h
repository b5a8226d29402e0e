#pragma once
// The communication of a data-parallel run (docs/distributed.md), on LibTorch's own c10d:
// a TCPStore rendezvous (hosted by rank 0, or by torchrun's agent), a ProcessGroupGloo (CPU
// and CUDA tensors; NCCL where the LibTorch was built with it and the tensors are on CUDA),
// and a heartbeat through the store so that a rank that dies or hangs is named in the error
// the others raise instead of leaving them waiting. Torch-only header (lumen_ml, plugins).

#include "dist/world.h"

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::dist {

/// A collective or a store wait failed because another rank is gone (or never came).
class RankLostError : public std::runtime_error {
public:
    RankLostError(const std::string& message, std::vector<int> lost)
        : std::runtime_error(message), lostRanks(std::move(lost)) {}
    std::vector<int> lostRanks;  ///< empty when no rank could be named
};

/// True when this LibTorch was built with c10d's Gloo group (Debian's is; see docs/building.md).
bool haveGloo();

class ProcessGroup {
public:
    /// Rendezvous of `world.worldSize` ranks within `timeout` (also the limit of one
    /// collective). Throws RankLostError naming the ranks that did not come, WorldError when
    /// this LibTorch has no distributed support.
    ProcessGroup(const WorldInfo& world, std::chrono::milliseconds timeout);
    ~ProcessGroup();
    ProcessGroup(const ProcessGroup&) = delete;
    ProcessGroup& operator=(const ProcessGroup&) = delete;

    int rank() const;
    int size() const;
    const WorldInfo& world() const;

    /// Rank 0's values into every rank's tensors (in place). `what` names the step in errors.
    void broadcast(std::vector<torch::Tensor>& tensors, const std::string& what);
    /// Element-wise sums over the ranks, in place.
    void allreduceSum(std::vector<torch::Tensor>& tensors, const std::string& what);
    /// Sums of doubles over the ranks (losses, sample counts, flags).
    std::vector<double> sum(const std::vector<double>& values, const std::string& what);
    /// Averages the gradients of `params` over the ranks in buckets of about `bucketBytes`,
    /// all buckets in flight at once (frozen parameters are skipped). A gradient missing on
    /// one rank but present on another counts as zeros there; one missing on every rank stays
    /// missing, so the optimizer skips that parameter as it would in one process.
    void averageGradients(const std::vector<torch::Tensor>& params, const std::string& what,
                          std::size_t bucketBytes = 25u << 20);
    /// `value` as rank 0 gave it, on every rank (through the store: no time limit while rank 0
    /// is alive — its validation may take long).
    std::string shareFromRoot(const std::string& key, const std::string& value);
    void barrier(const std::string& what);

    /// Seconds spent in collectives since the group was made (benchmarks).
    double communicationSeconds() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The process's group while this process is one rank of several (nullptr otherwise).
ProcessGroup* processGroup();
/// Joins the world described by `world` for the rest of the process (a no-op for one rank).
void joinProcessWorld(const WorldInfo& world, std::chrono::milliseconds timeout);
/// Leaves it (after a final barrier when `clean`), so that rank 0's store outlives the others.
void leaveProcessWorld(bool clean);

}  // namespace lumen::dist
