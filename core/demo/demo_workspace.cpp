// The demo-workspace generator. Every random number comes from a std::mt19937_64 stream
// derived from the seed and is turned into uniforms/normals by our own code, never by
// std::*_distribution (whose output is implementation-defined), and all pixels are drawn by
// plain scalar code rather than OpenCV filters (whose SIMD paths may differ per CPU): so the
// same options give the same bytes on any machine with the same zlib/libpng.
#include "demo/demo_workspace.h"
#include "io/codecs.h"

#include "jobs/job.h"
#include "util/parallel.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <nifti2_io.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <numbers>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

namespace lumen::demo {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestName = "demo.json";
constexpr const char* kManifestFormat = "lumen-demo";
constexpr int kManifestVersion = 1;
// Only files under these folders are ever deleted as stale leftovers of an earlier run.
const std::array<std::string, 4> kDemoFolders = {"chest_xray", "ct", "angio", "predictions"};

// ------------------------------------------------------------------------------------------
// Randomness

std::uint64_t splitMix(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Independent streams per (section, item), so items can be drawn in any order or thread.
enum Stream : std::uint64_t { kChestPlan = 1, kChestPixels, kCtPlan, kCtVoxels, kAngioPlan,
                              kAngioPixels, kPredictions };

std::uint64_t streamSeed(std::uint64_t seed, Stream stream, std::uint64_t index = 0) {
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

double clampd(double v, double lo, double hi) { return std::min(std::max(v, lo), hi); }
double smoothstep(double t) {
    t = clampd(t, 0.0, 1.0);
    return t * t * (3.0 - 2.0 * t);
}

// ------------------------------------------------------------------------------------------
// Text: locale-independent number formatting (a GUI may have called setlocale).

std::string fixed(double v, int digits) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, digits);
    return std::string(buf, r.ptr);
}
std::string shortest(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}
std::string padded(long long v, int width) {
    std::string s = std::to_string(v);
    if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<std::size_t>(width) - s.size(), '0');
    return s;
}
std::string join(const std::vector<std::string>& parts, const std::string& sep) {
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
        if (!f)
            throw std::runtime_error("demo workspace: cannot write " + path.string() + ": " +
                                     std::strerror(errno));
        const bool ok = (size == 0 || std::fwrite(data, 1, size, f) == size);
        const int writeErrno = errno;
        if (std::fclose(f) != 0 || !ok)
            throw std::runtime_error("demo workspace: cannot write " + path.string() + ": " +
                                     std::strerror(ok ? errno : writeErrno));
        record(rel);
    }
    void writeText(const fs::path& rel, const std::string& text) {
        writeBytes(rel, text.data(), text.size());
    }

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
void parallelFor(int count, Output& out, const std::function<void(int)>& body,
                 const std::function<void(int done)>& reportDone) {
    util::ParallelOptions options;
    options.progress = [&](std::size_t done) { reportDone(static_cast<int>(done)); };
    options.stopRequested = [&] { return out.cancelled(); };
    util::parallelFor(static_cast<std::size_t>(std::max(0, count)), std::min(util::resolveThreads(0), 4u),
                      [&](std::size_t i) { body(static_cast<int>(i)); }, options);
    out.checkCancelled();
}

// ------------------------------------------------------------------------------------------
// Chest X-rays (NIH ChestX-ray14 layout)

