#include "runs/run_files.h"

#include "runs/run_lock.h"
#include "util/atomic_file.h"

#include <set>
#include <system_error>

namespace lumen::runs {
namespace {

namespace fs = std::filesystem;

RunRecord existingRun(const RunStore& store, std::int64_t id) {
    auto record = store.run(id);
    if (!record) throw RunStoreError(store.file().string() + ": no run " + std::to_string(id));
    return *record;
}

// The artifact kinds an export keeps, each a file (folders such as roi_vis or a CAM cache
// stay in the workspace).
const std::set<std::string> kExported = {"torchscript", "best_checkpoint",  "report",
                                         "predictions", "predictions_json", "thresholds"};

}  // namespace

void deleteRun(RunStore& store, const Workspace& workspace, std::int64_t id) {
    const RunRecord record = existingRun(store, id);
    const fs::path folder = workspace.runDir(id, record.task);
    const std::string name = "run " + std::to_string(id) + " (" + record.task + ")";
    std::error_code ec;
    const bool hasFolder = fs::exists(folder, ec);
    if (hasFolder && RunLock::isHeld(folder))
        throw RunStoreError(name + " is running (" + RunLock::fileIn(folder).string() +
                            " is held): cancel it before deleting it");
    const fs::path aside = workspace.runsDir() / (".deleting_" + folder.filename().string());
    if (hasFolder) {
        fs::remove_all(aside, ec);  // a previous delete that died half-way
        fs::rename(folder, aside, ec);
        if (ec) throw RunStoreError(name + ": cannot move " + folder.string() + " aside: " + ec.message());
    }
    try {
        store.removeRun(id);
    } catch (...) {
        if (hasFolder) fs::rename(aside, folder, ec);
        throw;
    }
    if (hasFolder) {
        fs::remove_all(aside, ec);
        if (ec)
            throw RunStoreError(name + ": deleted from the run store, but " + aside.string() +
                                " could not be removed: " + ec.message());
    }
}

std::vector<fs::path> exportRun(const RunStore& store, std::int64_t id, const fs::path& destination) {
    const RunRecord record = existingRun(store, id);
    const fs::path out = destination / ("run_" + std::to_string(id) + "_" + record.task);
    std::error_code ec;
    if (fs::exists(out, ec))
        throw RunStoreError(out.string() + " exists: an export is never overwritten; choose another folder");
    fs::create_directories(out, ec);
    if (ec) throw RunStoreError(out.string() + ": cannot create the folder: " + ec.message());
    std::vector<fs::path> written;
    if (!record.configYaml.empty()) {
        util::writeFileAtomically(out / "config.yaml", record.configYaml);
        written.push_back(out / "config.yaml");
    }
    std::set<std::string> names;
    for (const auto& artifact : store.artifacts(id)) {
        const fs::path source = artifact.path;
        if (!kExported.count(artifact.kind) || !fs::is_regular_file(source, ec)) continue;
        std::string target = source.filename().string();
        if (names.count(target)) target = artifact.kind + "_" + target;  // two files named alike
        if (!names.insert(target).second) continue;                      // one file recorded twice
        util::writeFileAtomically(out / target, [&](const fs::path& tmp) {
            std::error_code copyError;
            fs::copy_file(source, tmp, fs::copy_options::overwrite_existing, copyError);
            if (copyError) throw RunStoreError(source.string() + ": cannot be copied: " + copyError.message());
        });
        written.push_back(out / target);
    }
    return written;
}

}  // namespace lumen::runs
