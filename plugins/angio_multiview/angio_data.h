#pragma once
// The angio_multiview task's data on LibTorch (docs/angio.md): studies of the manifest read
// into memory at the model's resolution (or, with data.cache: none, decoded again for every
// batch, so the data may exceed memory), clips sampled from them (random start in training,
// centred in inference; too few frames repeat the last), views padded to max_views with a
// mask, optional view dropout. Torch-only header (plugin).

#include "data/angio_manifest.h"
#include "data/dataset_stats.h"

#include <torch/types.h>

#include <cstdint>
#include <future>
#include <string>
#include <vector>

namespace lumen::config {
class Config;
}
namespace lumen::jobs {
class JobContext;
}

namespace lumen::angio {

struct ClipOptions {
    std::int64_t frames = 16, stride = 2, resolution = 112, maxViews = 4, channels = 3;
    double mean = 128.0, std = 64.0;
    double viewDropout = 0.0;
    bool stream = false;  ///< data.cache none: keep no frames, decode the clips' videos per batch
    int workers = 1;      ///< num_workers: threads that read the videos (loadStudies, a streamed batch)
    static ClipOptions fromConfig(const config::Config& c);
};

struct LoadedVideo {
    std::string path, view;
    std::filesystem::path file;   ///< `path` resolved against the manifest's folder
    torch::Tensor frames;         ///< (n, R, R) float32 in the file's values (grey), resized; undefined when streamed
    std::int64_t frameCount = 0;  ///< n, also when streamed
    double frameTimeMs = 0;
};

struct LoadedStudy {
    std::string studyId, patientId;
    std::vector<LoadedVideo> videos;
    torch::Tensor targets;  ///< (segments * 5) float32, NaN = not labelled
};

/// Reads the studies' videos (DICOM, AVI, MP4) on `o.workers` threads, grey (colour: the mean
/// of R, G, B), resized to resolution² (area when shrinking, bilinear when growing). Errors name
/// the file. `sums` (may be null) gathers the grey values of every frame, before resizing, as
/// `lumen-cli data stats` counts them. With `o.stream` every video is still read once (its frame
/// count and statistics) but its frames are neither resized nor kept.
std::vector<LoadedStudy> loadStudies(const data::AngioManifest& manifest,
                                     const std::vector<const data::AngioStudy*>& studies, const ClipOptions& o,
                                     jobs::JobContext& job, const std::string& what, data::PixelSums* sums = nullptr);

/// Frame indices of one clip: `frames` indices `stride` apart starting at `start` (in training
/// drawn uniformly from the possible starts, in inference centred), clamped to the last frame.
std::vector<std::int64_t> clipIndices(std::int64_t available, const ClipOptions& o, std::int64_t start);
std::int64_t centredStart(std::int64_t available, const ClipOptions& o);

/// One batch of studies: videos (B, V, C, F, R, R) normalised, mask (B, V), targets (B, K).
/// `rngSeed` < 0: inference (centred clips, the first max_views views, no dropout); otherwise
/// training draws starts, view choices and dropout from (rngSeed, study index). Streamed videos
/// are decoded here, on `o.workers` threads: the same values as kept ones, so the same batch.
struct StudyBatch {
    torch::Tensor videos, mask, targets;
    std::vector<std::vector<std::size_t>> views;  ///< per study: which of its videos fill the slots
};
StudyBatch makeBatch(const std::vector<LoadedStudy>& studies, const std::vector<std::size_t>& index,
                     const ClipOptions& o, std::int64_t rngSeed);

/// One batch ahead: while a batch is used, the next is made on a thread of its own (a streamed
/// batch's decoding, or the copy of kept frames), with makeBatch, so the batches are the same
/// tensors and a run is the same run. Holds at most one extra batch; a batch asked for out of
/// order is made on the spot. Off (`enabled` false), every batch is made when it is taken: the
/// tasks read ahead only when the model is on a GPU, since on the CPU the model's own threads
/// already fill the cores (docs/angio.md). The studies and the options must outlive it.
class BatchReadAhead {
public:
    BatchReadAhead(const std::vector<LoadedStudy>& studies, const ClipOptions& o, bool enabled = true)
        : studies_(studies), o_(o), enabled_(enabled) {}
    BatchReadAhead(const BatchReadAhead&) = delete;
    BatchReadAhead& operator=(const BatchReadAhead&) = delete;
    ~BatchReadAhead() { drop(); }
    /// makeBatch(studies, index, o, rngSeed), then starts making `next` with the same seed
    /// (empty: nothing). An error of the batch read ahead is thrown here, when it is taken.
    StudyBatch take(const std::vector<std::size_t>& index, std::int64_t rngSeed, const std::vector<std::size_t>& next);
    /// Waits for the batch being made, if any, and forgets it (a new epoch's order).
    void drop();

private:
    const std::vector<LoadedStudy>& studies_;
    const ClipOptions& o_;
    bool enabled_;
    std::vector<std::size_t> aheadIndex_;
    std::int64_t aheadSeed_ = -1;
    std::future<StudyBatch> ahead_;
};

}  // namespace lumen::angio