const std::array<std::string, 14> kNihFindings = {
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"};
enum Finding { kAtelectasis, kCardiomegaly, kEffusion, kInfiltration, kMass, kNodule, kPneumonia,
               kPneumothorax, kConsolidation, kEdema, kEmphysema, kFibrosis, kPleuralThickening, kHernia };
// Relative frequencies, roughly in NIH's order of prevalence.
constexpr std::array<double, 14> kFindingWeights = {10, 6, 10, 12, 6, 7, 4, 6, 5, 4, 4, 4, 5, 2};
constexpr int kImagesPerFolder = 10000;
constexpr double kChestFieldOfViewMm = 360.0;

struct ChestImage {
    std::string name;
    std::string folder;  // images_001, ...
    int patient = 0, followUp = 0, age = 0;
    char gender = 'M';
    std::string view;
    std::vector<int> findings;  // sorted indices into kNihFindings
};

struct Box {
    int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
    bool empty() const { return x1 < x0 || y1 < y0; }
    void add(int x, int y) {
        x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
    }
    void add(const Box& b) {
        if (!b.empty()) add(b.x0, b.y0), add(b.x1, b.y1);
    }
};

struct PlantedBox {
    int finding = 0;
    Box box;
};

std::vector<ChestImage> planChestImages(const DemoOptions& o) {
    Rng rng(streamSeed(o.seed, kChestPlan));
    std::vector<ChestImage> images;
    const double totalWeight = [] {
        double s = 0;
        for (double w : kFindingWeights) s += w;
        return s;
    }();
    int patient = 0;
    while (static_cast<int>(images.size()) < o.chestImages) {
        ++patient;
        // Most patients have one to three studies, a few many (as in NIH).
        const double r = rng.uniform();
        const int followUps = r < 0.35 ? 1 : r < 0.6 ? 2 : r < 0.8 ? 3 : rng.integer(4, 8);
        const int age = rng.integer(18, 88);
        const char gender = rng.chance(0.56) ? 'M' : 'F';
        for (int f = 0; f < followUps && static_cast<int>(images.size()) < o.chestImages; ++f) {
            ChestImage img;
            img.patient = patient;
            img.followUp = f;
            img.age = std::min(95, age + f / 3);
            img.gender = gender;
            img.view = rng.chance(0.62) ? "PA" : "AP";
            img.name = padded(patient, 8) + "_" + padded(f, 3) + ".png";
            img.folder = "images_" + padded(static_cast<long long>(images.size()) / kImagesPerFolder + 1, 3);
            if (!rng.chance(0.30)) {
                const double c = rng.uniform();
                const int n = c < 0.55 ? 1 : c < 0.85 ? 2 : 3;
                std::vector<double> w(kFindingWeights.begin(), kFindingWeights.end());
                double left = totalWeight;
                for (int k = 0; k < n; ++k) {
                    double pick = rng.uniform() * left;
                    std::size_t idx = 0;
                    while (idx + 1 < w.size() && (w[idx] == 0.0 || pick >= w[idx])) {
                        pick -= w[idx];
                        ++idx;
                    }
                    while (w[idx] == 0.0 && idx > 0) --idx;  // rounding at the end of the list
                    img.findings.push_back(static_cast<int>(idx));
                    left -= w[idx];
                    w[idx] = 0.0;
                }
            }
            images.push_back(std::move(img));
        }
    }
    // Every finding should appear at least once so each class has a positive to learn from.
    if (!images.empty()) {
        for (int f = 0; f < 14; ++f) {
            const bool present = std::any_of(images.begin(), images.end(), [&](const ChestImage& im) {
                return std::find(im.findings.begin(), im.findings.end(), f) != im.findings.end();
            });
            if (present) continue;
            auto& im = images[static_cast<std::size_t>(f * 37 + 11) % images.size()];
            if (im.findings.size() >= 3) im.findings.pop_back();
            im.findings.push_back(f);
        }
    }
    for (auto& im : images) std::sort(im.findings.begin(), im.findings.end());
    return images;
}

class Canvas {
public:
    Canvas(int size, float fill) : size_(size), px_(static_cast<std::size_t>(size) * size, fill) {}
    int size() const { return size_; }
    float& at(int x, int y) { return px_[static_cast<std::size_t>(y) * size_ + x]; }
    std::vector<float>& pixels() { return px_; }

    // Adds amp * weight(x, y) over the box centred at (cx, cy) with half-extents (ex, ey);
    // returns the box of pixels whose weight is at least one half (the "planted" region).
    template <typename Weight>
    Box apply(double cx, double cy, double ex, double ey, double amp, Weight&& weight) {
        Box box;
        const int xa = std::max(0, static_cast<int>(std::floor(cx - ex)));
        const int xb = std::min(size_ - 1, static_cast<int>(std::ceil(cx + ex)));
        const int ya = std::max(0, static_cast<int>(std::floor(cy - ey)));
        const int yb = std::min(size_ - 1, static_cast<int>(std::ceil(cy + ey)));
        for (int y = ya; y <= yb; ++y)
            for (int x = xa; x <= xb; ++x) {
                const double w = weight(x + 0.5, y + 0.5);
                if (w <= 0.0) continue;
                at(x, y) += static_cast<float>(amp * w);
                if (w >= 0.5) box.add(x, y);
            }
        return box;
    }

private:
    int size_;
    std::vector<float> px_;
};

struct Ellipse {
    double cx, cy, rx, ry, angle = 0.0;
    // Normalised radius: 1 on the outline.
    double radius(double x, double y) const {
        const double c = std::cos(angle), s = std::sin(angle);
        const double dx = x - cx, dy = y - cy;
        const double u = (dx * c + dy * s) / rx, v = (-dx * s + dy * c) / ry;
        return std::sqrt(u * u + v * v);
    }
    // Soft-edged inside weight; `soft` is the half-width of the edge in normalised radius.
    double weight(double x, double y, double soft) const {
        return smoothstep(((1.0 + soft) - radius(x, y)) / (2.0 * soft));
    }
    double extentX(double grow) const {
        return grow * std::hypot(rx * std::cos(angle), ry * std::sin(angle)) + 1.0;
    }
    double extentY(double grow) const {
        return grow * std::hypot(rx * std::sin(angle), ry * std::cos(angle)) + 1.0;
    }
};

Box drawEllipse(Canvas& c, const Ellipse& e, double amp, double soft, const Ellipse* clip = nullptr,
                double clipSoft = 0.05) {
    return c.apply(e.cx, e.cy, e.extentX(1.0 + soft), e.extentY(1.0 + soft), amp, [&](double x, double y) {
        double w = e.weight(x, y, soft);
        if (clip && w > 0.0) w *= clip->weight(x, y, clipSoft);
        return w;
    });
}

Box drawGaussian(Canvas& c, double cx, double cy, double sx, double sy, double amp,
                 const Ellipse* clip = nullptr) {
    return c.apply(cx, cy, 3.0 * sx, 3.0 * sy, amp, [&](double x, double y) {
        const double u = (x - cx) / sx, v = (y - cy) / sy;
        double w = std::exp(-0.5 * (u * u + v * v));
        if (clip && w > 1e-3) w *= clip->weight(x, y, 0.05);
        return w;
    });
}

Box drawLine(Canvas& c, double x0, double y0, double x1, double y1, double sigma, double amp,
             const Ellipse* clip) {
    const double dx = x1 - x0, dy = y1 - y0, len2 = std::max(1e-9, dx * dx + dy * dy);
    const double ex = std::abs(dx) / 2 + 3 * sigma, ey = std::abs(dy) / 2 + 3 * sigma;
    return c.apply((x0 + x1) / 2, (y0 + y1) / 2, ex, ey, amp, [&](double x, double y) {
        const double t = clampd(((x - x0) * dx + (y - y0) * dy) / len2, 0.0, 1.0);
        const double d = std::hypot(x - (x0 + t * dx), y - (y0 + t * dy));
        double w = std::exp(-0.5 * (d / sigma) * (d / sigma));
        if (clip && w > 1e-3) w *= clip->weight(x, y, 0.05);
        return w;
    });
}

// Adds smooth low-frequency noise: a coarse grid of normals, bilinearly interpolated.
void addSmoothNoise(std::vector<float>& px, int width, int height, int cells, double sd, Rng& rng) {
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

std::uint8_t toByte(double v) { return static_cast<std::uint8_t>(clampd(std::floor(v + 0.5), 0.0, 255.0)); }

// Draws one chest radiograph (PA-like: patient's right lung on the image's left, bright =
// dense) with its findings; returns the planted region of each finding.
std::vector<PlantedBox> renderChest(const ChestImage& im, int size, std::uint64_t seed,
                                    std::vector<std::uint8_t>& out) {
    Rng rng(seed);
    const double s = size, k = size / 256.0;
    const auto has = [&](int f) {
        return std::find(im.findings.begin(), im.findings.end(), f) != im.findings.end();
    };
    const auto jitter = [&](double amount) { return rng.uniform(-amount, amount) * s; };

    Canvas c(size, 14.0f);
    drawEllipse(c, {0.5 * s + jitter(0.01), 0.57 * s, 0.46 * s, 0.56 * s}, 135.0, 0.05);
    drawGaussian(c, 0.5 * s, 0.5 * s, 0.09 * s, 0.35 * s, 20.0);        // mediastinum
    drawEllipse(c, {0.5 * s, 0.5 * s, 0.026 * s, 0.6 * s}, 18.0, 0.4);  // spine
    for (int side = -1; side <= 1; side += 2)                           // clavicles
        drawLine(c, 0.5 * s + side * 0.06 * s, 0.19 * s + jitter(0.005), 0.5 * s + side * 0.3 * s,
                 0.14 * s + jitter(0.01), 2.5 * k, 26.0, nullptr);

    const bool emphysema = has(kEmphysema);
    const double inflate = emphysema ? 1.08 : 1.0;
    std::array<Ellipse, 2> lungs = {
        Ellipse{0.3 * s + jitter(0.01), 0.45 * s + jitter(0.01), 0.15 * s * (1 + rng.uniform(-0.05, 0.05)),
                0.29 * s * inflate, 0.06},
        Ellipse{0.7 * s + jitter(0.01), 0.455 * s + jitter(0.01), 0.14 * s * (1 + rng.uniform(-0.05, 0.05)),
                0.28 * s * inflate, -0.06}};
    const std::array<int, 2> outward = {-1, +1};  // lateral direction of each lung in x
    Box lungBox;
    for (const auto& L : lungs) lungBox.add(drawEllipse(c, L, emphysema ? -106.0 : -80.0, 0.07));
    // Ribs: thin bright bands across each lung, sloping down laterally.
    const double ribPeriod = 0.075 * s * rng.uniform(0.92, 1.08), ribPhase = rng.uniform(0, 1);
    for (const auto& L : lungs)
        c.apply(L.cx, L.cy, L.rx + 2, L.ry + 2, 14.0, [&](double x, double y) {
            const double w = L.weight(x, y, 0.07);
            if (w <= 0.0) return 0.0;
            const double yy = y + 0.22 * std::abs(x - 0.5 * s);
            const double p = 0.5 + 0.5 * std::sin(2 * std::numbers::pi * (yy / ribPeriod + ribPhase));
            return w * p * p * p * p * p * p;
        });

    Ellipse heart{0.54 * s + jitter(0.01), 0.625 * s + jitter(0.008), 0.115 * s, 0.085 * s,
                  rng.uniform(-0.15, 0.05)};
    if (has(kCardiomegaly)) heart.rx *= 1.5, heart.ry *= 1.3, heart.cy += 0.015 * s;
    const Box heartBox = drawEllipse(c, heart, 48.0, 0.1);

    std::vector<PlantedBox> planted;
    const auto plant = [&](int f, const Box& b) { planted.push_back({f, b}); };
    // A point inside a lung in lung-relative coordinates: u lateral (+ outward), v from apex
    // (-1) to base (+1).
    const auto inLung = [&](int side, double u0, double u1, double v0, double v1) {
        const Ellipse& L = lungs[static_cast<std::size_t>(side)];
        const double u = rng.uniform(u0, u1), v = rng.uniform(v0, v1);
        return std::pair{L.cx + u * L.rx * outward[static_cast<std::size_t>(side)], L.cy + v * L.ry};
    };
    for (int f : im.findings) {
        const int side = rng.integer(0, 1);
        const Ellipse& L = lungs[static_cast<std::size_t>(side)];
        const int out = outward[static_cast<std::size_t>(side)];
        switch (f) {
            case kAtelectasis: {  // plate-like band in the lower-mid zone
                const auto [x, y] = inLung(side, -0.3, 0.4, 0.2, 0.5);
                plant(f,
                      drawEllipse(c, {x, y, 0.55 * L.rx, rng.uniform(4.5, 6.5) * k, rng.uniform(-0.25, 0.25)},
                                  64.0, 0.3, &L));
                break;
            }
            case kCardiomegaly: plant(f, heartBox); break;
            case kEffusion: {  // fluid filling the costophrenic angle, meniscus rising laterally
                const Ellipse pleura{L.cx, L.cy, L.rx * 1.04, L.ry * 1.03, L.angle};
                plant(f, drawEllipse(c,
                                     {L.cx + 0.1 * L.rx * out, L.cy + 0.92 * L.ry, 1.1 * L.rx, 0.32 * L.ry,
                                      -0.2 * out},
                                     80.0, 0.12, &pleura));
                break;
            }
            case kInfiltration: {  // patchy hazy clusters
                const auto [x, y] = inLung(side, -0.4, 0.4, -0.3, 0.35);
                Box b;
                const int n = rng.integer(6, 9);
                for (int i = 0; i < n; ++i)
                    b.add(drawGaussian(c, x + rng.uniform(-0.45, 0.45) * L.rx,
                                       y + rng.uniform(-0.25, 0.25) * L.ry, rng.uniform(3.5, 7.0) * k,
                                       rng.uniform(3.5, 7.0) * k, rng.uniform(26, 38), &L));
                plant(f, b);
                break;
            }
            case kMass: {
                const auto [x, y] = inLung(side, -0.4, 0.4, -0.45, 0.45);
                const double r = rng.uniform(12, 18) * k;
                plant(f,
                      drawEllipse(c, {x, y, r, r * rng.uniform(0.85, 1.1), rng.uniform(0, 3)}, 90.0, 0.12));
                break;
            }
            case kNodule: {
                const auto [x, y] = inLung(side, -0.55, 0.55, -0.6, 0.55);
                const double r = rng.uniform(3.5, 6.0) * k;
                plant(f, drawEllipse(c, {x, y, r, r}, 88.0, 0.22));
                break;
            }
            case kPneumonia: {  // fuzzy lower-zone airspace opacity
                const auto [x, y] = inLung(side, -0.35, 0.35, 0.1, 0.45);
                Box b = drawGaussian(c, x, y, rng.uniform(11, 16) * k, rng.uniform(9, 14) * k, 60.0, &L);
                for (int i = 0; i < 2; ++i)
                    b.add(drawGaussian(c, x + rng.uniform(-14, 14) * k, y + rng.uniform(-10, 10) * k, 6 * k,
                                       6 * k, 30.0, &L));
                plant(f, b);
                break;
            }
            case kPneumothorax:  // air (darker than lung) at the apex, sharp pleural edge
                plant(f, drawEllipse(c,
                                     {L.cx + 0.25 * L.rx * out, L.cy - 0.72 * L.ry, 0.75 * L.rx, 0.32 * L.ry,
                                      0.25 * out},
                                     -52.0, 0.06, &L, 0.03));
                break;
            case kConsolidation: {  // dense, homogeneous, sharp-edged
                const auto [x, y] = inLung(side, -0.3, 0.35, -0.1, 0.35);
                plant(f,
                      drawEllipse(c, {x, y, 0.5 * L.rx, 0.2 * L.ry, rng.uniform(-0.3, 0.3)}, 80.0, 0.05, &L));
                break;
            }
            case kEdema: {  // bilateral perihilar ("bat wing") haze
                Box b;
                for (std::size_t i = 0; i < 2; ++i)
                    b.add(drawGaussian(c, lungs[i].cx - 0.45 * lungs[i].rx * outward[i],
                                       lungs[i].cy + 0.05 * lungs[i].ry, 0.42 * lungs[i].rx,
                                       0.3 * lungs[i].ry, 44.0, &lungs[i]));
                plant(f, b);
                break;
            }
            case kEmphysema: plant(f, lungBox); break;  // drawn above: hyperlucent, hyperinflated
            case kFibrosis: {                           // reticular strands in the lower periphery
                const double x = L.cx + 0.55 * L.rx * out, y = L.cy + 0.45 * L.ry;
                Box b;
                const int n = rng.integer(9, 13);
                for (int i = 0; i < n; ++i) {
                    const double sx = x + rng.uniform(-0.3, 0.3) * L.rx,
                                 sy = y + rng.uniform(-0.25, 0.25) * L.ry;
                    const double a = rng.uniform(0, 2 * std::numbers::pi), len = rng.uniform(8, 20) * k;
                    b.add(drawLine(c, sx, sy, sx + len * std::cos(a), sy + len * std::sin(a), 0.9 * k, 40.0,
                                   &L));
                }
                plant(f, b);
                break;
            }
            case kPleuralThickening:  // band along the upper lateral chest wall
                plant(f, c.apply(L.cx, L.cy, L.rx + 2, L.ry + 2, 60.0, [&](double x, double y) {
                    const double d = L.radius(x, y);
                    const double band =
                        clampd((d - 0.84) / 0.05, 0.0, 1.0) * clampd((1.0 - d) / 0.04, 0.0, 1.0);
                    const double lateral = (x - L.cx) * out / L.rx, v = (y - L.cy) / L.ry;
                    return band * clampd((lateral - 0.15) / 0.3, 0.0, 1.0) *
                           clampd((0.45 - v) / 0.3, 0.0, 1.0);
                }));
                break;
            case kHernia: {  // retrocardiac mass with an air-fluid level
                const double x = 0.5 * s + jitter(0.02), y = 0.5 * (lungs[0].cy + lungs[1].cy) + 0.85 * L.ry;
                const double r = rng.uniform(15, 19) * k;
                const Box b = drawEllipse(c, {x, y, r, r * 0.9}, 40.0, 0.15);
                drawEllipse(c, {x, y - 0.35 * r, 0.6 * r, 0.3 * r}, -55.0, 0.2);
                plant(f, b);
                break;
            }
            default: break;
        }
    }

    addSmoothNoise(c.pixels(), size, size, 8, 5.0, rng);
    out.resize(static_cast<std::size_t>(size) * size);
    auto& px = c.pixels();
    for (std::size_t i = 0; i < px.size(); ++i) out[i] = toByte(px[i] + 2.5f * rng.noise());
    return planted;
}

std::vector<std::uint8_t> encodePng(const std::vector<std::uint8_t>& pixels, int size, const fs::path& path) {
    std::vector<std::uint8_t> png;
    try {
        const cv::Mat mat(size, size, CV_8UC1, const_cast<std::uint8_t*>(pixels.data()));
        if (!io::codecs().imencode(".png", mat, png, {cv::IMWRITE_PNG_COMPRESSION, 6}))
            throw std::runtime_error("encoder refused");
    } catch (const std::exception& e) {
        throw std::runtime_error("demo workspace: cannot encode " + path.string() + ": " + e.what());
    }
    return png;
}

void writeChest(const DemoOptions& o, Output& out, double p0, double p1) {
    out.progress(p0, "chest X-rays: planning");
    const auto images = planChestImages(o);
    const fs::path base = "chest_xray";
    std::set<std::string> folders;
    for (const auto& im : images) folders.insert(im.folder);
    for (const auto& f : folders) out.makeDir(base / f);
    if (images.empty()) out.makeDir(base);

    std::vector<std::vector<PlantedBox>> boxes(images.size());
    const int n = static_cast<int>(images.size());
    parallelFor(
        n, out,
        [&](int i) {
            const auto& im = images[static_cast<std::size_t>(i)];
            const fs::path rel = base / im.folder / im.name;
            std::vector<std::uint8_t> pixels;
            boxes[static_cast<std::size_t>(i)] = renderChest(
                im, o.imageSize, streamSeed(o.seed, kChestPixels, static_cast<std::uint64_t>(i)), pixels);
            const auto png = encodePng(pixels, o.imageSize, out.root() / rel);
            out.writeBytes(rel, png.data(), png.size());
        },
        [&](int done) {
            if (done % 20 == 0 || done == n)
                out.progress(p0 + (p1 - p0) * 0.95 * done / std::max(1, n),
                             "chest X-rays: " + std::to_string(done) + "/" + std::to_string(n));
        });

    // Data_Entry_2017.csv exactly as NIH ships it: the header's bracketed names contain a
    // comma and every line ends with one, so readers see 12 columns, the last unnamed.
    const std::string spacing = shortest(kChestFieldOfViewMm / o.imageSize);
    std::string entry =
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n";
    std::string boxCsv = "image,finding,x,y,w,h\n";
    for (std::size_t i = 0; i < images.size(); ++i) {
        const auto& im = images[i];
        std::vector<std::string> labels;
        for (int f : im.findings) labels.push_back(kNihFindings[static_cast<std::size_t>(f)]);
        entry += im.name + "," + (labels.empty() ? std::string("No Finding") : join(labels, "|")) + "," +
                 std::to_string(im.followUp) + "," + std::to_string(im.patient) + "," +
                 std::to_string(im.age) + "," + im.gender + "," + im.view + "," +
                 std::to_string(o.imageSize) + "," + std::to_string(o.imageSize) + "," + spacing + "," +
                 spacing + ",\n";
        auto planted = boxes[i];
        std::sort(planted.begin(), planted.end(), [](const PlantedBox& a, const PlantedBox& b) {
            return kNihFindings[static_cast<std::size_t>(a.finding)] <
                   kNihFindings[static_cast<std::size_t>(b.finding)];
        });
        for (const auto& p : planted) {
            if (p.box.empty()) continue;
            boxCsv += im.name + "," + kNihFindings[static_cast<std::size_t>(p.finding)] + "," +
                      std::to_string(p.box.x0) + "," + std::to_string(p.box.y0) + "," +
                      std::to_string(p.box.x1 - p.box.x0 + 1) + "," +
                      std::to_string(p.box.y1 - p.box.y0 + 1) + "\n";
        }
    }
    out.writeText(base / "Data_Entry_2017.csv", entry);
    out.writeText(base / "boxes.csv", boxCsv);

    // Split by patient so no patient leaks from training into test.
    std::set<int> patientSet;
    for (const auto& im : images) patientSet.insert(im.patient);
    std::vector<int> patients(patientSet.begin(), patientSet.end());
    Rng rng(streamSeed(o.seed, kChestPlan, 1));
    rng.shuffle(patients);
    const std::size_t testCount = static_cast<std::size_t>(std::lround(patients.size() * 0.2));
    const std::set<int> testPatients(patients.begin(),
                                     patients.begin() + static_cast<std::ptrdiff_t>(testCount));
    std::vector<std::string> trainVal, test;
    for (const auto& im : images) (testPatients.count(im.patient) ? test : trainVal).push_back(im.name);
    std::sort(trainVal.begin(), trainVal.end());
    std::sort(test.begin(), test.end());
    const auto lines = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += x + "\n";
        return s;
    };
    out.writeText(base / "train_val_list.txt", lines(trainVal));
    out.writeText(base / "test_list.txt", lines(test));
    out.progress(p1, "chest X-rays: " + std::to_string(n) + " images written");
}

// ------------------------------------------------------------------------------------------
// CT volumes (CT-RATE style labels)

constexpr int kNx = 64, kNy = 64, kNz = 48;
constexpr double kDx = 1.5, kDy = 1.5, kDz = 2.5;
// World origin of voxel (0,0,0) in RAS mm: the volume is centred on x/y; z is a table position.
constexpr double kOriginX = -(kNx - 1) * kDx / 2, kOriginY = -(kNy - 1) * kDy / 2, kOriginZ = -180.0;
constexpr int kHuMin = -1024, kHuMax = 3071;  // what 12 stored bits with intercept -1024 hold

const std::array<std::string, 18> kCtLabels = {
    "Medical material", "Arterial wall calcification", "Cardiomegaly", "Pericardial effusion",
    "Coronary artery wall calcification", "Hiatal hernia", "Lymphadenopathy", "Emphysema", "Atelectasis",
    "Lung nodule", "Lung opacity", "Pulmonary fibrotic sequela", "Pleural effusion",
    "Mosaic attenuation pattern", "Peribronchial thickening", "Consolidation", "Bronchiectasis",
    "Interlobular septal thickening"};
enum CtLabel { kMedicalMaterial, kArterialCalc, kCtCardiomegaly, kPericardialEffusion, kCoronaryCalc,
               kHiatalHernia, kLymphadenopathy, kCtEmphysema, kCtAtelectasis, kLungNodule, kLungOpacity,
               kFibroticSequela, kPleuralEffusion, kMosaic, kPeribronchial, kCtConsolidation, kBronchiectasis,
               kSeptalThickening };
// Prevalence per label; the first group is planted clearly, the rest are rarer and subtler.
constexpr std::array<double, 18> kCtPrevalence = {0.10, 0.30, 0.20, 0.08, 0.25, 0.06, 0.15, 0.25, 0.25,
                                                  0.40, 0.30, 0.06, 0.22, 0.06, 0.06, 0.18, 0.06, 0.06};
constexpr std::array<int, 7> kCtAlwaysCovered = {kLungNodule, kPleuralEffusion, kCtCardiomegaly, kCtEmphysema,
                                                 kCtConsolidation, kLungOpacity, kCtAtelectasis};

enum Tissue : std::uint8_t { kAir, kBody, kLungRight, kLungLeft, kHeart, kBone, kFluid };

struct Ellipsoid {
    double ci, cj, ck, ri, rj, rk;
    double radius(double i, double j, double k) const {
        const double a = (i - ci) / ri, b = (j - cj) / rj, c = (k - ck) / rk;
        return std::sqrt(a * a + b * b + c * c);
    }
};

struct Lesion {
    int label, i, j, k;
    double radius;
};

class CtVolume {
public:
    CtVolume() : hu_(static_cast<std::size_t>(kNx) * kNy * kNz, -1000.0f), tissue_(hu_.size(), kAir) {}
    static std::size_t index(int i, int j, int k) {
        return static_cast<std::size_t>(i + kNx * (j + kNy * k));
    }
    float& hu(int i, int j, int k) { return hu_[index(i, j, k)]; }
    std::uint8_t& tissue(int i, int j, int k) { return tissue_[index(i, j, k)]; }
    std::vector<float>& hu() { return hu_; }
    const std::vector<std::uint8_t>& tissue() const { return tissue_; }

    // Sets voxels inside `e` that `accept` (given the tissue) to `value` (and tissue `t`, if
    // t != 255); returns how many changed.
    template <typename Accept>
    int paint(const Ellipsoid& e, float value, Accept&& accept, std::uint8_t t = 255) {
        int n = 0;
        forBox(e, [&](int i, int j, int k) {
            if (e.radius(i, j, k) > 1.0 || !accept(tissue(i, j, k), i, j, k)) return;
            hu(i, j, k) = value;
            if (t != 255) tissue(i, j, k) = t;
            ++n;
        });
        return n;
    }
    template <typename F>
    static void forBox(const Ellipsoid& e, F&& f) {
        const int ia = std::max(0, static_cast<int>(std::floor(e.ci - e.ri))),
                  ib = std::min(kNx - 1, static_cast<int>(std::ceil(e.ci + e.ri)));
        const int ja = std::max(0, static_cast<int>(std::floor(e.cj - e.rj))),
                  jb = std::min(kNy - 1, static_cast<int>(std::ceil(e.cj + e.rj)));
        const int ka = std::max(0, static_cast<int>(std::floor(e.ck - e.rk))),
                  kb = std::min(kNz - 1, static_cast<int>(std::ceil(e.ck + e.rk)));
        for (int k = ka; k <= kb; ++k)
            for (int j = ja; j <= jb; ++j)
                for (int i = ia; i <= ib; ++i) f(i, j, k);
    }

private:
    std::vector<float> hu_;
    std::vector<std::uint8_t> tissue_;
};

bool isLung(std::uint8_t t) { return t == kLungRight || t == kLungLeft; }

struct CtPlan {
    std::string name;  // ct_0001.nii.gz
    std::array<bool, 18> labels{};
};

std::vector<CtPlan> planCt(const DemoOptions& o) {
    Rng rng(streamSeed(o.seed, kCtPlan));
    std::vector<CtPlan> plans(static_cast<std::size_t>(o.ctVolumes));
    for (std::size_t v = 0; v < plans.size(); ++v) {
        plans[v].name = "ct_" + padded(static_cast<long long>(v) + 1, 4) + ".nii.gz";
        const bool normal = rng.chance(0.2);
        for (std::size_t l = 0; l < 18; ++l) plans[v].labels[l] = rng.chance(kCtPrevalence[l]) && !normal;
    }
    // Volume 1 is also the DICOM series, the one a user opens first: give it a nodule to find.
    if (!plans.empty()) plans[0].labels[kLungNodule] = true;
    for (std::size_t c = 0; c < kCtAlwaysCovered.size() && !plans.empty(); ++c) {
        const auto l = static_cast<std::size_t>(kCtAlwaysCovered[c]);
        if (std::none_of(plans.begin(), plans.end(), [&](const CtPlan& p) { return p.labels[l]; }))
            plans[(c * 5 + 1) % plans.size()].labels[l] = true;
    }
    return plans;
}

// Builds one chest CT in HU. Voxel (i, j, k) lies at RAS (x, y, z) = origin + (i, j, k) *
// spacing: i towards the patient's right, j anterior, k superior.
CtVolume renderCt(const CtPlan& plan, std::uint64_t seed, std::vector<Lesion>& lesions) {
    Rng rng(seed);
    CtVolume vol;
    const auto has = [&](int l) { return plan.labels[static_cast<std::size_t>(l)]; };
    const auto any = [](std::uint8_t, int, int, int) { return true; };
    const auto notBone = [](std::uint8_t t, int, int, int) { return t != kBone && t != kAir; };
    const auto lungOnly = [](std::uint8_t t, int, int, int) { return isLung(t); };
    const auto addLesion = [&](int label, double i, double j, double k, double r) {
        lesions.push_back({label, static_cast<int>(std::lround(i)), static_cast<int>(std::lround(j)),
                           static_cast<int>(std::lround(k)), r});
    };
    const auto j1 = [&](double a) { return rng.uniform(-a, a); };

    // Body: an elliptic cylinder with a rim of subcutaneous fat.
    const double bi = 31.5 + j1(0.8), bj = 31.0 + j1(0.8), bri = 29.0 + j1(1.0), brj = 22.0 + j1(1.0);
    const int ribPhase = rng.integer(0, 4);
    for (int k = 0; k < kNz; ++k)
        for (int j = 0; j < kNy; ++j)
            for (int i = 0; i < kNx; ++i) {
                const double d = std::hypot((i - bi) / bri, (j - bj) / brj);
                if (d > 1.0) continue;
                vol.tissue(i, j, k) = kBody;
                vol.hu(i, j, k) = d > 0.93 ? -95.0f : 40.0f;
                // Ribs: arcs at the periphery every fifth slice pair, sparing the front.
                if (d > 0.85 && d < 0.92 && (k + ribPhase) % 5 < 2 && j < bj + 0.55 * brj) {
                    vol.hu(i, j, k) = 650.0f;
                    vol.tissue(i, j, k) = kBone;
                }
            }
    // Lungs.
    const Ellipsoid lungR{bi + 12.5 + j1(0.7), bj + 2.0 + j1(0.7), 27.0 + j1(1.0),
                          9.5 + j1(0.5),       13.0 + j1(0.6),     17.0 + j1(0.8)};
    const Ellipsoid lungL{bi - 12.0 + j1(0.7), bj + 2.0 + j1(0.7), 27.0 + j1(1.0),
                          8.5 + j1(0.5),       12.5 + j1(0.6),     16.5 + j1(0.8)};
    vol.paint(lungR, -830.0f, notBone, kLungRight);
    vol.paint(lungL, -830.0f, notBone, kLungLeft);
    const std::array<const Ellipsoid*, 2> lungs = {&lungR, &lungL};

    // Mosaic attenuation: lobules alternating denser and darker, drawn before anything
    // else in the lungs so focal lesions stay on top.
    if (has(kMosaic)) {
        for (int k = 0; k < kNz; ++k)
            for (int j = 0; j < kNy; ++j)
                for (int i = 0; i < kNx; ++i)
                    if (isLung(vol.tissue(i, j, k)) && (i / 5 + j / 5 + k / 3) % 2 == 0)
                        vol.hu(i, j, k) = -700.0f;
        addLesion(kMosaic, lungR.ci, lungR.cj, lungR.ck, std::round(lungR.ri));
    }

    // Heart (anterior, left of midline), optionally enlarged, optionally in fluid.
    Ellipsoid heart{bi - 5.5 + j1(0.6), bj + 8.0 + j1(0.6), 17.0 + j1(1.0), 9.0, 7.5, 8.0};
    if (has(kCtCardiomegaly)) heart.ri *= 1.35, heart.rj *= 1.3, heart.rk *= 1.3, heart.ci -= 1.5;
    const double fluid = has(kPericardialEffusion) ? 2.2 : 0.0;
    // Epicardial fat: on non-contrast CT it is what outlines the heart against the mediastinum.
    vol.paint({heart.ci, heart.cj, heart.ck, heart.ri + fluid + 1.3, heart.rj + fluid + 1.3,
               heart.rk + 0.6 * fluid + 0.8},
              -90.0f, notBone, kBody);
    if (has(kPericardialEffusion)) {
        const Ellipsoid shell{heart.ci,         heart.cj,         heart.ck,
                              heart.ri + fluid, heart.rj + fluid, heart.rk + 0.6 * fluid};
        vol.paint(shell, 12.0f, notBone, kFluid);
        addLesion(kPericardialEffusion, heart.ci, heart.cj, heart.ck, std::round(shell.ri));
    }
    vol.paint(heart, 42.0f, notBone, kHeart);
    if (has(kCtCardiomegaly)) addLesion(kCtCardiomegaly, heart.ci, heart.cj, heart.ck, std::round(heart.ri));

    // Spine, sternum, descending aorta and trachea.
    for (int k = 0; k < kNz; ++k) {
        vol.paint({bi, bj - brj + 4.5, static_cast<double>(k), 4.5, 4.5, 0.5}, 700.0f, any, kBone);
        vol.paint({bi, bj + brj - 3.0, static_cast<double>(k), 2.5, 1.5, 0.5}, 450.0f, any, kBone);
    }
    const double ai = bi - 4.5, aj = bj - brj + 11.0;
    for (int k = 4; k < 42; ++k)
        vol.paint({ai, aj, static_cast<double>(k), 3.0, 3.0, 0.5}, 45.0f, notBone, kBody);
    for (int k = 34; k < kNz; ++k)
        vol.paint({bi, bj + 1.0, static_cast<double>(k), 2.2, 2.2, 0.5}, -990.0f, notBone, kAir);

    // Diffuse and basal lung findings.
    if (has(kCtEmphysema)) {
        const int n = rng.integer(3, 6);
        for (int p = 0; p < n; ++p) {
            const Ellipsoid& L = *lungs[static_cast<std::size_t>(rng.integer(0, 1))];
            const double r = rng.integer(2, 4);
            const double i = L.ci + j1(0.5) * L.ri, j = L.cj + j1(0.5) * L.rj,
                         k = L.ck + rng.uniform(0.0, 0.55) * L.rk;
            const Ellipsoid e{std::round(i), std::round(j), std::round(k), r, r, r * kDx / kDz};
            vol.paint(e, -985.0f, lungOnly);
            addLesion(kCtEmphysema, e.ci, e.cj, e.ck, r);
        }
    }
    const auto regionLesion = [&](int label, const std::function<bool(int, int, int)>& pick, float value) {
        double si = 0, sj = 0, sk = 0;
        int n = 0;
        for (int k = 0; k < kNz; ++k)
            for (int j = 0; j < kNy; ++j)
                for (int i = 0; i < kNx; ++i)
                    if (pick(i, j, k)) {
                        vol.hu(i, j, k) = value;
                        si += i, sj += j, sk += k, ++n;
                    }
        if (n > 0)
            addLesion(label, si / n, sj / n, sk / n,
                      std::round(std::cbrt(3.0 * n / (4.0 * std::numbers::pi))));
    };
    if (has(kFibroticSequela)) {
        const int side = rng.integer(0, 1);
        const Ellipsoid& L = *lungs[static_cast<std::size_t>(side)];
        const std::uint8_t t = side == 0 ? kLungRight : kLungLeft;
        regionLesion(
            kFibroticSequela,
            [&](int i, int j, int k) {
                return vol.tissue(i, j, k) == t && L.radius(i, j, k) > 0.72 && k < L.ck &&
                       (i + 2 * j + k) % 4 == 0;
            },
            -250.0f);
    }
    if (has(kSeptalThickening)) {
        const int side = rng.integer(0, 1);
        const Ellipsoid& L = *lungs[static_cast<std::size_t>(side)];
        const std::uint8_t t = side == 0 ? kLungRight : kLungLeft;
        regionLesion(
            kSeptalThickening,
            [&](int i, int j, int k) {
                return vol.tissue(i, j, k) == t && L.radius(i, j, k) > 0.6 && k < L.ck + 4 &&
                       (i % 4 == 0 || j % 4 == 0);
            },
            -350.0f);
    }
    if (has(kPleuralEffusion)) {  // dependent (posterior) fluid layer, deepest at the base
        const int side = rng.integer(0, 1);
        const Ellipsoid& L = *lungs[static_cast<std::size_t>(side)];
        const std::uint8_t t = side == 0 ? kLungRight : kLungLeft;
        const double depth = rng.uniform(3.5, 5.0);
        regionLesion(
            kPleuralEffusion,
            [&](int i, int j, int k) {
                if (vol.tissue(i, j, k) != t || k > L.ck + 2) return false;
                const double thickness = depth + 0.35 * (L.ck - k);
                if (j - (L.cj - L.rj) >= thickness) return false;
                vol.tissue(i, j, k) = kFluid;
                return true;
            },
            12.0f);
    }
    if (has(kCtAtelectasis)) {  // collapsed, dense posterior-basal lung
        const int side = rng.integer(0, 1);
        const Ellipsoid& L = *lungs[static_cast<std::size_t>(side)];
        const Ellipsoid e{
            std::round(L.ci), std::round(L.cj - 0.45 * L.rj), std::round(L.ck - 0.55 * L.rk), 4.0, 3.0, 3.0};
        vol.paint(e, 22.0f, lungOnly);
        addLesion(kCtAtelectasis, e.ci, e.cj, e.ck, e.ri);
    }
    if (has(kCtConsolidation)) {  // dense lobar region with an air bronchogram
        const int side = rng.integer(0, 1);
        const Ellipsoid& L = *lungs[static_cast<std::size_t>(side)];
        const Ellipsoid e{std::round(L.ci + j1(0.2) * L.ri),
                          std::round(L.cj + j1(0.2) * L.rj),
                          std::round(L.ck + rng.uniform(-0.35, 0.05) * L.rk),
                          5.0,
                          5.0,
                          3.5};
        vol.paint(e, 38.0f, lungOnly);
        vol.paint({e.ci, e.cj, e.ck, 0.8, 0.8, e.rk * 0.8}, -900.0f, any);
        addLesion(kCtConsolidation, e.ci, e.cj, e.ck, e.ri);
    }
    if (has(kLungOpacity)) {  // ground glass
        const Ellipsoid& L = *lungs[static_cast<std::size_t>(rng.integer(0, 1))];
        const Ellipsoid e{std::round(L.ci + j1(0.3) * L.ri),
                          std::round(L.cj + j1(0.3) * L.rj),
                          std::round(L.ck + rng.uniform(-0.3, 0.3) * L.rk),
                          5.0,
                          5.0,
                          3.0};
        vol.paint(e, -480.0f, lungOnly);
        addLesion(kLungOpacity, e.ci, e.cj, e.ck, e.ri);
    }
    const auto airway = [&](int label, double lumen, double wall, float wallHu) {
        const Ellipsoid& L = *lungs[static_cast<std::size_t>(rng.integer(0, 1))];
        const double i = std::round(L.ci + j1(0.25) * L.ri), j = std::round(L.cj + j1(0.25) * L.rj),
                     k = std::round(L.ck);
        const Ellipsoid outer{i, j, k, wall, wall, 5.0};
        vol.paint(outer, wallHu, lungOnly);
        vol.paint({i, j, k, lumen, lumen, 5.0}, -990.0f, any);
        addLesion(label, i, j, k, std::round(wall));
    };
    if (has(kPeribronchial)) airway(kPeribronchial, 1.2, 2.6, -80.0f);
    if (has(kBronchiectasis)) airway(kBronchiectasis, 2.6, 3.4, -300.0f);

    // Mediastinal and vascular findings.
    if (has(kLymphadenopathy)) {
        const int n = rng.integer(1, 2);
        for (int p = 0; p < n; ++p) {
            const double side = p == 0 ? 1.0 : -1.0;
            const Ellipsoid e{
                std::round(bi + side * 7.0), std::round(bj + 2.0), std::round(29.0 + j1(2.0)), 3.0, 3.0, 2.0};
            vol.paint(e, 48.0f, notBone, kBody);
            addLesion(kLymphadenopathy, e.ci, e.cj, e.ck, e.ri);
        }
    }
    if (has(kHiatalHernia)) {
        const Ellipsoid e{std::round(bi - 1.0), std::round(aj + 5.0), 7.0, 4.0, 4.0, 2.5};
        vol.paint(e, 25.0f, notBone, kBody);
        vol.paint({e.ci, e.cj, e.ck + 1.0, 2.0, 2.0, 1.0}, -700.0f, notBone);
        addLesion(kHiatalHernia, e.ci, e.cj, e.ck, e.ri);
    }
    const auto calcify = [&](int label, double ci, double cj, double ri, double rj, double k, float value) {
        const double a = rng.uniform(0, 2 * std::numbers::pi);
        const double i = std::round(ci + ri * std::cos(a)), j = std::round(cj + rj * std::sin(a));
        vol.paint({i, j, k, 1.0, 1.0, 0.6}, value, any);
        addLesion(label, i, j, k, 1.0);
    };
    if (has(kArterialCalc)) {
        const int n = rng.integer(2, 4);
        for (int p = 0; p < n; ++p) calcify(kArterialCalc, ai, aj, 3.0, 3.0, rng.integer(6, 38), 650.0f);
    }
    if (has(kCoronaryCalc)) {
        const int n = rng.integer(2, 3);
        for (int p = 0; p < n; ++p)
            calcify(kCoronaryCalc, heart.ci, heart.cj + 0.4 * heart.rj, heart.ri, 0.6 * heart.rj,
                    std::round(heart.ck + rng.uniform(-0.5, 0.5) * heart.rk), 520.0f);
    }
    if (has(kMedicalMaterial)) {  // pacemaker can in the left chest wall, lead towards the heart
        const double i = std::round(bi - 14.0), j = std::round(bj + brj - 5.0), k = 40.0;
        for (int s = 0; s <= 40; ++s) {
            const double t = s / 40.0;
            const int vi = static_cast<int>(std::lround(i + t * (heart.ci - i)));
            const int vj = static_cast<int>(std::lround(j + t * (heart.cj - j)));
            const int vk = static_cast<int>(std::lround(k + t * (heart.ck - k)));
            vol.hu(vi, vj, vk) = 1800.0f;
        }
        vol.paint({i, j, k, 2.0, 1.0, 1.0}, 2500.0f, any, kBone);
        addLesion(kMedicalMaterial, i, j, k, 2.0);
    }
    // Nodules last so nothing covers them; in the upper half of a lung, clear of its edges.
    if (has(kLungNodule)) {
        const int n = rng.chance(0.25) ? 2 : 1;
        for (int p = 0; p < n; ++p) {
            const int side = rng.integer(0, 1);
            const Ellipsoid& L = *lungs[static_cast<std::size_t>(side)];
            const double r = rng.integer(2, 3);
            Ellipsoid e{};
            for (int attempt = 0; attempt < 30; ++attempt) {
                e = {std::round(L.ci + j1(0.4) * L.ri),
                     std::round(L.cj + j1(0.4) * L.rj),
                     std::round(L.ck + rng.uniform(0.1, 0.45) * L.rk),
                     r,
                     r,
                     r * kDx / kDz};
                bool clear = true;  // only aerated lung around it
                CtVolume::forBox({e.ci, e.cj, e.ck, r + 3, r + 3, e.rk + 2}, [&](int i, int j, int k) {
                    if (!isLung(vol.tissue(i, j, k)) || vol.hu(i, j, k) > -600.0f) clear = false;
                });
                if (clear) break;
            }
            vol.paint(e, 55.0f, any);
            addLesion(kLungNodule, e.ci, e.cj, e.ck, r);
        }
    }
    return vol;
}

std::vector<std::int16_t> quantiseCt(CtVolume& vol, Rng& rng) {
    auto& hu = vol.hu();
    std::vector<std::int16_t> out(hu.size());
    for (std::size_t n = 0; n < hu.size(); ++n) {
        const float sd = vol.tissue()[n] == kAir ? 6.0f : hu[n] > 1500.0f ? 0.0f : 11.0f;
        const double v = std::floor(hu[n] + sd * rng.noise() + 0.5);
        out[n] = static_cast<std::int16_t>(clampd(v, kHuMin, kHuMax));
    }
    return out;
}

void writeNifti(const fs::path& path, std::vector<std::int16_t>& voxels) {
    std::error_code ec;
    fs::remove(path, ec);  // nifti_image_write reports failure only on stderr: detect it by absence
    const std::int64_t dims[8] = {3, kNx, kNy, kNz, 1, 1, 1, 1};
    nifti_image* nim = nifti_make_new_nim(dims, NIFTI_TYPE_INT16, 0);
    if (!nim) throw std::runtime_error("demo workspace: cannot create NIfTI header for " + path.string());
    struct Free {
        nifti_image* nim;
        ~Free() {
            nim->data = nullptr;  // the voxels belong to the caller
            nifti_image_free(nim);
        }
    } guard{nim};
    if (nim->data) std::free(nim->data);
    nim->data = voxels.data();
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nim->dx = nim->pixdim[1] = kDx;
    nim->dy = nim->pixdim[2] = kDy;
    nim->dz = nim->pixdim[3] = kDz;
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->scl_slope = 1.0;
    nim->scl_inter = 0.0;
    // Axis-aligned RAS: identity rotation, so the quaternion is zero and qfac is +1.
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->quatern_b = nim->quatern_c = nim->quatern_d = 0.0;
    nim->qfac = 1.0;
    nim->qoffset_x = kOriginX;
    nim->qoffset_y = kOriginY;
    nim->qoffset_z = kOriginZ;
    nim->qto_xyz = nifti_quatern_to_dmat44(0, 0, 0, kOriginX, kOriginY, kOriginZ, kDx, kDy, kDz, 1.0);
    nim->sto_xyz = nim->qto_xyz;
    std::snprintf(nim->descrip, sizeof nim->descrip, "Lumen demo CT (synthetic, HU)");
    if (nifti_set_filenames(nim, path.c_str(), 0, 1) != 0)
        throw std::runtime_error("demo workspace: bad NIfTI file name " + path.string());
    nifti_image_write(nim);
    if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) < 348)
        throw std::runtime_error("demo workspace: cannot write " + path.string());
}

