#pragma once
// Dataset statistics: label balance per split, and the mean/std of pixel values over a whole
// dataset — exact for integer images (integer sums of values and squares per channel), read
// streaming (one image per thread in memory at a time) on several threads.

#include "data/manifest.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lumen::jobs {
class JobContext;
}
namespace lumen::io {
struct ImageVolume;
}

namespace lumen::data {

struct LabelBalance {
    std::vector<std::string> splits;                  ///< Manifest::splitNames() order ("" = no split)
    std::vector<std::string> labels;                  ///< the manifest's vocabulary
    std::vector<std::size_t> images;                  ///< images per split
    std::vector<std::vector<std::size_t>> positives;  ///< positives[split][label]
    std::vector<std::size_t> unlabelled;              ///< rows without any label, per split
};

LabelBalance labelBalance(const Manifest& manifest);

struct PixelStatsOptions {
    unsigned threads = 0;  ///< 0 = hardware concurrency
    /// One value per pixel, the mean of its samples (PixelSums' grey mode): what the
    /// angio_multiview trainer normalises, so an angiography manifest's statistics are computed
    /// so (colour videos; grey ones are the same either way). Grey and colour files may then mix.
    bool grey = false;
    /// Called on the calling thread about every 100 ms with (images done, total); return
    /// false to cancel (the call then throws jobs::Cancelled). Optional.
    std::function<bool(std::size_t, std::size_t)> progress;
};

struct PixelStats {
    std::size_t images = 0;
    std::uint64_t frames = 0;  ///< every frame of every file (a cine counts all of its frames)
    int channels = 0;
    bool grey = false;  ///< one grey value per pixel (PixelStatsOptions::grey); channels is then 1
    std::uint64_t pixelsPerChannel = 0;
    /// True when every image held integer values (8/16-bit files; DICOM with integer rescale):
    /// sums were then kept as exact 128-bit integers and mean/std are correctly rounded.
    bool exact = true;
    std::string storedType;           ///< "u8", "u16", ... or "mixed"
    std::vector<double> mean, stdev;  ///< per channel, of the values (population std, ddof 0)
    std::vector<double> min, max;
    /// mean/stdev after the loader's scaling to [0, 1] (÷255 for 8-bit, ÷65535 for 16-bit
    /// images); empty when the images are DICOM or of mixed types.
    std::vector<double> unitMean, unitStdev;
    double seconds = 0;
    unsigned threads = 0;
};

/// Running sums of the pixel values of images, every frame: exact 128-bit integer sums of the
/// values and their squares while every value is an integer, long double otherwise. Per
/// channel, or with `grey` one value per pixel, the mean of its samples (a colour video as a
/// grey model sees it; still exact, the samples' sums are kept in twelfths). computePixelStats
/// and the angio_multiview task's normalisation check both count with it.
class PixelSums {
public:
    explicit PixelSums(int channels = 1, bool grey = false);
    /// Adds every frame of `v`: unsigned 8-bit images straight from their stored bytes (not
    /// DICOM with a rescale, not DICOM colour), others from their values (made here when
    /// missing). Throws std::invalid_argument when v has more than 4 samples, or (not grey)
    /// another sample count than the channels.
    void add(io::ImageVolume& v);
    void add(const PixelSums& other);
    /// Everything of PixelStats but seconds and threads (the caller's); mean and stdev are NaN
    /// before any pixel.
    PixelStats stats() const;

private:
    using Int = __int128;
    int channels_;
    bool grey_;
    std::vector<Int> sum_, squares_;  ///< integer images; grey: in twelfths of a value
    std::vector<long double> fsum_, fsquares_;
    std::vector<double> min_, max_;
    std::uint64_t pixels_ = 0, frames_ = 0, images_ = 0;  ///< pixels per channel
    bool exact_ = true, dicom_ = false;
    std::uint32_t types_ = 0;  ///< one bit per io::StoredType seen
};

/// Reads every image of the manifest (through core/io; every frame of cines and multi-frame
/// files: a video model normalises all the frames it sees) and computes per-channel statistics. Threads take images in chunks; chunk results are combined
/// in chunk order, so the result does not depend on the thread count. Throws DataError naming
/// the file for an unreadable image or a channel count that differs from the first image's;
/// jobs::Cancelled when cancelled (through `job` or options.progress).
PixelStats computePixelStats(const Manifest& manifest, const PixelStatsOptions& options = {},
                             jobs::JobContext* job = nullptr);

nlohmann::json toJson(const LabelBalance& balance);
nlohmann::json toJson(const PixelStats& stats);

}  // namespace lumen::data
