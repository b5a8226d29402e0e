#pragma once
// `lumen-cli train --nproc N`: N ranks of one data-parallel run on this machine, each a
// `lumen-cli` process with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT=a free port), as torchrun would start
// them (docs/distributed.md).

#include <sys/types.h>

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

/// This executable (/proc/self/exe).
std::string selfExecutable();

/// Starts this executable with `arguments` and the extra `environment` ("NAME=value"); its
/// stdout and stderr go to `logFile` when one is given. Returns the child's pid; throws
/// std::runtime_error when it cannot start. With `ownProcessGroup` a terminal's Ctrl-C reaches
/// only this process, which passes it on once.
pid_t startChild(const std::vector<std::string>& arguments, const std::vector<std::string>& environment,
                 const std::string& logFile = {}, bool ownProcessGroup = false);

/// A waitpid() status as an exit code (128 + signal for a killed child).
int exitCodeOf(int status);

}  // namespace lumen::cli