// UIDs derived from the seed under one fixed root, so reruns give the same UIDs (unlike
// dcmGenerateUniqueIdentifier, which uses the clock).
constexpr const char* kUidRoot = "1.2.826.0.1.3680043.10.1234.";
std::string uid(std::uint64_t seed, int kind, long long a, long long b = -1) {
    std::string s = kUidRoot + std::to_string(kind) + "." + std::to_string(seed % 1000000000000ull) + "." +
                    std::to_string(a + 1);
    if (b >= 0) s += "." + std::to_string(b + 1);
    return s;
}
enum UidKind { kUidCtStudy = 1, kUidCtSeries, kUidCtInstance, kUidFrameOfReference, kUidXaStudy, kUidXaSeries,
               kUidXaInstance };

void put(DcmDataset& ds, const DcmTagKey& tag, const std::string& value, const fs::path& path) {
    const OFCondition c = ds.putAndInsertString(DcmTag(tag), value.c_str());
    if (c.bad())
        throw std::runtime_error("demo workspace: cannot set " + std::string(DcmTag(tag).getTagName()) +
                                 " in " + path.string() + ": " + c.text());
}
void putU16(DcmDataset& ds, const DcmTagKey& tag, Uint16 value, const fs::path& path) {
    const OFCondition c = ds.putAndInsertUint16(DcmTag(tag), value);
    if (c.bad())
        throw std::runtime_error("demo workspace: cannot set " + std::string(DcmTag(tag).getTagName()) +
                                 " in " + path.string() + ": " + c.text());
}
void saveDicom(DcmFileFormat& file, const fs::path& path) {
    const OFCondition c = file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
    if (c.bad()) throw std::runtime_error("demo workspace: cannot write " + path.string() + ": " + c.text());
}

