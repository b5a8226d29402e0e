#pragma once
// Internal to core/demo: what the demo's generators share. Randomness from mt19937_64 streams
// turned into numbers by our own code, locale-independent text, the output folder with its
// progress and cancellation, and the parallel loop. Not installed; no other target includes it.

#include "demo/demo_workspace.h"
#include "jobs/job.h"
#include "util/atomic_file.h"
#include "util/parallel.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numbers>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>
#include <atomic>
#include <charconv>
#include <fstream>
#include <mutex>
#include <random>

namespace lumen::demo::detail {

namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------
// Randomness

inline std::uint64_t splitMix(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Independent streams per (section, item), so items can be drawn in any order or thread.
enum Stream : std::uint64_t {
    kChestPlan = 1,
    kChestPixels,
    kCtPlan,
    kCtVoxels,
    kAngioPlan,
    kAngioPixels,
    kPredictions
};

inline std::uint64_t streamSeed(std::uint64_t seed, Stream stream, std::uint64_t index = 0) {
    return splitMix(splitMix(splitMix(seed) ^ (stream * 0xD1B54A32D192ED03ull)) + index);
}

class Rng {
public:
    explicit Rng(std::uint64_t seed) : engine_(seed) {}

    std::uint64_t bits() { return engine_(); }
    /// [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// Integer in [lo, hi].
    int integer(int lo, int hi) {
        const int v = lo + static_cast<int>(std::floor(uniform() * (hi - lo + 1)));
        return std::min(v, hi);
    }
    bool chance(double p) { return uniform() < p; }
    /// Box–Muller: portable, unlike std::normal_distribution.
    double normal(double mean = 0.0, double sd = 1.0) {
        if (hasSpare_) {
            hasSpare_ = false;
            return mean + sd * spare_;
        }
        const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        const double a = 2.0 * std::numbers::pi * u2;
        spare_ = r * std::sin(a);
        hasSpare_ = true;
        return mean + sd * r * std::cos(a);
    }
    /// Cheap unit-variance bell-shaped noise (sum of four 16-bit uniforms) for per-pixel
    /// noise, where Box–Muller's transcendental calls would dominate the run time.
    float noise() {
        const std::uint64_t b = engine_();
        const unsigned sum = static_cast<unsigned>(b & 0xFFFF) + static_cast<unsigned>((b >> 16) & 0xFFFF) +
                             static_cast<unsigned>((b >> 32) & 0xFFFF) + static_cast<unsigned>(b >> 48);
        constexpr float kScale = 1.7320508f / 65535.0f;  // sqrt(3): var of the sum is 4/12
        return (static_cast<float>(sum) - 2.0f * 65535.0f) * kScale;
    }
    template <typename T>
    void shuffle(std::vector<T>& v) {
        for (std::size_t i = v.size(); i > 1; --i)
            std::swap(v[i - 1], v[static_cast<std::size_t>(integer(0, static_cast<int>(i) - 1))]);
    }

private:
    std::mt19937_64 engine_;
    double spare_ = 0.0;
    bool hasSpare_ = false;
};

inline double clampd(double v, double lo, double hi) { return std::min(std::max(v, lo), hi); }
inline double smoothstep(double t) {
    t = clampd(t, 0.0, 1.0);
    return t * t * (3.0 - 2.0 * t);
}

// ------------------------------------------------------------------------------------------
// Text: locale-independent number formatting (a GUI may have called setlocale).

inline std::string fixed(double v, int digits) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, digits);
    return std::string(buf, r.ptr);
}
inline std::string shortest(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}
inline std::string padded(long long v, int width) {
    std::string s = std::to_string(v);
    if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<std::size_t>(width) - s.size(), '0');
    return s;
}
inline std::string join(const std::vector<std::string>& parts, const std::string& sep) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
    return out;
}

// ------------------------------------------------------------------------------------------
// Output: files, progress and cancellation.

class Output {
public:
    Output(fs::path root, jobs::JobContext* ctx) : root_(std::move(root)), ctx_(ctx) {}

    const fs::path& root() const { return root_; }

