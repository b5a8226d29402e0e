// The demo's chest X-rays in the NIH ChestX-ray14 layout (docs/demo-workspace.md).
#include "demo/demo_support.h"
#include "io/codecs.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cctype>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numbers>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::demo::detail {

namespace {

// ------------------------------------------------------------------------------------------
// Chest X-rays (NIH ChestX-ray14 layout)

const std::array<std::string, 14> kNihFindings = {
    "Atelectasis", "Cardiomegaly", "Effusion",           "Infiltration",  "Mass",
    "Nodule",      "Pneumonia",    "Pneumothorax",       "Consolidation", "Edema",
    "Emphysema",   "Fibrosis",     "Pleural_Thickening", "Hernia"};
enum Finding {
    kAtelectasis,
    kCardiomegaly,
    kEffusion,
    kInfiltration,
    kMass,
    kNodule,
    kPneumonia,
    kPneumothorax,
    kConsolidation,
    kEdema,
    kEmphysema,
    kFibrosis,
    kPleuralThickening,
    kHernia
};
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
    void add(int x, int y) { x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y); }
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
    double extentX(double grow) const { return grow * std::hypot(rx * std::cos(angle), ry * std::sin(angle)) + 1.0; }
    double extentY(double grow) const { return grow * std::hypot(rx * std::sin(angle), ry * std::cos(angle)) + 1.0; }
};

Box drawEllipse(Canvas& c, const Ellipse& e, double amp, double soft, const Ellipse* clip = nullptr,
                double clipSoft = 0.05) {
    return c.apply(e.cx, e.cy, e.extentX(1.0 + soft), e.extentY(1.0 + soft), amp, [&](double x, double y) {
        double w = e.weight(x, y, soft);
        if (clip && w > 0.0) w *= clip->weight(x, y, clipSoft);
        return w;
    });
}

Box drawGaussian(Canvas& c, double cx, double cy, double sx, double sy, double amp, const Ellipse* clip = nullptr) {
    return c.apply(cx, cy, 3.0 * sx, 3.0 * sy, amp, [&](double x, double y) {
        const double u = (x - cx) / sx, v = (y - cy) / sy;
        double w = std::exp(-0.5 * (u * u + v * v));
        if (clip && w > 1e-3) w *= clip->weight(x, y, 0.05);
        return w;
    });
}

