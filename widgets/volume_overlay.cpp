#include "volume_overlay.h"

#include <QStringList>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lumen::widgets {

namespace {

// torch's source index for align_corners=False: (dst + 0.5) * in/out - 0.5, clamped at 0.
struct Lerp {
    int lo, hi;
    double t;
};
Lerp lerpIndex(double dst, int in, int out) {
    double src = (dst + 0.5) * double(in) / double(out) - 0.5;
    src = std::clamp(src, 0.0, double(in - 1));
    const int lo = int(src);
    return {lo, std::min(lo + 1, in - 1), src - lo};
}
int nearestIndex(double dst, int in, int out) {
    return std::clamp(int(std::floor((std::round(dst)) * double(in) / double(out))), 0, in - 1);
}

}  // namespace

OverlaySampler::OverlaySampler(const VolumeOverlay& overlay, std::array<int, 3> volumeDims)
    : volume_(volumeDims), mask_(overlay.labelMask) {
    const auto& s = overlay.shape;
    if (s.size() == 3) grid_ = {int(s[2]), int(s[1]), int(s[0])};
    else if (s.size() == 2) grid_ = {int(s[1]), int(s[0]), 1};
    else
        throw std::invalid_argument("overlay: shape must be (depth, rows, columns) or (rows, columns), got " +
                                    std::to_string(s.size()) + " dimensions");
    const std::size_t n = std::size_t(grid_[0]) * std::size_t(grid_[1]) * std::size_t(grid_[2]);
    if (n == 0) throw std::invalid_argument("overlay: empty shape");
    if (overlay.values.size() != n)
        throw std::invalid_argument("overlay: shape holds " + std::to_string(n) + " values, got " +
                                    std::to_string(overlay.values.size()));
    for (int d : volumeDims)
        if (d <= 0) throw std::invalid_argument("overlay: the volume is empty");
    values_ = overlay.values;
    if (!mask_) {
        const auto [lo, hi] = std::minmax_element(values_.begin(), values_.end());
        const float a = *lo, range = *hi - *lo;
        for (float& v : values_) v = range > 0 && std::isfinite(range) ? (v - a) / range : 0.0f;
    }
}

float OverlaySampler::sample(double x, double y, double z) const {
    if (values_.empty()) return 0;
    const int gw = grid_[0], gh = grid_[1], gd = grid_[2];
    const auto at = [&](int c, int r, int s) { return values_[(std::size_t(s) * gh + r) * gw + c]; };
    if (mask_)
        return at(nearestIndex(x, gw, volume_[0]), nearestIndex(y, gh, volume_[1]), nearestIndex(z, gd, volume_[2]));
    const Lerp a = lerpIndex(x, gw, volume_[0]), b = lerpIndex(y, gh, volume_[1]), c = lerpIndex(z, gd, volume_[2]);
    const auto plane = [&](int s) {
        const double top = at(a.lo, b.lo, s) * (1 - a.t) + at(a.hi, b.lo, s) * a.t;
        const double bottom = at(a.lo, b.hi, s) * (1 - a.t) + at(a.hi, b.hi, s) * a.t;
        return top * (1 - b.t) + bottom * b.t;
    };
    return float(plane(c.lo) * (1 - c.t) + plane(c.hi) * c.t);
}

std::vector<float> OverlaySampler::resampled() const {
    std::vector<float> out(std::size_t(volume_[0]) * volume_[1] * volume_[2]);
    std::size_t n = 0;
    for (int k = 0; k < volume_[2]; ++k)
        for (int j = 0; j < volume_[1]; ++j)
            for (int i = 0; i < volume_[0]; ++i) out[n++] = sample(i, j, k);
    return out;
}

QStringList overlayColormapNames() { return {"jet", "hot", "viridis"}; }

std::vector<QRgb> overlayColormap(const QString& name) {
    std::vector<QRgb> lut(256);
    // Control points (t, r, g, b), linearly interpolated.
    struct Stop {
        double t, r, g, b;
    };
    std::vector<Stop> stops;
    if (name == "hot") stops = {{0, 0.04, 0, 0}, {0.375, 1, 0, 0}, {0.75, 1, 1, 0}, {1, 1, 1, 1}};
    else if (name == "viridis")
        stops = {{0, 0.267, 0.005, 0.329},
                 {0.25, 0.229, 0.322, 0.546},
                 {0.5, 0.128, 0.567, 0.551},
                 {0.75, 0.369, 0.789, 0.383},
                 {1, 0.993, 0.906, 0.144}};
    else if (name == "labels") {
        static const QRgb palette[] = {qRgb(0, 0, 0),      qRgb(230, 25, 75),  qRgb(60, 180, 75),
                                       qRgb(255, 225, 25), qRgb(0, 130, 200),  qRgb(245, 130, 48),
                                       qRgb(145, 30, 180), qRgb(70, 240, 240), qRgb(240, 50, 230)};
        for (int i = 0; i < 256; ++i) lut[std::size_t(i)] = i == 0 ? palette[0] : palette[1 + (i - 1) % 8];
        return lut;
    } else  // jet
        stops = {{0, 0, 0, 0.5},   {0.125, 0, 0, 1}, {0.375, 0, 1, 1},
                 {0.625, 1, 1, 0}, {0.875, 1, 0, 0}, {1, 0.5, 0, 0}};
    for (int i = 0; i < 256; ++i) {
        const double t = i / 255.0;
        std::size_t s = 1;
        while (s + 1 < stops.size() && stops[s].t < t) ++s;
        const Stop& a = stops[s - 1];
        const Stop& b = stops[s];
        const double u = b.t > a.t ? std::clamp((t - a.t) / (b.t - a.t), 0.0, 1.0) : 0.0;
        const auto mix = [&](double x, double y) { return int(std::lround(255 * (x + (y - x) * u))); };
        lut[std::size_t(i)] = qRgb(mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b));
    }
    return lut;
}

}  // namespace lumen::widgets
