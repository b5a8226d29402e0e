#pragma once
// `lumen-cli train --nproc N`: N ranks of one data-parallel run on this machine, each a
// `lumen-cli` process with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT=a free port), as torchrun would start
// them (docs/distributed.md).

#include <string>
#include <vector>

namespace lumen::cli {

/// Starts `n` copies of this executable with `arguments` (without argv[0]) as ranks 0..n-1,
/// waits for them and returns 0 when all succeeded, else the first failing rank's exit code.
/// A SIGINT to this process is passed on to every rank (they agree to stop at a step boundary). When one rank fails,
/// the others get `graceSeconds` to fail on their own (they name the lost rank) before they
/// are terminated.
int runLocalRanks(int n, const std::vector<std::string>& arguments, double graceSeconds);

/// A TCP port free on 127.0.0.1 now (the kernel's choice).
int freeLoopbackPort();

}  // namespace lumen::cli
