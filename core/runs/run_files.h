#pragma once
// A run's files as a whole: delete a run (its rows and its folder) and export what a person
// keeps of it (config, TorchScript model, reports, predictions) into another folder. The
// Runs panel's Delete and Export actions and `lumen-cli runs --delete/--export` call these.

#include "runs/run_store.h"

#include <cstdint>
#include <filesystem>
#include <vector>

namespace lumen::runs {

/// Deletes run `id`: its rows (params, metrics, artifacts by cascade) and its folder
/// runs/<id>_<task>. Refused (RunStoreError naming the run) while a process holds the run's
/// lock, i.e. while it runs. The folder is first renamed aside (one atomic step), then the
/// rows are deleted; when that fails the folder is put back, so a failure loses nothing.
/// Files the run wrote outside its folder (a CAM cache, an infer.out_dir elsewhere) stay.
void deleteRun(RunStore& store, const Workspace& workspace, std::int64_t id);

/// Copies what a person keeps of run `id` into `destination`/run_<id>_<task>/: config.yaml
/// (the config the run recorded), and each existing artifact file of kind torchscript,
/// best_checkpoint, report, predictions, predictions_json or thresholds. Every file is
/// written atomically; an existing export folder is refused, never overwritten. Returns the
/// files written. Throws RunStoreError naming the run or the file.
std::vector<std::filesystem::path> exportRun(const RunStore& store, std::int64_t id,
                                             const std::filesystem::path& destination);

}  // namespace lumen::runs
