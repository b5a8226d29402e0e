#include "data/dataset_stats.h"

#include "io/media_reader.h"
#include "io/read_error.h"
#include "jobs/job.h"
#include "util/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
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

constexpr std::size_t kChunk = 32;  // images per work item

struct Accumulator {
    std::vector<Int> sum, squares;            // images with integer values
    std::vector<long double> fsum, fsquares;  // images with other values
    std::vector<double> min, max;
    std::uint64_t pixels = 0;  // per channel
    std::uint64_t frames = 0;
    bool exact = true;
    std::set<io::StoredType> types;
    bool dicom = false;

    explicit Accumulator(int channels = 0)
        : sum(std::size_t(channels), 0),
          squares(std::size_t(channels), 0),
          fsum(std::size_t(channels), 0),
          fsquares(std::size_t(channels), 0),
          min(std::size_t(channels), std::numeric_limits<double>::infinity()),
          max(std::size_t(channels), -std::numeric_limits<double>::infinity()) {}

    void add(const Accumulator& o) {
        for (std::size_t c = 0; c < sum.size(); ++c) {
            sum[c] += o.sum[c];
            squares[c] += o.squares[c];
            fsum[c] += o.fsum[c];
            fsquares[c] += o.fsquares[c];
            min[c] = std::min(min[c], o.min[c]);
            max[c] = std::max(max[c], o.max[c]);
        }
        pixels += o.pixels;
        frames += o.frames;
        exact = exact && o.exact;
        types.insert(o.types.begin(), o.types.end());
        dicom = dicom || o.dicom;
    }
};

// Unsigned 8-bit samples whose stored bytes are the values: any non-DICOM 8-bit file, and
// grey DICOM without a modality rescale (DICOM colour is stored as YBR, its values are RGB).
bool sumsFromStored(const io::ImageVolume& v) {
    return v.storedType == io::StoredType::U8 && v.stored.size() >= v.elementCount() &&
           (v.meta.format != "DICOM" || (v.samples == 1 && !io::hasRescale(v.meta)));
}

// Every frame of the file (a cine's or multi-frame DICOM's too); a volume is refused. DICOM is
// read stored-first: the float values are made only when the sums need them.
io::ImageVolume readFrames(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw DataError(file, "file not found");
    try {
        io::DicomReadOptions storedFirst;
        storedFirst.values = io::PixelValues::StoredFirst;
        io::ImageVolume v = io::readMedia(file, storedFirst).volume;
        if (!sumsFromStored(v)) io::ensureValues(v);
        if (v.rows <= 0 || v.columns <= 0 || (v.values.empty() && v.stored.empty())) throw DataError(file, "no pixels");
        if (v.isVolume && v.depth > 1) throw DataError(file, "a volume, not a 2-D image");
        return v;
    } catch (const io::ReadError& e) {
        throw DataError(file, e.reason());
    }
}

// Adds one image (all its frames) to `acc`. Unsigned 8-bit files are summed straight from
// their stored bytes (sumsFromStored); everything else from the values, as integers when they all are.
void accumulate(const io::ImageVolume& v, Accumulator& acc) {
    const int channels = v.samples;
    const std::size_t frames = std::size_t(std::max(1, v.time)) * std::size_t(std::max(1, v.depth));
    const std::size_t count = frames * std::size_t(v.rows) * std::size_t(v.columns) * std::size_t(channels);
    const bool dicom = v.meta.format == "DICOM";
    acc.types.insert(v.storedType);
    acc.dicom = acc.dicom || dicom;
    acc.pixels += std::uint64_t(frames) * std::uint64_t(v.rows) * std::uint64_t(v.columns);
    acc.frames += frames;
    // Per image, 64-bit sums cannot overflow for 16-bit values below 2^32 pixels.
    std::uint64_t s[4] = {0, 0, 0, 0}, q[4] = {0, 0, 0, 0};
    if (sumsFromStored(v)) {
        std::uint32_t lo[4] = {255, 255, 255, 255}, hi[4] = {0, 0, 0, 0};
        const std::uint8_t* p = v.stored.data();
        for (std::size_t i = 0; i < count; i += std::size_t(channels))
            for (int c = 0; c < channels; ++c) {
                const std::uint32_t x = p[i + std::size_t(c)];
                s[c] += x;
                q[c] += x * x;
                lo[c] = std::min(lo[c], x);
                hi[c] = std::max(hi[c], x);
            }
        for (int c = 0; c < channels; ++c) {
            acc.sum[std::size_t(c)] += s[c];
            acc.squares[std::size_t(c)] += q[c];
            acc.min[std::size_t(c)] = std::min(acc.min[std::size_t(c)], double(lo[c]));
            acc.max[std::size_t(c)] = std::max(acc.max[std::size_t(c)], double(hi[c]));
        }
        return;
    }
    bool integral = true;
    for (std::size_t i = 0; i < count && integral; ++i) {
        const float x = v.values[i];
        integral = std::floor(x) == x && std::abs(x) < 4294967296.0f;
    }
    if (integral) {
        std::int64_t ss[4] = {0, 0, 0, 0};
        Int qq[4] = {0, 0, 0, 0};
        double lo[4], hi[4];
        std::fill(lo, lo + 4, std::numeric_limits<double>::infinity());
        std::fill(hi, hi + 4, -std::numeric_limits<double>::infinity());
        for (std::size_t i = 0; i < count; i += std::size_t(channels))
            for (int c = 0; c < channels; ++c) {
                const std::int64_t x = std::int64_t(v.values[i + std::size_t(c)]);
                ss[c] += x;
                qq[c] += Int(x) * Int(x);
                lo[c] = std::min(lo[c], double(x));
                hi[c] = std::max(hi[c], double(x));
            }
        for (int c = 0; c < channels; ++c) {
            acc.sum[std::size_t(c)] += ss[c];
            acc.squares[std::size_t(c)] += qq[c];
            acc.min[std::size_t(c)] = std::min(acc.min[std::size_t(c)], lo[c]);
            acc.max[std::size_t(c)] = std::max(acc.max[std::size_t(c)], hi[c]);
        }
        return;
    }
    acc.exact = false;
    for (int c = 0; c < channels; ++c) {
        long double fs = 0, fq = 0;
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (std::size_t i = std::size_t(c); i < count; i += std::size_t(channels)) {
            const long double x = v.values[i];
            fs += x;
            fq += x * x;
            lo = std::min(lo, double(x));
            hi = std::max(hi, double(x));
        }
        acc.fsum[std::size_t(c)] += fs;
        acc.fsquares[std::size_t(c)] += fq;
        acc.min[std::size_t(c)] = std::min(acc.min[std::size_t(c)], lo);
        acc.max[std::size_t(c)] = std::max(acc.max[std::size_t(c)], hi);
    }
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

// The accumulator of each chunk of kChunk images, the chunks spread over threads. Chunks stay
// apart so that the total is summed in a fixed order whatever the thread count. Progress (and
// whether the user cancelled) is asked on the calling thread, at most every 100 ms.
std::vector<Accumulator> accumulateChunks(const Manifest& manifest, int channels, unsigned threads,
                                          const PixelStatsOptions& options, jobs::JobContext* job) {
    const std::size_t n = manifest.rows.size(), chunks = (n + kChunk - 1) / kChunk;
    std::vector<Accumulator> results(chunks, Accumulator(channels));
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
                const io::ImageVolume v = readFrames(file);
                if (v.samples != channels)
                    throw DataError(file, std::to_string(v.samples) + " channel(s), but " +
                                              manifest.resolve(manifest.rows[0]).string() + " has " +
                                              std::to_string(channels));
                accumulate(v, results[chunk]);
                ++done;
                if (std::this_thread::get_id() == caller) report();
            }
        },
        parallel);
    if (cancelled) throw jobs::Cancelled();
    return results;
}

