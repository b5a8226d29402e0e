#pragma once
// The torch half of the angio_multiview task (angio_engine.cpp): training and inference.
// Declared without torch so the task's schema code compiles without it.

#include "config/config.h"
#include "plugin/task.h"

#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::angio {

/// Config keys whose change makes a checkpoint another model (resume refuses it; inference
/// takes them from the checkpoint).
const std::vector<std::string>& modelShapingKeys();

std::string train(const config::Config& config, const plugin::RunContext& where, jobs::JobContext& job);
std::string infer(const config::Config& config, const plugin::RunContext& where, jobs::JobContext& job);

}  // namespace lumen::angio
