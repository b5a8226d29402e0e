#pragma once
// Inference of the torchscript task on LibTorch (docs/byo-model.md). Torch-free header.

#include "plugin/task.h"

#include <string>

namespace lumen::torchscript {

/// Runs the model of `infer.checkpoint` over the configured data; writes preds.csv, preds.json
/// and (with labels) metrics.json into infer.out_dir / the run folder.
std::string infer(const config::Config& config, const plugin::RunContext& where, jobs::JobContext& job);

}  // namespace lumen::torchscript