// Writes volume `vol` as a standard axial CT series (ImageOrientationPatient 1\0\0\0\1\0, LPS),
// so DICOM column c / row r / slice k is NIfTI voxel (nx-1-c, ny-1-r, k).
int writeCtSeries(const DemoOptions& o, Output& out, const fs::path& relDir, int volumeIndex,
                  const std::vector<std::int16_t>& voxels) {
    out.makeDir(relDir);
    const std::string study = uid(o.seed, kUidCtStudy, volumeIndex),
                      series = uid(o.seed, kUidCtSeries, volumeIndex);
    const std::string frame = uid(o.seed, kUidFrameOfReference, volumeIndex);
    const std::string id = "CT" + padded(volumeIndex + 1, 4);
    // LPS position of the first voxel of DICOM row 0 / column 0 (= NIfTI i, j at maximum).
    const double lpsX = -(kOriginX + (kNx - 1) * kDx), lpsY = -(kOriginY + (kNy - 1) * kDy);
    std::vector<Uint16> slice(static_cast<std::size_t>(kNx) * kNy);
    for (int k = 0; k < kNz; ++k) {
        const fs::path rel = relDir / ("IM" + padded(k + 1, 4) + ".dcm");
        const fs::path path = out.root() / rel;
        for (int r = 0; r < kNy; ++r)
            for (int c = 0; c < kNx; ++c)
                slice[static_cast<std::size_t>(r) * kNx + c] =
                    static_cast<Uint16>(voxels[CtVolume::index(kNx - 1 - c, kNy - 1 - r, k)] + 1024);
        const double z = kOriginZ + k * kDz;
        DcmFileFormat file;
        DcmDataset& ds = *file.getDataset();
        put(ds, DCM_SpecificCharacterSet, "ISO_IR 100", path);
        put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL", path);
        put(ds, DCM_SOPClassUID, UID_CTImageStorage, path);
        put(ds, DCM_SOPInstanceUID, uid(o.seed, kUidCtInstance, volumeIndex, k), path);
        put(ds, DCM_StudyDate, "20240102", path);
        put(ds, DCM_StudyTime, "093000", path);
        put(ds, DCM_AccessionNumber, id, path);
        put(ds, DCM_Modality, "CT", path);
        put(ds, DCM_Manufacturer, "Lumen demo", path);
        put(ds, DCM_StudyDescription, "Synthetic chest CT", path);
        put(ds, DCM_SeriesDescription, "Axial 2.5 mm", path);
        put(ds, DCM_PatientName, "Demo^" + id, path);
        put(ds, DCM_PatientID, id, path);
        put(ds, DCM_PatientSex, "O", path);
        put(ds, DCM_SliceThickness, shortest(kDz), path);
        put(ds, DCM_SpacingBetweenSlices, shortest(kDz), path);
        put(ds, DCM_KVP, "120", path);
        put(ds, DCM_PatientPosition, "HFS", path);
        put(ds, DCM_StudyInstanceUID, study, path);
        put(ds, DCM_SeriesInstanceUID, series, path);
        put(ds, DCM_StudyID, "1", path);
        put(ds, DCM_SeriesNumber, "1", path);
        put(ds, DCM_InstanceNumber, std::to_string(k + 1), path);
        put(ds, DCM_ImagePositionPatient, shortest(lpsX) + "\\" + shortest(lpsY) + "\\" + shortest(z), path);
        put(ds, DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0", path);
        put(ds, DCM_FrameOfReferenceUID, frame, path);
        put(ds, DCM_SliceLocation, shortest(z), path);
        putU16(ds, DCM_SamplesPerPixel, 1, path);
        put(ds, DCM_PhotometricInterpretation, "MONOCHROME2", path);
        putU16(ds, DCM_Rows, kNy, path);
        putU16(ds, DCM_Columns, kNx, path);
        put(ds, DCM_PixelSpacing, shortest(kDy) + "\\" + shortest(kDx), path);
        putU16(ds, DCM_BitsAllocated, 16, path);
        putU16(ds, DCM_BitsStored, 12, path);
        putU16(ds, DCM_HighBit, 11, path);
        putU16(ds, DCM_PixelRepresentation, 0, path);
        put(ds, DCM_WindowCenter, "40", path);
        put(ds, DCM_WindowWidth, "400", path);
        put(ds, DCM_RescaleIntercept, "-1024", path);
        put(ds, DCM_RescaleSlope, "1", path);
        put(ds, DCM_RescaleType, "HU", path);
        const OFCondition c =
            ds.putAndInsertUint16Array(DCM_PixelData, slice.data(), static_cast<unsigned long>(slice.size()));
        if (c.bad())
            throw std::runtime_error("demo workspace: cannot set pixel data in " + path.string() + ": " +
                                     c.text());
        saveDicom(file, path);
        out.record(rel);
    }
    return kNz;
}

int writeCt(const DemoOptions& o, Output& out, double p0, double p1) {
    out.progress(p0, "CT volumes: planning");
    const auto plans = planCt(o);
    const fs::path base = "ct";
    out.makeDir(base / "volumes");
    std::string labels = "VolumeName";
    for (const auto& l : kCtLabels) labels += "," + l;
    labels += "\n";
    std::string lesionCsv = "VolumeName,label,i,j,k,radius_vox\n";
    int dicomSlices = 0;
    const int n = static_cast<int>(plans.size());
    for (int v = 0; v < n; ++v) {
        out.checkCancelled();
        const auto& plan = plans[static_cast<std::size_t>(v)];
        std::vector<Lesion> lesions;
        CtVolume vol = renderCt(plan, streamSeed(o.seed, kCtVoxels, static_cast<std::uint64_t>(v)), lesions);
        Rng noise(streamSeed(o.seed, kCtVoxels, 1000000ull + static_cast<std::uint64_t>(v)));
        auto voxels = quantiseCt(vol, noise);
        const fs::path rel = base / "volumes" / plan.name;
        writeNifti(out.root() / rel, voxels);
        out.record(rel);
        if (v == 0) dicomSlices = writeCtSeries(o, out, base / "dicom" / "ct_0001", v, voxels);

        labels += plan.name;
        for (bool b : plan.labels) labels += b ? ",1" : ",0";
        labels += "\n";
        for (const auto& l : lesions)
            lesionCsv += plan.name + "," + kCtLabels[static_cast<std::size_t>(l.label)] + "," +
                         std::to_string(l.i) + "," + std::to_string(l.j) + "," + std::to_string(l.k) + "," +
                         shortest(l.radius) + "\n";
        out.progress(p0 + (p1 - p0) * (v + 1) / std::max(1, n),
                     "CT volumes: " + std::to_string(v + 1) + "/" + std::to_string(n));
    }
    out.writeText(base / "labels.csv", labels);
    out.writeText(base / "lesions.csv", lesionCsv);
    return dicomSlices;
}

// ------------------------------------------------------------------------------------------
// Angiography cines and predictions

constexpr int kCineSize = 128, kCineFrames = 16;
const std::array<std::string, 18> kSegments = {
    "left_main", "prox_lad", "mid_lad", "dist_lad", "D1", "D2", "lcx", "dist_lcx", "om1", "om2",
    "prox_rca", "mid_rca", "dist_rca", "pda", "posterolateral", "bx", "lvp", "lima_or_svg"};
const std::array<std::string, 5> kHeads = {"_stenosis", "_stenosis_binary", "_calcif_binary", "_cto",
                                           "_thrombus"};

struct Pt {
    double x, y;
};
struct Vessel {
    std::array<Pt, 4> ctrl;  // cubic Bézier, normalised coordinates
    double width0, width1;   // pixels at start and end
    double stenosisAt = -1, stenosisDepth = 0;
};

Pt bezier(const std::array<Pt, 4>& p, double t) {
    const double u = 1 - t;
    const double a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t;
    return {a * p[0].x + b * p[1].x + c * p[2].x + d * p[3].x,
            a * p[0].y + b * p[1].y + c * p[2].y + d * p[3].y};
}

std::vector<Vessel> planVesselTree(Rng& rng) {
    std::vector<Vessel> tree;
    const auto j = [&](double a) { return rng.uniform(-a, a); };
    // Two main trunks from an ostium near the top, then side branches off them.
    const Pt ostium{0.42 + j(0.05), 0.16 + j(0.04)};
    for (int m = 0; m < 2; ++m) {
        const double dir = m == 0 ? 1.0 : -1.0;
        Vessel v{{ostium,
                  {ostium.x + dir * 0.12 + j(0.05), ostium.y + 0.18 + j(0.05)},
                  {0.5 + dir * 0.2 + j(0.06), 0.55 + j(0.06)},
                  {0.5 + dir * 0.12 + j(0.08), 0.9 + j(0.04)}},
                 4.0 + j(0.4),
                 2.0 + j(0.3)};
        if (rng.chance(0.5)) v.stenosisAt = rng.uniform(0.25, 0.7), v.stenosisDepth = rng.uniform(0.4, 0.75);
        tree.push_back(v);
        const int branches = rng.integer(2, 3);
        for (int b = 0; b < branches; ++b) {
            const double t = rng.uniform(0.2, 0.75);
            const Pt s = bezier(v.ctrl, t);
            const double side = rng.chance(0.5) ? 1.0 : -1.0;
            const double len = rng.uniform(0.18, 0.32);
            Vessel br{{s,
                       {s.x + side * 0.06 + j(0.03), s.y + 0.05 + j(0.03)},
                       {s.x + side * len * 0.7 + j(0.04), s.y + len * 0.5 + j(0.04)},
                       {s.x + side * len + j(0.04), s.y + len * 0.8 + j(0.05)}},
                      2.4 + j(0.3),
                      1.2 + j(0.2)};
            if (rng.chance(0.2))
                br.stenosisAt = rng.uniform(0.3, 0.7), br.stenosisDepth = rng.uniform(0.4, 0.7);
            tree.push_back(br);
        }
    }
    // The catheter: a thin line from the bottom edge up to the ostium.
    tree.push_back({{Pt{0.62 + j(0.05), 1.05}, {0.6, 0.7}, {0.5 + j(0.03), 0.3}, ostium}, 1.6, 1.6});
    return tree;
}

void renderCine(const std::vector<Vessel>& tree, int view, std::uint64_t seed,
                std::vector<std::uint8_t>& out) {
    Rng rng(seed);
    constexpr int S = kCineSize;
    out.assign(static_cast<std::size_t>(S) * S * kCineFrames, 0);
    std::vector<float> background(static_cast<std::size_t>(S) * S);
    for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) {
            const double dx = (x + 0.5) / S - 0.5, dy = (y + 0.5) / S - 0.5;
            // Bright field, darker corners (collimation/vignetting), a denser diaphragm dome.
            double v = 182.0 - 70.0 * (dx * dx + dy * dy);
            if (dy > 0.28 - 0.6 * dx * dx) v -= 22.0;
            background[static_cast<std::size_t>(y) * S + x] = static_cast<float>(v);
        }
    addSmoothNoise(background, S, S, 5, 9.0, rng);
    // The second view looks from another angle: rotate and mirror the projection.
    const double angle = view == 1 ? rng.uniform(-0.15, 0.15) : 0.65 + rng.uniform(-0.15, 0.15);
    const double mirror = view == 1 ? 1.0 : -1.0;
    const double phase0 = rng.uniform(0, 2 * std::numbers::pi);
    std::vector<float> mask(static_cast<std::size_t>(S) * S);
    for (int f = 0; f < kCineFrames; ++f) {
        const double phase = phase0 + 2 * std::numbers::pi * f / kCineFrames;  // one beat per cine
        const double scale = 1.0 + 0.05 * std::sin(phase);
        const double shiftX = 0.025 * std::sin(phase), shiftY = 0.02 * std::sin(phase + 0.9);
        const double contrast = 0.35 + 0.65 * smoothstep(f / 4.0);  // contrast washing in
        const auto project = [&](Pt p) {
            double x = (p.x - 0.5) * scale * mirror, y = (p.y - 0.45) * scale;
            const double c = std::cos(angle), s = std::sin(angle);
            return Pt{(0.5 + x * c - y * s + shiftX) * S, (0.45 + x * s + y * c + shiftY) * S};
        };
        std::fill(mask.begin(), mask.end(), 0.0f);
        for (const auto& v : tree) {
            double length = 0;
            Pt prev = project(bezier(v.ctrl, 0));
            for (int i = 1; i <= 32; ++i) {
                const Pt p = project(bezier(v.ctrl, i / 32.0));
                length += std::hypot(p.x - prev.x, p.y - prev.y);
                prev = p;
            }
            const int steps = std::max(2, static_cast<int>(length / 0.5));
            for (int i = 0; i <= steps; ++i) {
                const double t = static_cast<double>(i) / steps;
                const Pt p = project(bezier(v.ctrl, t));
                double r = 0.5 * (v.width0 + (v.width1 - v.width0) * t);
                if (v.stenosisAt >= 0)
                    r *= 1.0 - v.stenosisDepth * std::exp(-0.5 * std::pow((t - v.stenosisAt) / 0.025, 2));
                const int xa = std::max(0, static_cast<int>(p.x - r - 1)),
                          xb = std::min(S - 1, static_cast<int>(p.x + r + 1));
                const int ya = std::max(0, static_cast<int>(p.y - r - 1)),
                          yb = std::min(S - 1, static_cast<int>(p.y + r + 1));
                for (int y = ya; y <= yb; ++y)
                    for (int x = xa; x <= xb; ++x) {
                        const double d = std::hypot(x + 0.5 - p.x, y + 0.5 - p.y);
                        const double w = clampd(r + 0.5 - d, 0.0, 1.0) *
                                         (0.7 + 0.3 * std::sqrt(clampd(1.0 - d / (r + 0.5), 0.0, 1.0)));
                        float& m = mask[static_cast<std::size_t>(y) * S + x];
                        m = std::max(m, static_cast<float>(w));
                    }
            }
        }
        std::uint8_t* frame = out.data() + static_cast<std::size_t>(f) * S * S;
        for (std::size_t n = 0; n < mask.size(); ++n)
            frame[n] = toByte(background[n] - 115.0 * contrast * mask[n] + 3.0 * rng.noise());
    }
}

