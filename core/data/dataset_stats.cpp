#include "data/dataset_stats.h"

#include "io/media_reader.h"
#include "io/read_error.h"
#include "jobs/job.h"
#include "util/parallel.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>

namespace lumen::data {
namespace fs = std::filesystem;

LabelBalance labelBalance(const Manifest& m) {
    LabelBalance b;
    b.labels = m.labelNames;
    b.splits = m.splitNames();
    b.images.assign(b.splits.size(), 0);
    b.unlabelled.assign(b.splits.size(), 0);
    b.positives.assign(b.splits.size(), std::vector<std::size_t>(b.labels.size(), 0));
    for (const auto& r : m.rows) {
        const auto s = std::size_t(std::find(b.splits.begin(), b.splits.end(), r.split) - b.splits.begin());
        ++b.images[s];
        if (r.labels.empty()) ++b.unlabelled[s];
        for (const auto& l : r.labels) {
            const int k = m.labelIndex(l);
            if (k >= 0) ++b.positives[s][std::size_t(k)];
        }
    }
    return b;
}

namespace {

using Int = __int128;

constexpr std::size_t kChunk = 32;          // images per work item
constexpr std::int64_t kGreyTwelfths = 12;  // a grey pixel's samples, weighted 12/k: exact for 1-4 samples

// Unsigned 8-bit samples whose stored bytes are the values: any non-DICOM 8-bit file, and
// grey DICOM without a modality rescale (DICOM colour is stored as YBR, its values are RGB).
bool sumsFromStored(const io::ImageVolume& v) {
    return v.storedType == io::StoredType::U8 && v.stored.size() >= v.elementCount() &&
           (v.meta.format != "DICOM" || (v.samples == 1 && !io::hasRescale(v.meta)));
}

// Every frame of the file (a cine's or multi-frame DICOM's too); a volume is refused. DICOM is
// read stored-first: PixelSums makes the float values only when the sums need them.
io::ImageVolume readFrames(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw DataError(file, "file not found");
    try {
        io::DicomReadOptions storedFirst;
        storedFirst.values = io::PixelValues::StoredFirst;
        io::ImageVolume v = io::readMedia(file, storedFirst).volume;
        if (v.rows <= 0 || v.columns <= 0 || (v.values.empty() && v.stored.empty())) throw DataError(file, "no pixels");
        if (v.isVolume && v.depth > 1) throw DataError(file, "a volume, not a 2-D image");
        return v;
    } catch (const io::ReadError& e) {
        throw DataError(file, e.reason());
    }
}

// One image's integer sums per output channel.
struct ImageTotals {
    Int sum[4] = {0, 0, 0, 0}, squares[4] = {0, 0, 0, 0};
    std::int64_t lo[4], hi[4];
    ImageTotals() {
        std::fill(lo, lo + 4, std::numeric_limits<std::int64_t>::max());
        std::fill(hi, hi + 4, std::numeric_limits<std::int64_t>::min());
    }
};

// Sums `count` integer samples, k per pixel: per channel, or grey (one value per pixel, its
// samples' sum times `weight`). `Sum` is 64-bit where it cannot overflow (8-bit samples of one
// image below 2^32 pixels), 128-bit otherwise.
template <class Sum, class Get>
ImageTotals sumIntegers(std::size_t count, int k, bool grey, std::int64_t weight, Get get) {
    Sum s[4] = {0, 0, 0, 0}, q[4] = {0, 0, 0, 0};
    ImageTotals t;
    const auto take = [&](int c, std::int64_t x) {
        s[c] += Sum(x);
        q[c] += Sum(x) * Sum(x);
        t.lo[c] = std::min(t.lo[c], x);
        t.hi[c] = std::max(t.hi[c], x);
    };
    if (grey)
        for (std::size_t i = 0; i < count; i += std::size_t(k)) {
            std::int64_t y = 0;
            for (int c = 0; c < k; ++c) y += get(i + std::size_t(c));
            take(0, y * weight);
        }
    else
        for (std::size_t i = 0; i < count; i += std::size_t(k))
            for (int c = 0; c < k; ++c) take(c, get(i + std::size_t(c)));
    for (int c = 0; c < 4; ++c) {
        t.sum[c] = Int(s[c]);
        t.squares[c] = Int(q[c]);
    }
    return t;
}

std::string typeName(io::StoredType t) {
    switch (t) {
    case io::StoredType::U8: return "u8";
    case io::StoredType::I8: return "i8";
    case io::StoredType::U16: return "u16";
    case io::StoredType::I16: return "i16";
    case io::StoredType::U32: return "u32";
    case io::StoredType::I32: return "i32";
    case io::StoredType::F32: return "f32";
    case io::StoredType::F64: return "f64";
    default: return "none";
    }
}

}  // namespace

PixelSums::PixelSums(int channels, bool grey)
    : channels_(grey ? 1 : channels),
      grey_(grey),
      sum_(std::size_t(channels_), 0),
      squares_(std::size_t(channels_), 0),
      fsum_(std::size_t(channels_), 0),
      fsquares_(std::size_t(channels_), 0),
      min_(std::size_t(channels_), std::numeric_limits<double>::infinity()),
      max_(std::size_t(channels_), -std::numeric_limits<double>::infinity()) {}

void PixelSums::add(const PixelSums& o) {
    for (std::size_t c = 0; c < sum_.size(); ++c) {
        sum_[c] += o.sum_[c];
        squares_[c] += o.squares_[c];
        fsum_[c] += o.fsum_[c];
        fsquares_[c] += o.fsquares_[c];
        min_[c] = std::min(min_[c], o.min_[c]);
        max_[c] = std::max(max_[c], o.max_[c]);
    }
    pixels_ += o.pixels_;
    frames_ += o.frames_;
    images_ += o.images_;
    exact_ = exact_ && o.exact_;
    dicom_ = dicom_ || o.dicom_;
    types_ |= o.types_;
}

void PixelSums::add(io::ImageVolume& v) {
    const int k = v.samples;
    if (k < 1 || k > 4) throw std::invalid_argument(std::to_string(k) + " samples per pixel (at most 4)");
    if (!grey_ && k != channels_)
        throw std::invalid_argument(std::to_string(k) + " channel(s), not " + std::to_string(channels_));
    const bool stored = sumsFromStored(v);
    if (!stored) io::ensureValues(v);
    const std::size_t frames = std::size_t(std::max(1, v.time)) * std::size_t(std::max(1, v.depth));
    const std::size_t pixels = frames * std::size_t(v.rows) * std::size_t(v.columns);
    const std::size_t count = pixels * std::size_t(k);
    types_ |= 1u << unsigned(v.storedType);
    dicom_ = dicom_ || v.meta.format == "DICOM";
    pixels_ += pixels;
    frames_ += frames;
    ++images_;
    const std::int64_t weight = grey_ ? kGreyTwelfths / k : 1;
    const double unit = grey_ ? double(kGreyTwelfths) : 1.0;
    const float* values = v.values.data();
    bool integral = true;
    for (std::size_t i = 0; i < count && !stored && integral; ++i)
        integral = std::floor(values[i]) == values[i] && std::abs(values[i]) < 4294967296.0f;
    if (integral) {
        const std::uint8_t* bytes = v.stored.data();
        const ImageTotals t =
            stored ? sumIntegers<std::int64_t>(count, k, grey_, weight, [&](std::size_t i) { return bytes[i]; })
                   : sumIntegers<Int>(count, k, grey_, weight, [&](std::size_t i) { return std::int64_t(values[i]); });
        for (std::size_t c = 0; c < std::size_t(channels_); ++c) {
            sum_[c] += t.sum[c];
            squares_[c] += t.squares[c];
            min_[c] = std::min(min_[c], double(t.lo[c]) / unit);
            max_[c] = std::max(max_[c], double(t.hi[c]) / unit);
        }
        return;
    }
    exact_ = false;
    const int outputs = grey_ ? 1 : k;
    for (int c = 0; c < outputs; ++c) {
        long double fs = 0, fq = 0;
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (std::size_t i = 0; i < count; i += std::size_t(k)) {
            long double x = 0;
            if (grey_) {
                for (int j = 0; j < k; ++j) x += values[i + std::size_t(j)];
                x /= k;
            } else {
                x = values[i + std::size_t(c)];
            }
            fs += x;
            fq += x * x;
            lo = std::min(lo, double(x));
            hi = std::max(hi, double(x));
        }
        fsum_[std::size_t(c)] += fs;
        fsquares_[std::size_t(c)] += fq;
        min_[std::size_t(c)] = std::min(min_[std::size_t(c)], lo);
        max_[std::size_t(c)] = std::max(max_[std::size_t(c)], hi);
    }
}

// Mean, standard deviation, range per channel; [0, 1] units for 8/16-bit images that are not DICOM.
PixelStats PixelSums::stats() const {
    PixelStats out;
    out.images = std::size_t(images_);
    out.channels = channels_;
    out.grey = grey_;
    out.pixelsPerChannel = pixels_;
    out.frames = frames_;
    out.exact = exact_;
    const bool oneType = types_ != 0 && (types_ & (types_ - 1)) == 0;
    const auto type = io::StoredType(std::countr_zero(types_));
    out.storedType = oneType ? typeName(type) : "mixed";
    const Int pixels = Int(pixels_);
    const long double unit = grey_ ? kGreyTwelfths : 1, nan = std::numeric_limits<long double>::quiet_NaN();
    for (std::size_t c = 0; c < std::size_t(channels_); ++c) {
        double mean, var;
        if (pixels_ == 0) {
            mean = var = double(nan);
        } else if (exact_) {
            // Exact: var = (n Q - S^2) / n^2 with integers; one rounding at the end.
            const Int s = sum_[c], q = squares_[c];
            mean = double(static_cast<long double>(s) / (static_cast<long double>(pixels) * unit));
            const Int numerator = pixels * q - s * s;
            var = double(static_cast<long double>(numerator) /
                         (static_cast<long double>(pixels) * static_cast<long double>(pixels) * unit * unit));
        } else {
            const long double s = static_cast<long double>(sum_[c]) / unit + fsum_[c];
            const long double q = static_cast<long double>(squares_[c]) / (unit * unit) + fsquares_[c];
            const long double m = s / static_cast<long double>(pixels);
            mean = double(m);
            var = double(std::max<long double>(0, q / static_cast<long double>(pixels) - m * m));
        }
        out.mean.push_back(mean);
        out.stdev.push_back(std::sqrt(var));
        out.min.push_back(min_[c]);
        out.max.push_back(max_[c]);
    }
    if (!dicom_ && oneType && (type == io::StoredType::U8 || type == io::StoredType::U16)) {
        const double scale = type == io::StoredType::U8 ? 255.0 : 65535.0;
        for (std::size_t c = 0; c < std::size_t(channels_); ++c) {
            out.unitMean.push_back(out.mean[c] / scale);
            out.unitStdev.push_back(out.stdev[c] / scale);
        }
    }
    return out;
}

namespace {

// The sums of each chunk of kChunk images, the chunks spread over threads. Chunks stay
// apart so that the total is summed in a fixed order whatever the thread count. Progress (and
// whether the user cancelled) is asked on the calling thread, at most every 100 ms.
std::vector<PixelSums> accumulateChunks(const Manifest& manifest, int channels, unsigned threads,
                                        const PixelStatsOptions& options, jobs::JobContext* job) {
    const std::size_t n = manifest.rows.size(), chunks = (n + kChunk - 1) / kChunk;
    std::vector<PixelSums> results(chunks, PixelSums(channels, options.grey));
    std::atomic<std::size_t> done{0};
    std::atomic<bool> cancelled{false};
    const auto caller = std::this_thread::get_id();
    std::chrono::steady_clock::time_point lastReport{};  // the first image reports
    const auto report = [&] {
        const auto now = std::chrono::steady_clock::now();
        if (now - lastReport < std::chrono::milliseconds(100)) return;
        lastReport = now;
        const std::size_t d = done.load();
        if (options.progress && !options.progress(d, n)) cancelled = true;
        if (job) {
            job->progress(double(d) / double(n), "pixel statistics: " + std::to_string(d) + "/" + std::to_string(n));
            if (job->isCancelled()) cancelled = true;
        }
    };
    util::ParallelOptions parallel;
    parallel.stopRequested = [&] { return cancelled.load(); };
    util::parallelFor(
        chunks, threads,
        [&](std::size_t chunk) {
            const std::size_t end = std::min(n, (chunk + 1) * kChunk);
            for (std::size_t i = chunk * kChunk; i < end && !cancelled.load(); ++i) {
                const fs::path file = manifest.resolve(manifest.rows[i]);
                io::ImageVolume v = readFrames(file);
                if (v.samples != channels && !options.grey)
                    throw DataError(file, std::to_string(v.samples) + " channel(s), but " +
                                              manifest.resolve(manifest.rows[0]).string() + " has " +
                                              std::to_string(channels));
                results[chunk].add(v);
                ++done;
                if (std::this_thread::get_id() == caller) report();
            }
        },
        parallel);
    if (cancelled) throw jobs::Cancelled();
    return results;
}

}  // namespace

PixelStats computePixelStats(const Manifest& manifest, const PixelStatsOptions& options, jobs::JobContext* job) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t n = manifest.rows.size();
    if (n == 0) throw DataError(manifest.file, "no images in the manifest");
    // The first image fixes the channel count.
    const int channels = readFrames(manifest.resolve(manifest.rows[0])).samples;
    const std::size_t chunks = (n + kChunk - 1) / kChunk;
    const auto threads = unsigned(std::min<std::size_t>(util::resolveThreads(options.threads), chunks));
    PixelSums total(channels, options.grey);
    for (const auto& r : accumulateChunks(manifest, channels, threads, options, job))
        total.add(r);  // fixed (chunk) order
    PixelStats out = total.stats();
    out.threads = threads;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (job) job->progress(1.0, "pixel statistics: " + std::to_string(n) + " images");
    return out;
}

nlohmann::json toJson(const LabelBalance& b) {
    nlohmann::json j;
    j["labels"] = b.labels;
    j["splits"] = nlohmann::json::array();
    for (std::size_t s = 0; s < b.splits.size(); ++s) {
        nlohmann::json counts = nlohmann::json::object();
        for (std::size_t l = 0; l < b.labels.size(); ++l) counts[b.labels[l]] = b.positives[s][l];
        j["splits"].push_back(
            {{"name", b.splits[s]}, {"images", b.images[s]}, {"unlabelled", b.unlabelled[s]}, {"positives", counts}});
    }
    return j;
}

nlohmann::json toJson(const PixelStats& s) {
    return {{"images", s.images},
            {"channels", s.channels},
            {"grey", s.grey},
            {"frames", s.frames},
            {"pixels_per_channel", s.pixelsPerChannel},
            {"exact", s.exact},
            {"stored_type", s.storedType},
            {"mean", s.mean},
            {"std", s.stdev},
            {"min", s.min},
            {"max", s.max},
            {"unit_mean", s.unitMean},
            {"unit_std", s.unitStdev},
            {"seconds", s.seconds},
            {"threads", s.threads}};
}

}  // namespace lumen::data