Box drawLine(Canvas& c, double x0, double y0, double x1, double y1, double sigma, double amp, const Ellipse* clip) {
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

// Draws one chest radiograph (PA-like: patient's right lung on the image's left, bright =
// dense): the anatomy, then each finding as a named step that returns its planted region,
// then noise. The random stream is consumed in this order, so a seed draws the same image.
class ChestPainter {
public:
    ChestPainter(const ChestImage& im, int size, std::uint64_t seed)
        : im_(im), rng_(seed), s_(size), k_(size / 256.0), canvas_(size, 14.0f) {}

    std::vector<PlantedBox> paint(std::vector<std::uint8_t>& out) {
        anatomy();
        std::vector<PlantedBox> planted;
        for (int f : im_.findings) {
            const int side = rng_.integer(0, 1);
            if (auto box = finding(f, side)) planted.push_back({f, *box});
        }
        const int size = canvas_.size();
        addSmoothNoise(canvas_.pixels(), size, size, 8, 5.0, rng_);
        out.resize(static_cast<std::size_t>(size) * size);
        auto& px = canvas_.pixels();
        for (std::size_t i = 0; i < px.size(); ++i) out[i] = toByte(px[i] + 2.5f * rng_.noise());
        return planted;
    }

private:
    bool has(int f) const { return std::find(im_.findings.begin(), im_.findings.end(), f) != im_.findings.end(); }
    double jitter(double amount) { return rng_.uniform(-amount, amount) * s_; }

    // Thorax, mediastinum, spine, clavicles, lungs with ribs, heart.
    void anatomy() {
        const double s = s_, k = k_;
        Canvas& c = canvas_;
        drawEllipse(c, {0.5 * s + jitter(0.01), 0.57 * s, 0.46 * s, 0.56 * s}, 135.0, 0.05);
        drawGaussian(c, 0.5 * s, 0.5 * s, 0.09 * s, 0.35 * s, 20.0);        // mediastinum
        drawEllipse(c, {0.5 * s, 0.5 * s, 0.026 * s, 0.6 * s}, 18.0, 0.4);  // spine
        for (int side = -1; side <= 1; side += 2)                           // clavicles
            drawLine(c, 0.5 * s + side * 0.06 * s, 0.19 * s + jitter(0.005), 0.5 * s + side * 0.3 * s,
                     0.14 * s + jitter(0.01), 2.5 * k, 26.0, nullptr);

        const bool emphysema = has(kEmphysema);
        const double inflate = emphysema ? 1.08 : 1.0;
        lungs_ = {Ellipse{0.3 * s + jitter(0.01), 0.45 * s + jitter(0.01), 0.15 * s * (1 + rng_.uniform(-0.05, 0.05)),
                          0.29 * s * inflate, 0.06},
                  Ellipse{0.7 * s + jitter(0.01), 0.455 * s + jitter(0.01), 0.14 * s * (1 + rng_.uniform(-0.05, 0.05)),
                          0.28 * s * inflate, -0.06}};
        for (const auto& L : lungs_) lungBox_.add(drawEllipse(c, L, emphysema ? -106.0 : -80.0, 0.07));
        // Ribs: thin bright bands across each lung, sloping down laterally.
        const double ribPeriod = 0.075 * s * rng_.uniform(0.92, 1.08), ribPhase = rng_.uniform(0, 1);
        for (const auto& L : lungs_)
            c.apply(L.cx, L.cy, L.rx + 2, L.ry + 2, 14.0, [&](double x, double y) {
                const double w = L.weight(x, y, 0.07);
                if (w <= 0.0) return 0.0;
                const double yy = y + 0.22 * std::abs(x - 0.5 * s);
                const double p = 0.5 + 0.5 * std::sin(2 * std::numbers::pi * (yy / ribPeriod + ribPhase));
                return w * p * p * p * p * p * p;
            });

        Ellipse heart{0.54 * s + jitter(0.01), 0.625 * s + jitter(0.008), 0.115 * s, 0.085 * s,
                      rng_.uniform(-0.15, 0.05)};
        if (has(kCardiomegaly)) heart.rx *= 1.5, heart.ry *= 1.3, heart.cy += 0.015 * s;
        heartBox_ = drawEllipse(c, heart, 48.0, 0.1);
    }

    // A point inside a lung in lung-relative coordinates: u lateral (+ outward), v from apex
    // (-1) to base (+1).
    std::pair<double, double> inLung(int side, double u0, double u1, double v0, double v1) {
        const Ellipse& L = lungs_[static_cast<std::size_t>(side)];
        const double u = rng_.uniform(u0, u1), v = rng_.uniform(v0, v1);
        return std::pair{L.cx + u * L.rx * kOutward[static_cast<std::size_t>(side)], L.cy + v * L.ry};
    }

    std::optional<Box> finding(int f, int side) {
        const Ellipse& L = lungs_[static_cast<std::size_t>(side)];
        const int out = kOutward[static_cast<std::size_t>(side)];
        switch (f) {
        case kAtelectasis: return atelectasis(side, L);
        case kCardiomegaly: return heartBox_;
        case kEffusion: return effusion(L, out);
        case kInfiltration: return infiltration(side, L);
        case kMass: return mass(side);
        case kNodule: return nodule(side);
        case kPneumonia: return pneumonia(side, L);
        case kPneumothorax: return pneumothorax(L, out);
        case kConsolidation: return consolidation(side, L);
        case kEdema: return edema();
        case kEmphysema: return lungBox_;  // drawn with the lungs: hyperlucent, hyperinflated
        case kFibrosis: return fibrosis(L, out);
        case kPleuralThickening: return pleuralThickening(L, out);
        case kHernia: return hernia(L);
        default: return std::nullopt;
        }
    }

    Box atelectasis(int side, const Ellipse& L) {  // plate-like band in the lower-mid zone
        const auto [x, y] = inLung(side, -0.3, 0.4, 0.2, 0.5);
        return drawEllipse(canvas_, {x, y, 0.55 * L.rx, rng_.uniform(4.5, 6.5) * k_, rng_.uniform(-0.25, 0.25)}, 64.0,
                           0.3, &L);
    }

    Box effusion(const Ellipse& L, int out) {  // fluid filling the costophrenic angle, meniscus rising laterally
        const Ellipse pleura{L.cx, L.cy, L.rx * 1.04, L.ry * 1.03, L.angle};
        return drawEllipse(canvas_, {L.cx + 0.1 * L.rx * out, L.cy + 0.92 * L.ry, 1.1 * L.rx, 0.32 * L.ry, -0.2 * out},
                           80.0, 0.12, &pleura);
    }

    Box infiltration(int side, const Ellipse& L) {  // patchy hazy clusters
        const auto [x, y] = inLung(side, -0.4, 0.4, -0.3, 0.35);
        Box b;
        const int n = rng_.integer(6, 9);
        for (int i = 0; i < n; ++i)
            b.add(drawGaussian(canvas_, x + rng_.uniform(-0.45, 0.45) * L.rx, y + rng_.uniform(-0.25, 0.25) * L.ry,
                               rng_.uniform(3.5, 7.0) * k_, rng_.uniform(3.5, 7.0) * k_, rng_.uniform(26, 38), &L));
        return b;
    }

    Box mass(int side) {
        const auto [x, y] = inLung(side, -0.4, 0.4, -0.45, 0.45);
        const double r = rng_.uniform(12, 18) * k_;
        return drawEllipse(canvas_, {x, y, r, r * rng_.uniform(0.85, 1.1), rng_.uniform(0, 3)}, 90.0, 0.12);
    }

    Box nodule(int side) {
        const auto [x, y] = inLung(side, -0.55, 0.55, -0.6, 0.55);
        const double r = rng_.uniform(3.5, 6.0) * k_;
        return drawEllipse(canvas_, {x, y, r, r}, 88.0, 0.22);
    }

    Box pneumonia(int side, const Ellipse& L) {  // fuzzy lower-zone airspace opacity
        const auto [x, y] = inLung(side, -0.35, 0.35, 0.1, 0.45);
        Box b = drawGaussian(canvas_, x, y, rng_.uniform(11, 16) * k_, rng_.uniform(9, 14) * k_, 60.0, &L);
        for (int i = 0; i < 2; ++i)
            b.add(drawGaussian(canvas_, x + rng_.uniform(-14, 14) * k_, y + rng_.uniform(-10, 10) * k_, 6 * k_, 6 * k_,
                               30.0, &L));
        return b;
    }

    Box pneumothorax(const Ellipse& L, int out) {  // air (darker than lung) at the apex, sharp pleural edge
        return drawEllipse(canvas_,
                           {L.cx + 0.25 * L.rx * out, L.cy - 0.72 * L.ry, 0.75 * L.rx, 0.32 * L.ry, 0.25 * out}, -52.0,
                           0.06, &L, 0.03);
    }

    Box consolidation(int side, const Ellipse& L) {  // dense, homogeneous, sharp-edged
        const auto [x, y] = inLung(side, -0.3, 0.35, -0.1, 0.35);
        return drawEllipse(canvas_, {x, y, 0.5 * L.rx, 0.2 * L.ry, rng_.uniform(-0.3, 0.3)}, 80.0, 0.05, &L);
    }

    Box edema() {  // bilateral perihilar ("bat wing") haze
        Box b;
        for (std::size_t i = 0; i < 2; ++i)
            b.add(drawGaussian(canvas_, lungs_[i].cx - 0.45 * lungs_[i].rx * kOutward[i],
                               lungs_[i].cy + 0.05 * lungs_[i].ry, 0.42 * lungs_[i].rx, 0.3 * lungs_[i].ry, 44.0,
                               &lungs_[i]));
        return b;
    }

    Box fibrosis(const Ellipse& L, int out) {  // reticular strands in the lower periphery
        const double x = L.cx + 0.55 * L.rx * out, y = L.cy + 0.45 * L.ry;
        Box b;
        const int n = rng_.integer(9, 13);
        for (int i = 0; i < n; ++i) {
            const double sx = x + rng_.uniform(-0.3, 0.3) * L.rx, sy = y + rng_.uniform(-0.25, 0.25) * L.ry;
            const double a = rng_.uniform(0, 2 * std::numbers::pi), len = rng_.uniform(8, 20) * k_;
            b.add(drawLine(canvas_, sx, sy, sx + len * std::cos(a), sy + len * std::sin(a), 0.9 * k_, 40.0, &L));
        }
        return b;
    }

    Box pleuralThickening(const Ellipse& L, int out) {  // band along the upper lateral chest wall
        return canvas_.apply(L.cx, L.cy, L.rx + 2, L.ry + 2, 60.0, [&](double x, double y) {
            const double d = L.radius(x, y);
            const double band = clampd((d - 0.84) / 0.05, 0.0, 1.0) * clampd((1.0 - d) / 0.04, 0.0, 1.0);
            const double lateral = (x - L.cx) * out / L.rx, v = (y - L.cy) / L.ry;
            return band * clampd((lateral - 0.15) / 0.3, 0.0, 1.0) * clampd((0.45 - v) / 0.3, 0.0, 1.0);
        });
    }

    Box hernia(const Ellipse& L) {  // retrocardiac mass with an air-fluid level
        const double x = 0.5 * s_ + jitter(0.02), y = 0.5 * (lungs_[0].cy + lungs_[1].cy) + 0.85 * L.ry;
        const double r = rng_.uniform(15, 19) * k_;
        const Box b = drawEllipse(canvas_, {x, y, r, r * 0.9}, 40.0, 0.15);
        drawEllipse(canvas_, {x, y - 0.35 * r, 0.6 * r, 0.3 * r}, -55.0, 0.2);
        return b;
    }

    static constexpr std::array<int, 2> kOutward = {-1, +1};  // lateral direction of each lung in x
    const ChestImage& im_;
    Rng rng_;
    double s_, k_;
    Canvas canvas_;
    std::array<Ellipse, 2> lungs_{};
    Box lungBox_, heartBox_;
};

std::vector<PlantedBox> renderChest(const ChestImage& im, int size, std::uint64_t seed,
                                    std::vector<std::uint8_t>& out) {
    return ChestPainter(im, size, seed).paint(out);
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

// ------------------------------------------------------------------------------------------
// Reports (the clip_contrastive task's text side): one radiology-style report per image,
// written from what was planted — the finding, its side (patient's right = the image's left),
// its zone and, for a mass or nodule, its size to the nearest 5 mm (a reader's measure on a film;
// at the recipe's 96 px one pixel is 3.75 mm, so exact millimetres would make most reports unique
// by differences no image shows) — so image and text carry the same facts.

struct Where {
    std::string side, zone;
    long mm = 0;
};

Where whereOf(const Box& b, int size) {
    const double cx = 0.5 * (b.x0 + b.x1), cy = 0.5 * (b.y0 + b.y1);
    Where w;
    w.side = cx < 0.5 * size ? "right" : "left";
    w.zone = cy < 0.4 * size ? "upper" : (cy < 0.55 * size ? "mid" : "lower");
    w.mm = 5 * std::lround(std::max(b.x1 - b.x0 + 1, b.y1 - b.y0 + 1) * kChestFieldOfViewMm / size / 5.0);
    return w;
}

std::string capitalised(std::string s) {
    if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return s;
}

/// "An 8 mm", "An 11 mm", "A 15 mm".
std::string article(long mm) {
    const std::string d = std::to_string(mm);
    return d[0] == '8' || d == "11" || d == "18" ? "An " : "A ";
}

std::string sentenceFor(int finding, const Where& w) {
    const std::string inZone = " in the " + w.side + " " + w.zone + " zone";
    switch (finding) {
    case kAtelectasis: return "Plate-like atelectasis in the " + w.side + " lower zone.";
    case kCardiomegaly: return "The heart is enlarged.";
    case kEffusion: return capitalised(w.side) + " pleural effusion.";
    case kInfiltration: return "Patchy infiltrates" + inZone + ".";
    case kMass: return article(w.mm) + std::to_string(w.mm) + " mm mass" + inZone + ".";
    case kNodule: return article(w.mm) + std::to_string(w.mm) + " mm nodule" + inZone + ".";
    case kPneumonia: return "Airspace opacity in the " + w.side + " lower zone, consistent with pneumonia.";
    case kPneumothorax: return capitalised(w.side) + " apical pneumothorax.";
    case kConsolidation: return "Consolidation" + inZone + ".";
    case kEdema: return "Bilateral perihilar haze, consistent with pulmonary edema.";
    case kEmphysema: return "Hyperinflated lungs, consistent with emphysema.";
    case kFibrosis: return "Reticular opacities in the " + w.side + " lower zone, consistent with fibrosis.";
    case kPleuralThickening: return capitalised(w.side) + " apical pleural thickening.";
    case kHernia: return "Retrocardiac air-fluid level, consistent with a hiatal hernia.";
    default: return {};
    }
}

std::string reportOf(const ChestImage& im, const std::vector<PlantedBox>& planted, int size) {
    if (im.findings.empty()) return "Lungs are clear. Heart size is normal.";
    std::string text;
    for (int f : im.findings) {
        Where w;
        for (const auto& p : planted)
            if (p.finding == f && !p.box.empty()) w = whereOf(p.box, size);
        text += (text.empty() ? "" : " ") + sentenceFor(f, w);
    }
    if (std::find(im.findings.begin(), im.findings.end(), kCardiomegaly) == im.findings.end())
        text += " Heart size is normal.";
    return text;
}

/// BERT's basic tokens of the demo's ASCII reports: lower-cased words, punctuation on its own.
void addWords(const std::string& text, std::set<std::string>& words) {
    std::string word;
    const auto flush = [&] {
        if (!word.empty()) words.insert(word);
        word.clear();
    };
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c)) {
            word += static_cast<char>(std::tolower(c));
        } else {
            flush();
            if (!std::isspace(c)) words.insert(std::string(1, ch));
        }
    }
    flush();
}

