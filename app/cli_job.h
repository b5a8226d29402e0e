#pragma once
// A lumen-cli command run as a job of the GUI (data-parallel training: the ranks are
// processes, docs/distributed.md). Its stderr progress lines ("[ 42%] epoch 1/5 …") become
// the job's progress, its "info: / warning: / error:" lines the job's log; cancelling the job
// sends the command SIGINT (the ranks agree to stop at a step boundary and save last.pt).

#include "jobs/job.h"

#include <QString>
#include <QStringList>

#include <functional>
#include <string>

namespace lumen::app {

/// lumen-cli beside this executable (the build's bin/ or the installed one; from the build's
/// tests/, ../bin/), else the one on PATH.
QString lumenCliPath();

/// Runs `lumenCliPath() args` and waits. `tick` is called about every second (e.g. to refresh
/// the Runs panel). Returns the command's last stdout line; throws std::runtime_error with its
/// last error line (or exit code) when it fails, jobs::Cancelled when it stopped on a cancel.
std::string runCliJob(const QStringList& args, jobs::JobContext& job, const std::function<void()>& tick = {});

}  // namespace lumen::app
