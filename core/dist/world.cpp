#include "dist/world.h"

#include "util/sibling_library.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace lumen::dist {

namespace {

const char* lookup(const Getenv& getenv, const char* name) {
    const char* v = getenv ? getenv(name) : std::getenv(name);
    return v && *v ? v : nullptr;
}

int intVariable(const Getenv& getenv, const char* name, int fallback, int minimum) {
    const char* v = lookup(getenv, name);
    if (!v) return fallback;
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < minimum || x > 1'000'000)
        throw WorldError(std::string("environment variable ") + name + "=\"" + v +
                         "\": expected an integer >= " + std::to_string(minimum));
    return static_cast<int>(x);
}

/// "2(x3),1" -> 2: the tasks on the first node (Slurm's SLURM_TASKS_PER_NODE).
int firstTaskCount(const std::string& s) {
    const long x = std::strtol(s.c_str(), nullptr, 10);
    return x > 0 ? static_cast<int>(x) : 1;
}

void checkRanks(const WorldInfo& w, const char* rankVar, const char* sizeVar) {
    if (w.rank >= w.worldSize)
        throw WorldError(std::string(rankVar) + "=" + std::to_string(w.rank) + " is not below " + sizeVar + "=" +
                         std::to_string(w.worldSize));
    if (w.localRank >= w.localWorldSize)
        throw WorldError("local rank " + std::to_string(w.localRank) + " is not below the local world size " +
                         std::to_string(w.localWorldSize));
}

}  // namespace

std::string WorldInfo::describe() const {
    if (!distributed()) return "single process";
    return "rank " + std::to_string(rank) + " of " + std::to_string(worldSize) + " (local " +
           std::to_string(localRank) + " of " + std::to_string(localWorldSize) + "), store " + masterAddr + ":" +
           std::to_string(masterPort) + (agentStore ? " (torchrun's agent)" : "") + ", launched by " + launcher;
}

std::string firstSlurmHost(const std::string& nodelist) {
    // The first entry ends at a comma outside brackets.
    std::size_t end = 0;
    int depth = 0;
    for (; end < nodelist.size(); ++end) {
        const char c = nodelist[end];
        if (c == '[') ++depth;
        else if (c == ']') --depth;
        else if (c == ',' && depth == 0) break;
        if (depth < 0 || depth > 1) break;
    }
    const std::string first = nodelist.substr(0, end);
    if (first.empty() || depth != 0) throw WorldError("SLURM_JOB_NODELIST=\"" + nodelist + "\": not a host list");
    const auto open = first.find('[');
    if (open == std::string::npos) return first;
    const auto close = first.find(']', open);
    if (close == std::string::npos || close == open + 1)
        throw WorldError("SLURM_JOB_NODELIST=\"" + nodelist + "\": not a host list");
    // node[07-09,12]suffix -> node07suffix: the first number of the range keeps its padding.
    std::string range = first.substr(open + 1, close - open - 1);
    range = range.substr(0, range.find_first_of(",-"));
    if (range.empty() || range.find_first_not_of("0123456789") != std::string::npos)
        throw WorldError("SLURM_JOB_NODELIST=\"" + nodelist + "\": not a host list");
    return first.substr(0, open) + range + first.substr(close + 1);
}

WorldInfo worldFromEnvironment(const Getenv& getenv) {
    WorldInfo w;
    if (lookup(getenv, "WORLD_SIZE") || lookup(getenv, "RANK")) {
        w.launcher = "torchrun";
        w.worldSize = intVariable(getenv, "WORLD_SIZE", 1, 1);
        w.rank = intVariable(getenv, "RANK", 0, 0);
        w.localRank = intVariable(getenv, "LOCAL_RANK", w.rank, 0);
        w.localWorldSize = intVariable(getenv, "LOCAL_WORLD_SIZE", w.worldSize, 1);
        if (const char* a = lookup(getenv, "MASTER_ADDR")) w.masterAddr = a;
        w.masterPort = intVariable(getenv, "MASTER_PORT", 29500, 1);
        const char* agent = lookup(getenv, "TORCHELASTIC_USE_AGENT_STORE");
        w.agentStore = agent && (std::string_view(agent) == "True" || std::string_view(agent) == "true" ||
                                 std::string_view(agent) == "1");
        w.restartCount = intVariable(getenv, "TORCHELASTIC_RESTART_COUNT", 0, 0);
        checkRanks(w, "RANK", "WORLD_SIZE");
    } else if (lookup(getenv, "SLURM_PROCID") && lookup(getenv, "SLURM_NTASKS")) {
        w.launcher = "slurm";
        w.worldSize = intVariable(getenv, "SLURM_NTASKS", 1, 1);
        w.rank = intVariable(getenv, "SLURM_PROCID", 0, 0);
        w.localRank = intVariable(getenv, "SLURM_LOCALID", 0, 0);
        if (lookup(getenv, "SLURM_NTASKS_PER_NODE"))
            w.localWorldSize = intVariable(getenv, "SLURM_NTASKS_PER_NODE", 1, 1);
        else if (const char* t = lookup(getenv, "SLURM_TASKS_PER_NODE")) w.localWorldSize = firstTaskCount(t);
        else w.localWorldSize = w.worldSize;
        w.localWorldSize = std::min(w.localWorldSize, w.worldSize);
        if (const char* a = lookup(getenv, "MASTER_ADDR")) w.masterAddr = a;
        else if (const char* l = lookup(getenv, "SLURM_JOB_NODELIST")) w.masterAddr = firstSlurmHost(l);
        else if (const char* s = lookup(getenv, "SLURM_STEP_NODELIST")) w.masterAddr = firstSlurmHost(s);
        const int job = intVariable(getenv, "SLURM_JOB_ID", 0, 0);
        w.masterPort = intVariable(getenv, "MASTER_PORT", 20000 + job % 20000, 1);
        checkRanks(w, "SLURM_PROCID", "SLURM_NTASKS");
    }
    if (w.masterPort > 65535)
        throw WorldError("MASTER_PORT=" + std::to_string(w.masterPort) + ": not a TCP port (1-65535)");
    return w;
}

namespace {
bool gJoined = false;
}

void joinWorld(const WorldInfo& world, std::chrono::milliseconds timeout) {
    if (!world.distributed()) return;
    gJoined = true;
    using Fn = void (*)(const WorldInfo*, long long);
    auto fn = reinterpret_cast<Fn>(util::siblingLibrarySymbol("liblumen_ml.so", "lumen_ml_join_world"));
    fn(&world, static_cast<long long>(timeout.count()));
}

void leaveWorld(bool clean) {
    if (!gJoined) return;
    gJoined = false;
    using Fn = void (*)(bool);
    auto fn = reinterpret_cast<Fn>(util::siblingLibrarySymbol("liblumen_ml.so", "lumen_ml_leave_world"));
    fn(clean);
}

unsigned threadsPerRank(unsigned total, int localWorldSize) {
    if (localWorldSize <= 1) return total < 1 ? 1 : total;
    const unsigned each = total / static_cast<unsigned>(localWorldSize);
    return each < 1 ? 1 : each;
}

}  // namespace lumen::dist
