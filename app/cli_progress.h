#pragma once
// Runs one job for lumen-cli with progress on stderr; Ctrl-C (SIGINT) or SIGTERM cancels it.

#include "jobs/job_pool.h"

#include <string>

namespace lumen::cli {

/// Runs `work` on a one-thread pool, printing progress (with ETA) and log lines to stderr.
/// Returns the job's final info (state and outcome). `quiet` prints warnings and errors only
/// (ranks above 0 of a data-parallel run).
jobs::JobInfo runWithProgress(const std::string& kind, const std::string& title, jobs::JobFunction work,
                              bool quiet = false);

}  // namespace lumen::cli