    void makeDir(const fs::path& rel) {
        const fs::path dir = rel.empty() ? root_ : root_ / rel;
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec || !fs::is_directory(dir))
            throw std::runtime_error("demo workspace: cannot create directory " + dir.string() + ": " +
                                     (ec ? ec.message() : std::string("not a directory")));
    }

    void writeBytes(const fs::path& rel, const void* data, std::size_t size) {
        const fs::path path = root_ / rel;
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (!f) throw std::runtime_error("demo workspace: cannot write " + path.string() + ": " + std::strerror(errno));
        const bool ok = (size == 0 || std::fwrite(data, 1, size, f) == size);
        const int writeErrno = errno;
        if (std::fclose(f) != 0 || !ok)
            throw std::runtime_error("demo workspace: cannot write " + path.string() + ": " +
                                     std::strerror(ok ? errno : writeErrno));
        record(rel);
    }
    void writeText(const fs::path& rel, const std::string& text) { writeBytes(rel, text.data(), text.size()); }

    void record(const fs::path& rel) {
        std::lock_guard lock(mutex_);
        files_.insert(fs::path(rel.generic_string()));
    }
    std::vector<fs::path> files() const {
        std::lock_guard lock(mutex_);
        return {files_.begin(), files_.end()};
    }

    void progress(double fraction, const std::string& message) {
        if (ctx_) ctx_->progress(fraction, message);
    }
    void checkCancelled() const {
        if (ctx_) ctx_->throwIfCancelled();
    }
    bool cancelled() const { return ctx_ && ctx_->isCancelled(); }

private:
    fs::path root_;
    jobs::JobContext* ctx_;
    mutable std::mutex mutex_;
    std::set<fs::path> files_;  // path order (by component), as a sorted vector<path> has
};

// util::parallelFor on up to 4 threads, stopping when the demo is cancelled (checked before
// every item); the calling thread alone reports progress.
inline void parallelFor(int count, Output& out, const std::function<void(int)>& body,
                        const std::function<void(int done)>& reportDone) {
    util::ParallelOptions options;
    options.progress = [&](std::size_t done) { reportDone(static_cast<int>(done)); };
    options.stopRequested = [&] { return out.cancelled(); };
    util::parallelFor(
        static_cast<std::size_t>(std::max(0, count)), std::min(util::resolveThreads(0), 4u),
        [&](std::size_t i) { body(static_cast<int>(i)); }, options);
    out.checkCancelled();
}

// Adds smooth low-frequency noise: a coarse grid of normals, bilinearly interpolated.
inline void addSmoothNoise(std::vector<float>& px, int width, int height, int cells, double sd, Rng& rng) {
    const int g = cells + 1;
    std::vector<double> grid(static_cast<std::size_t>(g) * g);
    for (auto& v : grid) v = rng.normal(0.0, sd);
    for (int y = 0; y < height; ++y) {
        const double gy = (y + 0.5) / height * cells;
        const int iy = std::min(cells - 1, static_cast<int>(gy));
        const double fy = gy - iy;
        for (int x = 0; x < width; ++x) {
            const double gx = (x + 0.5) / width * cells;
            const int ix = std::min(cells - 1, static_cast<int>(gx));
            const double fx = gx - ix;
            const auto G = [&](int a, int b) { return grid[static_cast<std::size_t>(b) * g + a]; };
            const double v = (1 - fy) * ((1 - fx) * G(ix, iy) + fx * G(ix + 1, iy)) +
                             fy * ((1 - fx) * G(ix, iy + 1) + fx * G(ix + 1, iy + 1));
            px[static_cast<std::size_t>(y) * width + x] += static_cast<float>(v);
        }
    }
}

inline std::uint8_t toByte(double v) { return static_cast<std::uint8_t>(clampd(std::floor(v + 0.5), 0.0, 255.0)); }

// The generators, one per modality (demo_chest.cpp, demo_ct.cpp, demo_angio.cpp).
void writeChest(const DemoOptions& o, Output& out, double p0, double p1);
int writeCt(const DemoOptions& o, Output& out, double p0, double p1);
std::vector<std::string> drawStudyIds(std::uint64_t seed, int count);
int writeAngio(const DemoOptions& o, const std::vector<std::string>& ids, Output& out, double p0, double p1);
int writePredictions(const DemoOptions& o, const std::vector<std::string>& ids, Output& out, double p0, double p1);

}  // namespace lumen::demo::detail