void writeCine(const DemoOptions& o, const fs::path& path, const std::string& studyId, int studyIndex,
               int view, const std::vector<std::uint8_t>& pixels) {
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    put(ds, DCM_SpecificCharacterSet, "ISO_IR 100", path);
    put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY\\SINGLE PLANE", path);
    put(ds, DCM_SOPClassUID, UID_XRayAngiographicImageStorage, path);
    put(ds, DCM_SOPInstanceUID, uid(o.seed, kUidXaInstance, studyIndex, view), path);
    put(ds, DCM_StudyDate, "20240103", path);
    put(ds, DCM_StudyTime, "141500", path);
    put(ds, DCM_AccessionNumber, studyId, path);
    put(ds, DCM_Modality, "XA", path);
    put(ds, DCM_Manufacturer, "Lumen demo", path);
    put(ds, DCM_StudyDescription, "Synthetic coronary angiography", path);
    put(ds, DCM_SeriesDescription, view == 1 ? "LAO cranial" : "RAO caudal", path);
    put(ds, DCM_PatientName, "Demo^S" + studyId, path);
    put(ds, DCM_PatientID, studyId, path);
    put(ds, DCM_PatientSex, "O", path);
    put(ds, DCM_KVP, "80", path);
    put(ds, DCM_RadiationSetting, "GR", path);
    put(ds, DCM_CineRate, "15", path);
    put(ds, DCM_FrameTime, "66.7", path);
    put(ds, DCM_RecommendedDisplayFrameRate, "15", path);
    put(ds, DCM_PositionerPrimaryAngle, view == 1 ? "30" : "-30", path);
    put(ds, DCM_PositionerSecondaryAngle, view == 1 ? "20" : "-20", path);
    put(ds, DCM_StudyInstanceUID, uid(o.seed, kUidXaStudy, studyIndex), path);
    put(ds, DCM_SeriesInstanceUID, uid(o.seed, kUidXaSeries, studyIndex, view), path);
    put(ds, DCM_StudyID, studyId, path);
    put(ds, DCM_SeriesNumber, std::to_string(view), path);
    put(ds, DCM_InstanceNumber, "1", path);
    putU16(ds, DCM_SamplesPerPixel, 1, path);
    put(ds, DCM_PhotometricInterpretation, "MONOCHROME2", path);
    put(ds, DCM_NumberOfFrames, std::to_string(kCineFrames), path);
    if (ds.putAndInsertTagKey(DCM_FrameIncrementPointer, DCM_FrameTime).bad())
        throw std::runtime_error("demo workspace: cannot set FrameIncrementPointer in " + path.string());
    putU16(ds, DCM_Rows, kCineSize, path);
    putU16(ds, DCM_Columns, kCineSize, path);
    putU16(ds, DCM_BitsAllocated, 8, path);
    putU16(ds, DCM_BitsStored, 8, path);
    putU16(ds, DCM_HighBit, 7, path);
    putU16(ds, DCM_PixelRepresentation, 0, path);
    put(ds, DCM_PixelIntensityRelationship, "LIN", path);
    const OFCondition c =
        ds.putAndInsertUint8Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size()));
    if (c.bad())
        throw std::runtime_error("demo workspace: cannot set pixel data in " + path.string() + ": " +
                                 c.text());
    saveDicom(file, path);
}