// Mean, standard deviation, range per channel from the total; [0, 1] units for 8/16-bit
// images that are not DICOM.
void finishStats(const Accumulator& total, int channels, PixelStats& out) {
    out.channels = channels;
    out.pixelsPerChannel = total.pixels;
    out.frames = total.frames;
    out.exact = total.exact;
    out.storedType = total.types.size() == 1 ? typeName(*total.types.begin()) : "mixed";
    const Int pixels = Int(total.pixels);
    for (std::size_t c = 0; c < std::size_t(channels); ++c) {
        double mean, var;
        if (total.exact) {
            // Exact: var = (n Q - S^2) / n^2 with integers; one rounding at the end.
            const Int s = total.sum[c], q = total.squares[c];
            mean = double(static_cast<long double>(s) / static_cast<long double>(pixels));
            const Int numerator = pixels * q - s * s;
            var = double(static_cast<long double>(numerator) /
                         (static_cast<long double>(pixels) * static_cast<long double>(pixels)));
        } else {
            const long double s = static_cast<long double>(total.sum[c]) + total.fsum[c];
            const long double q = static_cast<long double>(total.squares[c]) + total.fsquares[c];
            const long double m = s / static_cast<long double>(pixels);
            mean = double(m);
            var = double(std::max<long double>(0, q / static_cast<long double>(pixels) - m * m));
        }
        out.mean.push_back(mean);
        out.stdev.push_back(std::sqrt(var));
        out.min.push_back(total.min[c]);
        out.max.push_back(total.max[c]);
    }
    if (!total.dicom && total.types.size() == 1 &&
        (*total.types.begin() == io::StoredType::U8 || *total.types.begin() == io::StoredType::U16)) {
        const double scale = *total.types.begin() == io::StoredType::U8 ? 255.0 : 65535.0;
        for (std::size_t c = 0; c < std::size_t(channels); ++c) {
            out.unitMean.push_back(out.mean[c] / scale);
            out.unitStdev.push_back(out.stdev[c] / scale);
        }
    }
}

}  // namespace

PixelStats computePixelStats(const Manifest& manifest, const PixelStatsOptions& options, jobs::JobContext* job) {
    const auto t0 = std::chrono::steady_clock::now();
    PixelStats out;
    const std::size_t n = manifest.rows.size();
    out.images = n;
    if (n == 0) throw DataError(manifest.file, "no images in the manifest");
    // The first image fixes the channel count.
    const int channels = readFrames(manifest.resolve(manifest.rows[0])).samples;
    const std::size_t chunks = (n + kChunk - 1) / kChunk;
    out.threads = unsigned(std::min<std::size_t>(util::resolveThreads(options.threads), chunks));
    Accumulator total(channels);
    for (const auto& r : accumulateChunks(manifest, channels, out.threads, options, job))
        total.add(r);  // fixed (chunk) order
    finishStats(total, channels, out);
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
