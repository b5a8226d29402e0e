#pragma once
// Samples and batches for training: a Dataset gives one sample (image + ids + target) by
// index; makeImageDataset reads a manifest's images through core/io; BatchLoader assembles
// batches on worker threads with a bounded prefetch and delivers them in order.
// Determinism: the order depends only on (seed, epoch), each sample's augmentation only on
// (seed, epoch, dataset index) — never on the number of workers or on timing.

#include "data/augment.h"
#include "data/manifest.h"
#include "data/sharding.h"

#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lumen::data {

/// What a Dataset produces for one index.
struct Sample {
    std::string id, patientId;
    cv::Mat image;              ///< CV_32FC1 or CV_32FC3, HxW, values after intensity scaling
    std::vector<float> target;  ///< one entry per label (0/1 for multi-label), may be empty
};

/// Random access, thread-safe const get().
class Dataset {
public:
    virtual ~Dataset() = default;
    virtual std::size_t size() const = 0;
    /// `sampleSeed` drives the augmentation. Throws DataError naming the file on a bad sample.
    virtual Sample get(std::size_t index, std::uint64_t sampleSeed) const = 0;
};

/// An image dataset over a manifest: reads PNG/JPEG/DICOM through core/io (first frame of a
/// multi-frame file), converts to `channels` (1 or 3; grey is replicated, colour becomes
/// luminance), scales to [0, 1] (8-bit / 255, 16-bit / 65535, DICOM through its window or
/// else its min..max, MONOCHROME1 inverted), applies the augmentations, then normalises by
/// mean/stdev (one value, or one per channel; empty = none). Targets follow labelNames.
/// Throws std::invalid_argument for bad channels/mean/stdev.
std::shared_ptr<Dataset> makeImageDataset(const Manifest&, int channels, AugmentOptions, std::vector<float> mean = {},
                                          std::vector<float> stdev = {});

/// Reads one image as float values in [0, 1] with `channels` channels (the image dataset's
/// steps before augmentation). Throws DataError naming the file.
cv::Mat loadUnitImage(const std::filesystem::path& file, int channels);

struct Batch {
    std::int64_t epoch = 0, index = 0;  ///< batch index within the epoch
    std::vector<std::string> ids, patientIds;
    std::vector<std::size_t> datasetIndices;  ///< the dataset index of each sample
    std::vector<float> images;                ///< contiguous N x C x H x W float32 (NCHW)
    int n = 0, c = 0, h = 0, w = 0;
    std::vector<float> targets;  ///< N x numTargets row-major
    int numTargets = 0;
};

struct LoaderOptions {
    int batchSize = 8;
    int workers = 2;   ///< 0 = batches are made in next() on the calling thread
    int prefetch = 4;  ///< batches made ahead of the consumer at most (>= 1)
    bool shuffle = true;
    std::uint64_t seed = 0;
    bool dropLast = false;
    /// Data-parallel training: this rank's share of every epoch (shardOrder), so the ranks'
    /// k-th batches together are the k-th batch of one process with batchSize x worldSize.
    int rank = 0, worldSize = 1;
};

/// The dataset order of an epoch: a permutation from (seed, epoch), or 0..n-1 without shuffle.
std::vector<std::size_t> epochOrder(std::size_t n, std::uint64_t seed, std::int64_t epoch, bool shuffle);
/// The augmentation seed of one sample.
std::uint64_t sampleSeed(std::uint64_t seed, std::int64_t epoch, std::size_t datasetIndex);

/// Worker threads, a bounded prefetch queue, batches delivered in order.
class BatchLoader {
public:
    /// Throws std::invalid_argument for a null dataset or batchSize < 1, workers < 0, prefetch < 1.
    BatchLoader(std::shared_ptr<const Dataset>, LoaderOptions);
    ~BatchLoader();  ///< stops and joins workers
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;

    std::size_t batchesPerEpoch() const;
    /// Stops a running epoch and starts `epoch`: order = shuffle(seed, epoch).
    void startEpoch(std::int64_t epoch);
    /// The next batch in order; nullopt at the end of the epoch (or after stop()). Rethrows a
    /// worker's error (naming the file) when its batch is due; the epoch then ends.
    /// Throws std::logic_error before the first startEpoch().
    std::optional<Batch> next();
    /// Stops the workers (they finish at most the sample they are reading) and joins them.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace lumen::data