/// A BERT vocab.txt covering the reports, the zero-shot prompts ("<label> is present." /
/// "... is not present.") and any number (digits and "##" digits).
std::string reportVocabulary(const std::vector<std::string>& reports) {
    std::set<std::string> words;
    for (const auto& r : reports) addWords(r, words);
    for (const auto& f : kNihFindings) {
        std::string label = f;
        std::replace(label.begin(), label.end(), '_', ' ');
        addWords(label + " is not present. No Finding", words);
    }
    for (char d = '0'; d <= '9'; ++d) words.insert(std::string("##") + d), words.insert(std::string(1, d));
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (const auto& w : words) vocab += w + "\n";
    return vocab;
}

void writeReports(const std::vector<ChestImage>& images, const std::vector<std::vector<PlantedBox>>& boxes, int size,
                  Output& out, const fs::path& base) {
    std::string csv = "id,report\n";
    std::vector<std::string> reports;
    for (std::size_t i = 0; i < images.size(); ++i) {
        reports.push_back(reportOf(images[i], boxes[i], size));
        csv += images[i].name + ",\"" + reports.back() + "\"\n";
    }
    out.writeText(base / "reports.csv", csv);
    out.writeText(base / "report_vocab.txt", reportVocabulary(reports));
}

}  // namespace

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
            boxes[static_cast<std::size_t>(i)] =
                renderChest(im, o.imageSize, streamSeed(o.seed, kChestPixels, static_cast<std::uint64_t>(i)), pixels);
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
                 std::to_string(im.followUp) + "," + std::to_string(im.patient) + "," + std::to_string(im.age) + "," +
                 im.gender + "," + im.view + "," + std::to_string(o.imageSize) + "," + std::to_string(o.imageSize) +
                 "," + spacing + "," + spacing + ",\n";
        auto planted = boxes[i];
        std::sort(planted.begin(), planted.end(), [](const PlantedBox& a, const PlantedBox& b) {
            return kNihFindings[static_cast<std::size_t>(a.finding)] <
                   kNihFindings[static_cast<std::size_t>(b.finding)];
        });
        for (const auto& p : planted) {
            if (p.box.empty()) continue;
            boxCsv += im.name + "," + kNihFindings[static_cast<std::size_t>(p.finding)] + "," +
                      std::to_string(p.box.x0) + "," + std::to_string(p.box.y0) + "," +
                      std::to_string(p.box.x1 - p.box.x0 + 1) + "," + std::to_string(p.box.y1 - p.box.y0 + 1) + "\n";
        }
    }
    out.writeText(base / "Data_Entry_2017.csv", entry);
    out.writeText(base / "boxes.csv", boxCsv);
    writeReports(images, boxes, o.imageSize, out, base);

    // Split by patient so no patient leaks from training into test.
    std::set<int> patientSet;
    for (const auto& im : images) patientSet.insert(im.patient);
    std::vector<int> patients(patientSet.begin(), patientSet.end());
    Rng rng(streamSeed(o.seed, kChestPlan, 1));
    rng.shuffle(patients);
    const std::size_t testCount = static_cast<std::size_t>(std::lround(patients.size() * 0.2));
    const std::set<int> testPatients(patients.begin(), patients.begin() + static_cast<std::ptrdiff_t>(testCount));
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

}  // namespace lumen::demo::detail
