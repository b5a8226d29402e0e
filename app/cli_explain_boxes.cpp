// lumen-cli explain --boxes: the CAM cache measured against annotated boxes (pointing game,
// IoU, AP@0.5/0.75 and a control; docs/explain.md "Explanations against boxes").
#include "cli_command.h"

#include "explain/localisation.h"

#include <filesystem>
#include <iostream>

namespace lumen::cli {

/// Evaluates `cacheDir` against the boxes of --boxes; image sizes are read from files found
/// under `roots` (and the boxes file's folder). Prints the table, writes localisation.json/.csv.
int evaluateExplainBoxes(const Args& args, const std::filesystem::path& cacheDir,
                         std::vector<std::filesystem::path> roots) {
    namespace fs = std::filesystem;
    const fs::path boxesFile = fs::absolute(*args.value("boxes"));
    if (!fs::is_regular_file(boxesFile)) throw UsageError("--boxes " + boxesFile.string() + ": no such file");
    explain::LocalisationOptions o;
    if (auto t = args.number("box-threshold")) {
        if (!(*t > 0 && *t <= 1)) throw UsageError("--box-threshold: expected a number in (0, 1]");
        o.threshold = *t;
    }
    if (auto s = args.integer("control-seed")) {
        if (*s < 0) throw UsageError("--control-seed: expected a non-negative integer");
        o.seed = std::uint64_t(*s);
    }
    roots.push_back(boxesFile.parent_path());
    o.imageSize = explain::imageSizeFinder(roots);
    const auto cache = explain::readCamCache(cacheDir);
    if (cache.entries.empty()) throw UsageError("the CAM cache " + cacheDir.string() + " is empty");
    const auto table = explain::readBoxes(boxesFile);
    const auto report = explain::evaluateLocalisation(cache, table, o);
    explain::writeLocalisation(report, cacheDir);
    std::cout << explain::localisationTable(report);
    std::cout << "wrote " << (cacheDir / "localisation.json").string() << " and localisation.csv\n";
    return kOk;
}

}  // namespace lumen::cli
