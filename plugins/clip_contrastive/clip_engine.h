#pragma once
// The torch half of the clip_contrastive task (clip_engine.cpp: training and validation;
// clip_infer.cpp: inference and retrieval queries). Declared without torch so the task's schema
// code compiles without it.

#include "config/config.h"
#include "plugin/task.h"

#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::clip {

/// Config keys whose change makes a checkpoint another model (resume refuses it).
const std::vector<std::string>& modelShapingKeys();

std::string train(const config::Config& config, const plugin::RunContext& where, jobs::JobContext& job);
/// Inference (preds.csv, preds.json, retrieval.json, metrics.json), or with infer.query set a
/// retrieval query against infer.out_dir's retrieval.json (query.json).
std::string infer(const config::Config& config, const plugin::RunContext& where, jobs::JobContext& job);

}  // namespace lumen::clip
