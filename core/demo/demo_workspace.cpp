// The demo-workspace generator. Every random number comes from a std::mt19937_64 stream
// derived from the seed and is turned into uniforms/normals by our own code, never by
// std::*_distribution (whose output is implementation-defined), and all pixels are drawn by
// plain scalar code rather than OpenCV filters (whose SIMD paths may differ per CPU): so the
// same options give the same bytes on any machine with the same zlib/libpng.
#include "demo/demo_workspace.h"

#include "demo/demo_support.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::demo {

namespace fs = std::filesystem;
using namespace detail;

namespace {

constexpr const char* kManifestName = "demo.json";
constexpr const char* kManifestFormat = "lumen-demo";
constexpr int kManifestVersion = 1;
// Only files under these folders are ever deleted as stale leftovers of an earlier run.
const std::array<std::string, 4> kDemoFolders = {"chest_xray", "ct", "angio", "predictions"};

// ------------------------------------------------------------------------------------------
// Manifest

bool isSafeRelative(const fs::path& p) {
    if (p.empty() || p.is_absolute() || p.has_root_name()) return false;
    for (const auto& part : p)
        if (part == ".." || part == ".") return false;
    return true;
}

std::vector<fs::path> manifestFiles(const fs::path& dir, bool& valid) {
    valid = false;
    std::vector<fs::path> files;
    std::ifstream in(dir / kManifestName, std::ios::binary);
    if (!in) return files;
    const auto json = nlohmann::json::parse(in, nullptr, false);
    if (json.is_discarded() || !json.is_object() || json.value("format", std::string()) != kManifestFormat ||
        !json.contains("files") || !json["files"].is_array())
        return files;
    for (const auto& entry : json["files"]) {
        if (!entry.is_object() || !entry.contains("path") || !entry["path"].is_string()) return {};
        const fs::path p = entry["path"].get<std::string>();
        if (!isSafeRelative(p)) return {};
        files.push_back(p);
    }
    valid = true;
    return files;
}

void validate(const DemoOptions& o) {
    const auto check = [](bool ok, const std::string& what) {
        if (!ok) throw std::invalid_argument("demo workspace: " + what);
    };
    check(o.chestImages >= 0 && o.chestImages <= 1000000, "chestImages must be in 0..1000000");
    check(o.imageSize >= 64 && o.imageSize <= 4096, "imageSize must be in 64..4096");
    check(o.ctVolumes >= 0 && o.ctVolumes <= 10000, "ctVolumes must be in 0..10000");
    check(o.angioStudies >= 0 && o.angioStudies <= 100000, "angioStudies must be in 0..100000");
    check(o.predictionStudies >= 0 && o.predictionStudies <= 500000, "predictionStudies must be in 0..500000");
}

}  // namespace

DemoSummary createDemoWorkspace(const fs::path& dir, const DemoOptions& options, jobs::JobContext* ctx) {
    validate(options);
    Output out(dir, ctx);
    out.makeDir({});
    out.checkCancelled();

    // Remove the old manifest first: a run that stops half-way must not leave a directory
    // that still claims to be complete.
    bool hadManifest = false;
    const auto previous = manifestFiles(dir, hadManifest);
    std::error_code ec;
    fs::remove(dir / kManifestName, ec);
    if (ec)
        throw std::runtime_error("demo workspace: cannot replace " + (dir / kManifestName).string() + ": " +
                                 ec.message());

    DemoSummary summary;
    summary.root = dir;
    const int studyPool = std::max(options.predictionStudies, options.angioStudies) + 1;
    const auto ids = drawStudyIds(options.seed, studyPool);

    // Progress shares follow measured run times (chest ~50 %, CT ~28 %, angiography ~21 %).
    writeChest(options, out, 0.0, 0.5);
    summary.chestImages = options.chestImages;
    out.checkCancelled();
    summary.ctDicomSlices = writeCt(options, out, 0.5, 0.78);
    summary.ctVolumes = options.ctVolumes;
    out.checkCancelled();
    summary.angioCines = writeAngio(options, ids, out, 0.78, 0.99);
    out.checkCancelled();
    summary.predictionRows = writePredictions(options, ids, out, 0.99, 0.995);
    out.checkCancelled();

    // The manifest: no timestamps or absolute paths, so it is as reproducible as the data.
    nlohmann::ordered_json manifest;
    manifest["format"] = kManifestFormat;
    manifest["version"] = kManifestVersion;
    manifest["seed"] = options.seed;
    manifest["options"] = {{"seed", options.seed},
                           {"chestImages", options.chestImages},
                           {"imageSize", options.imageSize},
                           {"ctVolumes", options.ctVolumes},
                           {"angioStudies", options.angioStudies},
                           {"predictionStudies", options.predictionStudies}};
    manifest["counts"] = {{"chestImages", summary.chestImages},
                          {"ctVolumes", summary.ctVolumes},
                          {"ctDicomSlices", summary.ctDicomSlices},
                          {"angioCines", summary.angioCines},
                          {"predictionRows", summary.predictionRows}};
    auto files = nlohmann::ordered_json::array();
    const auto written = out.files();
    for (const auto& rel : written) {
        const auto size = fs::file_size(dir / rel, ec);
        if (ec) throw std::runtime_error("demo workspace: cannot stat " + (dir / rel).string() + ": " + ec.message());
        files.push_back({{"path", rel.generic_string()}, {"size", size}});
    }
    manifest["files"] = std::move(files);

    // Leftovers listed by an earlier, larger run would otherwise sit beside the new data.
    if (hadManifest) {
        const std::set<fs::path> now(written.begin(), written.end());
        for (const auto& old : previous) {
            const std::string top = old.begin()->string();
            if (now.count(old) || std::find(kDemoFolders.begin(), kDemoFolders.end(), top) == kDemoFolders.end())
                continue;
            fs::remove(dir / old, ec);
        }
    }
    out.writeText(kManifestName, manifest.dump(2) + "\n");
    out.progress(1.0, "demo workspace ready");

    summary.files = out.files();
    return summary;
}

bool isDemoWorkspace(const fs::path& dir) {
    bool valid = false;
    const auto files = manifestFiles(dir, valid);
    if (!valid) return false;
    std::error_code ec;
    for (const auto& f : files)
        if (!fs::is_regular_file(dir / f, ec)) return false;
    return true;
}

}  // namespace lumen::demo