// Distinct 7-digit study ids, all below 1,000,000 so every one has a leading zero that a
// reader must keep (they are strings, not numbers).
std::vector<std::string> drawStudyIds(std::uint64_t seed, int count) {
    Rng rng(streamSeed(seed, kAngioPlan));
    std::set<int> used;
    std::vector<std::string> ids;
    while (static_cast<int>(ids.size()) < count) {
        const int v = rng.integer(1000, 999999);
        if (used.insert(v).second) ids.push_back(padded(v, 7));
    }
    return ids;
}

int writeAngio(const DemoOptions& o, const std::vector<std::string>& ids, Output& out, double p0, double p1) {
    const fs::path base = "angio";
    out.makeDir(base / "studies");
    std::vector<std::string> studyIds(ids.begin(), ids.begin() + o.angioStudies);
    std::sort(studyIds.begin(), studyIds.end());
    std::string csv = "study_id,view,path,frames\n";
    int cines = 0;
    const int n = static_cast<int>(studyIds.size());
    for (int s = 0; s < n; ++s) {
        out.checkCancelled();
        const std::string& id = studyIds[static_cast<std::size_t>(s)];
        const fs::path dir = base / "studies" / ("S" + id);
        out.makeDir(dir);
        Rng plan(streamSeed(o.seed, kAngioPlan, 1 + static_cast<std::uint64_t>(s)));
        const auto tree = planVesselTree(plan);
        for (int view = 1; view <= 2; ++view) {
            const fs::path rel = dir / ("view" + std::to_string(view) + ".dcm");
            std::vector<std::uint8_t> pixels;
            renderCine(tree, view, streamSeed(o.seed, kAngioPixels, static_cast<std::uint64_t>(s) * 2 + view),
                       pixels);
            writeCine(o, out.root() / rel, id, s, view, pixels);
            out.record(rel);
            csv += id + "," + std::to_string(view) + "," + rel.generic_string() + "," +
                   std::to_string(kCineFrames) + "\n";
            ++cines;
        }
        out.progress(p0 + (p1 - p0) * (s + 1) / std::max(1, n),
                     "angiography: " + std::to_string(s + 1) + "/" + std::to_string(n) + " studies");
    }
    out.writeText(base / "studies.csv", csv);
    return cines;
}

