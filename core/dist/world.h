#pragma once
// Who this process is in a data-parallel job (docs/distributed.md): its rank, the number of
// ranks, the rank and count on this machine, and where the rendezvous store is. Read from the
// environment a launcher set — torchrun (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE), Slurm's srun (SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE / SLURM_TASKS_PER_NODE, the first host of
// SLURM_JOB_NODELIST) or `lumen-cli train --nproc N` (torchrun's variables). Torch-free.

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>

namespace lumen::dist {

struct WorldInfo {
    int rank = 0, worldSize = 1;
    int localRank = 0, localWorldSize = 1;
    std::string masterAddr = "127.0.0.1";
    int masterPort = 29500;
    /// torchrun's elastic agent hosts the store: every rank connects as a client and keys
    /// live under "/worker/attempt_<restartCount>" (as torch.distributed does).
    bool agentStore = false;
    int restartCount = 0;
    std::string launcher = "single";  ///< "single", "torchrun" (or --nproc), "slurm"
    bool distributed() const { return worldSize > 1; }
    /// "rank 1 of 2 (local 1 of 2), store 127.0.0.1:29500, launched by torchrun"
    std::string describe() const;
};

/// A variable a launcher set that cannot be used (names the variable and its value).
class WorldError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using Getenv = std::function<const char*(const char*)>;

/// The world from the environment (`getenv` by default). torchrun's variables win over
/// Slurm's (torchrun inside an allocation); a Slurm job step with one task, or nothing set, is
/// a single process. Throws WorldError for a non-numeric or out-of-range value, naming it.
WorldInfo worldFromEnvironment(const Getenv& getenv = {});

/// The first host name of a Slurm host list: "node[07-09,12],gpu1" -> "node07",
/// "a-1,b" -> "a-1". Throws WorldError for an empty or malformed list.
std::string firstSlurmHost(const std::string& nodelist);

/// Joins the world (a no-op for one process): the c10d group of liblumen_ml.so, loaded on
/// demand, which the trainer then uses (dist/process_group.h). Throws what joining throws
/// (dist::RankLostError naming the ranks that did not come, WorldError).
void joinWorld(const WorldInfo& world, std::chrono::milliseconds timeout);
/// Leaves it after a final barrier when `clean` (rank 0's store then outlives the others).
void leaveWorld(bool clean);

/// Threads for one rank when `total` threads are shared by `localWorldSize` ranks on a
/// machine: total / localWorldSize, at least 1.
unsigned threadsPerRank(unsigned total, int localWorldSize);

}  // namespace lumen::dist
