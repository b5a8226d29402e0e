#pragma once
// The demo workspace: a small, deterministic, synthetic data set for every task (chest
// X-rays in the NIH ChestX-ray14 layout, CT volumes as NIfTI and one as a DICOM series,
// multi-frame angiography cines, and a baseline/new pair of predictions tables), so the
// app can be tried and tested without downloading anything. Layout: docs/demo-workspace.md.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}

namespace lumen::demo {

struct DemoOptions {
    std::uint64_t seed = 7;
    int chestImages = 300;  // 256x256 PNGs
    int imageSize = 256;
    int ctVolumes = 16;           // NIfTI volumes (64x64x48), one of them also as a DICOM series
    int angioStudies = 24;        // labelled studies of 2-4 multi-frame DICOM cines
    int predictionStudies = 240;  // rows of the baseline/new 90-column predictions tables

    /// Only what is asked for: these counts, no predictions tables (tests build small demos).
    static DemoOptions only(int chest, int ct, int angio) {
        DemoOptions o;
        o.chestImages = chest;
        o.ctVolumes = ct;
        o.angioStudies = angio;
        o.predictionStudies = 0;
        return o;
    }
};

struct DemoSummary {
    std::filesystem::path root;
    int chestImages = 0, ctVolumes = 0, ctDicomSlices = 0, angioCines = 0, predictionRows = 0;
    std::vector<std::filesystem::path> files;  // every file written, relative to root, sorted
};

/// Writes the demo workspace under `dir` (created if missing; existing demo files are
/// overwritten). Deterministic: the same options give byte-identical files.
/// `ctx` (may be null) receives progress (fraction + message) and is polled for cancellation
/// (ctx->throwIfCancelled()). Errors throw std::runtime_error naming the file; options out
/// of range (negative counts, imageSize outside 64..4096) throw std::invalid_argument.
DemoSummary createDemoWorkspace(const std::filesystem::path& dir, const DemoOptions& options = {},
                                jobs::JobContext* ctx = nullptr);

/// True when `dir` holds a complete demo workspace (its manifest `demo.json` exists and every
/// file listed there exists).
bool isDemoWorkspace(const std::filesystem::path& dir);

}  // namespace lumen::demo