std::vector<std::string> predictionColumns() {
    std::vector<std::string> cols;
    for (const auto& h : kHeads)
        for (const auto& s : kSegments) cols.push_back(s + h);
    return cols;
}

int writePredictions(const DemoOptions& o, const std::vector<std::string>& ids, Output& out, double p0,
                     double p1) {
    out.progress(p0, "predictions");
    const fs::path base = "predictions";
    out.makeDir(base);
    Rng rng(streamSeed(o.seed, kPredictions));
    const int rows = o.predictionStudies;
    // The last two baseline ids are missing from `new`, which has one id of its own.
    const bool exclusive = rows >= 3;
    std::vector<std::string> baseIds(ids.begin(), ids.begin() + rows);
    std::vector<std::string> newIds(ids.begin(), ids.begin() + (exclusive ? rows - 2 : rows));
    if (exclusive) newIds.push_back(ids[static_cast<std::size_t>(rows)]);

    constexpr int kCols = 90;
    const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    std::map<std::string, std::array<double, kCols>> values;
    for (const auto& id : ids) {
        std::array<double, kCols> v{};
        const double risk = rng.normal(0.0, 1.0);  // a patient-level tendency shared by segments
        for (int s = 0; s < 18; ++s) {
            const double r = rng.uniform() + 0.08 * risk;
            double sten = r < 0.5    ? rng.uniform(0, 20)
                          : r < 0.82 ? rng.uniform(20, 69)
                                     : rng.uniform(70, 100);
            sten = clampd(sten, 0.0, 100.0);
            v[static_cast<std::size_t>(s)] = sten;
            v[static_cast<std::size_t>(18 + s)] = sigmoid((sten - 70.0) / 7.0 + rng.normal(0, 0.6));
            v[static_cast<std::size_t>(36 + s)] =
                sigmoid(-1.5 + sten / 35.0 + 0.5 * risk + rng.normal(0, 1.0));
            v[static_cast<std::size_t>(54 + s)] =
                sigmoid(-3.5 + (sten > 95 ? 6.0 : 0.0) + rng.normal(0, 1.3));
            v[static_cast<std::size_t>(72 + s)] = sigmoid(-3.0 + sten / 50.0 + rng.normal(0, 1.2));
        }
        values[id] = v;
    }
    // `new` reproduces the baseline up to tiny numerical noise, as a rerun on other hardware would.
    std::map<std::string, std::array<double, kCols>> newValues;
    for (const auto& id : newIds) {
        auto v = values[id];
        for (int c = 0; c < kCols; ++c) {
            double& x = v[static_cast<std::size_t>(c)];
            x = c < 18 ? clampd(x + rng.normal(0, 0.05), 0.0, 100.0)
                       : clampd(x + rng.normal(0, 0.0005), 0.0, 1.0);
        }
        newValues[id] = v;
    }
    const auto missingCells = [&](int count, int nrows) {
        std::set<std::pair<int, int>> cells;
        while (nrows > 0 && static_cast<int>(cells.size()) < std::min(count, nrows * kCols))
            cells.insert({rng.integer(0, nrows - 1), rng.integer(0, kCols - 1)});
        return cells;
    };
    const auto table = [&](const std::vector<std::string>& order,
                           std::map<std::string, std::array<double, kCols>>& vals,
                           const std::set<std::pair<int, int>>& missing) {
        std::string csv = "study_id," + join(predictionColumns(), ",") + "\n";
        for (std::size_t r = 0; r < order.size(); ++r) {
            csv += order[r];
            const auto& v = vals[order[r]];
            for (int c = 0; c < kCols; ++c) {
                csv += ",";
                if (!missing.count({static_cast<int>(r), c})) csv += fixed(v[static_cast<std::size_t>(c)], 6);
            }
            csv += "\n";
        }
        return csv;
    };
    std::sort(baseIds.begin(), baseIds.end());
    rng.shuffle(newIds);
    const auto baseMissing = missingCells(6, static_cast<int>(baseIds.size()));
    const auto newMissing = missingCells(5, static_cast<int>(newIds.size()));
    out.writeText(base / "baseline.csv", table(baseIds, values, baseMissing));
    out.writeText(base / "new.csv", table(newIds, newValues, newMissing));
    // The five heads as audit categories, as in the original reproducibility report.
    out.writeText(base / "categories.yaml",
                  "# Audit categories for lumen-cli audit --categories: one per prediction head.\n"
                  "categories:\n"
                  "  - {name: Stenosis Regression, pattern: \"_stenosis$\"}\n"
                  "  - {name: Stenosis Binary, pattern: \"_stenosis_binary$\"}\n"
                  "  - {name: Calcif Binary, pattern: \"_calcif_binary$\"}\n"
                  "  - {name: CTO, pattern: \"_cto$\"}\n"
                  "  - {name: Thrombus, pattern: \"_thrombus$\"}\n");
    out.progress(p1, "predictions: " + std::to_string(rows) + " studies");
    return rows;
}

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
    check(o.predictionStudies >= 0 && o.predictionStudies <= 500000,
          "predictionStudies must be in 0..500000");
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
        if (ec)
            throw std::runtime_error("demo workspace: cannot stat " + (dir / rel).string() + ": " +
                                     ec.message());
        files.push_back({{"path", rel.generic_string()}, {"size", size}});
    }
    manifest["files"] = std::move(files);

    // Leftovers listed by an earlier, larger run would otherwise sit beside the new data.
    if (hadManifest) {
        const std::set<fs::path> now(written.begin(), written.end());
        for (const auto& old : previous) {
            const std::string top = old.begin()->string();
            if (now.count(old) ||
                std::find(kDemoFolders.begin(), kDemoFolders.end(), top) == kDemoFolders.end())
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
