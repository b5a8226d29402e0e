#include "data/volume_preprocessing.h"

#include "io/dicom_series.h"
#include "io/nifti_reader.h"
#include "io/read_error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lumen::data {

const std::vector<CtWindowPreset>& ctWindowPresets() {
    static const std::vector<CtWindowPreset> p = {
        {"lung", -600, 1500}, {"mediastinum", 40, 400}, {"bone", 400, 1800}, {"brain", 40, 80}};
    return p;
}

std::array<double, 2> parseHuWindow(const std::string& text) {
    for (const auto& w : ctWindowPresets())
        if (w.name == text) return {w.centre - w.width / 2, w.centre + w.width / 2};
    std::string names;
    for (const auto& w : ctWindowPresets()) names += (names.empty() ? "" : ", ") + w.name;
    const auto bad = [&](const std::string& why) {
        return std::invalid_argument("HU window \"" + text + "\": " + why + " (known: " + names + ", or LO:HI in HU)");
    };
    const auto colon = text.find(':', 1);  // a leading '-' is a sign
    if (colon == std::string::npos) throw bad("unknown name");
    double lo = 0, hi = 0;
    try {
        std::size_t used = 0;
        lo = std::stod(text.substr(0, colon), &used);
        if (used != colon) throw bad("LO is not a number");
        const std::string rest = text.substr(colon + 1);
        hi = std::stod(rest, &used);
        if (used != rest.size()) throw bad("HI is not a number");
    } catch (const std::logic_error&) {
        throw bad("not LO:HI numbers");
    }
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) throw bad("needs LO < HI");
    return {lo, hi};
}

std::string VolumePreprocessing::toJson() const {
    nlohmann::ordered_json j;
    j["orientation"] = "RAS";
    j["spacing"] = spacing;
    j["size"] = size;
    j["hu_window"] = {huMin, huMax};
    j["scale"] = "[-1,1]";
    j["interpolation"] = "trilinear, half-voxel centres";
    j["pad_hu"] = huMin;
    if (!extraWindows.empty()) j["extra_windows"] = extraWindows;
    return j.dump();
}

namespace {

/// What makes a series folder irregular: other series beside the chosen one, gaps, uneven steps.
std::vector<std::string> irregularities(const io::DicomSeriesReport& r) {
    std::vector<std::string> out;
    if (!r.otherSeries.empty()) {
        std::string uids;
        for (std::size_t i = 0; i < r.otherSeries.size() && i < 3; ++i) uids += (i ? ", " : "") + r.otherSeries[i];
        if (r.otherSeries.size() > 3) uids += ", ...";
        out.push_back(std::to_string(r.otherSeries.size() + 1) + " series in one folder: took " + r.seriesInstanceUid +
                      " (" + std::to_string(r.files.size()) + " slices), not " + uids);
    }
    for (const auto& w : r.warnings) out.push_back(w);  // gaps and non-uniform spacing, each named
    return out;
}

}  // namespace

io::ImageVolume readCtVolume(const std::filesystem::path& path, const CtSeriesPolicy& policy,
                             std::vector<std::string>* warnings) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        auto series = io::loadDicomSeries(path);
        const auto found = irregularities(series.report);
        if (!found.empty() && !policy.allowIrregular) {
            std::string text;
            for (const auto& f : found) text += (text.empty() ? "" : "; ") + f;
            throw io::ReadError(path, "not one regular DICOM series: " + text +
                                          " (stacking it at the median spacing would misplace slices; give each series "
                                          "its own folder, or set data.allow_irregular_series: true to accept it)");
        }
        if (warnings)
            for (const auto& f : found) warnings->push_back(path.string() + ": " + f);
        return std::move(series.volume);
    }
    if (!std::filesystem::exists(path, ec)) throw io::ReadError(path, "no such file or folder");
    if (io::looksLikeNifti(path)) return io::readNifti(path);
    throw io::ReadError(path, "not a CT volume: expected a NIfTI file (.nii, .nii.gz) or a DICOM series folder");
}

std::array<double, 3> PreparedVolume::fromSourceIndex(const std::array<double, 3>& ijk,
                                                      const std::array<int, 3>& dims) const {
    std::array<double, 3> out{};
    for (int p = 0; p < 3; ++p) {
        const int a = sourceAxis[std::size_t(p)];
        const double q = flipped[std::size_t(p)] ? dims[std::size_t(a)] - 1 - ijk[std::size_t(a)] : ijk[std::size_t(a)];
        out[std::size_t(p)] = (q - offset[std::size_t(p)]) / scale[std::size_t(p)];
    }
    return out;
}

io::ImageVolume PreparedVolume::toImageVolume(const std::vector<float>& v) const {
    io::ImageVolume out;
    out.depth = nz;
    out.rows = ny;
    out.columns = nx;
    out.isVolume = true;
    out.values = v;
    out.spacing = spacing;
    // RAS axes in the readers' LPS form: +x (R) = -L, +y (A) = -P, +z (S) = +S.
    out.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
    out.origin = {-originRas[0], -originRas[1], originRas[2]};
    out.meta.format = "NIfTI-1";
    return out;
}

namespace {

/// Which source axis becomes each RAS axis of `out`, and whether it runs backwards.
void mapAxesToRas(const io::ImageVolume& v, const std::string& name, PreparedVolume& out) {
    std::array<bool, 3> taken{false, false, false};
    for (int a = 0; a < 3; ++a) {
        const double ras[3] = {-v.direction[std::size_t(a)], -v.direction[std::size_t(3 + a)],
                               v.direction[std::size_t(6 + a)]};
        int best = 0;
        for (int q = 1; q < 3; ++q)
            if (std::abs(ras[q]) > std::abs(ras[best])) best = q;
        if (taken[std::size_t(best)])
            throw std::invalid_argument(name + ": oblique orientation (two axes map to one RAS axis)");
        taken[std::size_t(best)] = true;
        out.sourceAxis[std::size_t(best)] = a;
        out.flipped[std::size_t(best)] = ras[best] < 0;
    }
}

/// Per output axis: the two source samples and weights of each output coordinate (-1 = pad).
struct Tap {
    int i0 = -1, i1 = -1;
    float w1 = 0;
};

std::array<std::vector<Tap>, 3> linearTaps(const PreparedVolume& out, const std::array<int, 3>& n,
                                           const std::array<int, 3>& m, const std::array<int, 3>& target,
                                           const std::array<int, 3>& crop) {
    std::array<std::vector<Tap>, 3> taps;
    for (int q = 0; q < 3; ++q) {
        const auto Q = std::size_t(q);
        taps[Q].resize(std::size_t(target[Q]));
        for (int o = 0; o < target[Q]; ++o) {
            const int r = o + crop[Q];
            if (r < 0 || r >= m[Q]) continue;  // padding
            double s = (r + 0.5) * out.scale[Q] - 0.5;
            s = std::clamp(s, 0.0, static_cast<double>(n[Q] - 1));
            const int i0 = static_cast<int>(std::floor(s));
            const int i1 = std::min(i0 + 1, n[Q] - 1);
            // Stored index along the source axis (flipped axes count from the other end).
            const auto src = [&](int i) { return out.flipped[Q] ? n[Q] - 1 - i : i; };
            taps[Q][std::size_t(o)] = {src(i0), src(i1), static_cast<float>(s - i0)};
        }
    }
    return taps;
}

/// Channel c maps [lo_c, hi_c] to [-1, 1]; padding is -1 in every channel.
struct Window {
    float lo, hi, k;
};

std::vector<Window> huWindows(const VolumePreprocessing& p, const std::string& what) {
    std::vector<Window> windows{{float(p.huMin), float(p.huMax), 2.0f / float(p.huMax - p.huMin)}};
    for (const auto& w : p.extraWindows) {
        if (!(w[1] > w[0]))
            throw std::invalid_argument(what + ": extra HU window [" + std::to_string(w[0]) + ", " +
                                        std::to_string(w[1]) + "] needs lo < hi");
        windows.push_back({float(w[0]), float(w[1]), 2.0f / float(w[1] - w[0])});
    }
    return windows;
}

}  // namespace

PreparedVolume prepareVolume(const io::ImageVolume& v, const VolumePreprocessing& p, const std::string& what) {
    const std::string name = what.empty() ? std::string("volume") : what;
    if (v.time != 1 || v.samples != 1 || v.depth < 1 || v.rows < 1 || v.columns < 1)
        throw std::invalid_argument(name + ": expected a single-channel 3-D volume, got time " +
                                    std::to_string(v.time) + ", samples " + std::to_string(v.samples));
    if (v.values.size() != v.elementCount()) throw std::invalid_argument(name + ": values do not match the shape");
    if (!(p.huMax > p.huMin)) throw std::invalid_argument(name + ": HU window max must exceed min");
    const std::array<int, 3> dims{v.columns, v.rows, v.depth};

    PreparedVolume out;
    mapAxesToRas(v, name, out);
    std::array<int, 3> n{}, m{}, target{}, crop{};
    std::array<double, 3> srcSpacing{};
    for (int q = 0; q < 3; ++q) {
        const auto Q = std::size_t(q);
        const int a = out.sourceAxis[Q];
        n[Q] = dims[std::size_t(a)];
        srcSpacing[Q] = v.spacing[std::size_t(a)];
        const double t = p.spacing[Q] > 0 ? p.spacing[Q] : srcSpacing[Q];
        m[Q] = std::max(1, static_cast<int>(std::lround(n[Q] * srcSpacing[Q] / t)));
        target[Q] = p.size[Q] > 0 ? p.size[Q] : m[Q];
        crop[Q] = static_cast<int>(std::floor((m[Q] - target[Q]) / 2.0));
        out.scale[Q] = static_cast<double>(n[Q]) / m[Q];
        out.offset[Q] = (crop[Q] + 0.5) * out.scale[Q] - 0.5;
        out.spacing[Q] = srcSpacing[Q] * out.scale[Q];
    }
    out.nx = target[0];
    out.ny = target[1];
    out.nz = target[2];

    // World position of output voxel 0 (continuous source index at the output's origin).
    std::array<double, 3> srcIdx{};
    for (int q = 0; q < 3; ++q) {
        const auto Q = std::size_t(q);
        const int a = out.sourceAxis[Q];
        srcIdx[std::size_t(a)] = out.flipped[Q] ? n[Q] - 1 - out.offset[Q] : out.offset[Q];
    }
    std::array<double, 3> lps = v.origin;
    for (int r = 0; r < 3; ++r)
        for (int a = 0; a < 3; ++a)
            lps[std::size_t(r)] +=
                v.direction[std::size_t(r * 3 + a)] * v.spacing[std::size_t(a)] * srcIdx[std::size_t(a)];
    out.originRas = {-lps[0], -lps[1], lps[2]};

    const auto taps = linearTaps(out, n, m, target, crop);
    // Strides of the source's (column, row, slice) axes in its C-order buffer.
    const std::array<std::size_t, 3> stride{1, std::size_t(v.columns), std::size_t(v.columns) * std::size_t(v.rows)};
    std::array<std::size_t, 3> st{};
    for (int q = 0; q < 3; ++q) st[std::size_t(q)] = stride[std::size_t(out.sourceAxis[std::size_t(q)])];

    const auto windows = huWindows(p, what);
    out.channels = static_cast<int>(windows.size());
    const std::size_t plane = std::size_t(out.nx) * std::size_t(out.ny) * std::size_t(out.nz);
    out.values.assign(plane * windows.size(), -1.0f);
    const float* src = v.values.data();
    std::size_t idx = 0;
    for (int z = 0; z < out.nz; ++z) {
        const Tap tz = taps[2][std::size_t(z)];
        for (int y = 0; y < out.ny; ++y) {
            const Tap ty = taps[1][std::size_t(y)];
            for (int x = 0; x < out.nx; ++x, ++idx) {
                const Tap tx = taps[0][std::size_t(x)];
                if (tz.i0 < 0 || ty.i0 < 0 || tx.i0 < 0) continue;  // pad: -1
                const auto at = [&](int a, int b, int c) {
                    return src[std::size_t(a) * st[0] + std::size_t(b) * st[1] + std::size_t(c) * st[2]];
                };
                const float c00 = at(tx.i0, ty.i0, tz.i0) * (1 - tx.w1) + at(tx.i1, ty.i0, tz.i0) * tx.w1;
                const float c10 = at(tx.i0, ty.i1, tz.i0) * (1 - tx.w1) + at(tx.i1, ty.i1, tz.i0) * tx.w1;
                const float c01 = at(tx.i0, ty.i0, tz.i1) * (1 - tx.w1) + at(tx.i1, ty.i0, tz.i1) * tx.w1;
                const float c11 = at(tx.i0, ty.i1, tz.i1) * (1 - tx.w1) + at(tx.i1, ty.i1, tz.i1) * tx.w1;
                const float c0 = c00 * (1 - ty.w1) + c10 * ty.w1, c1 = c01 * (1 - ty.w1) + c11 * ty.w1;
                const float hu = c0 * (1 - tz.w1) + c1 * tz.w1;
                for (std::size_t c = 0; c < windows.size(); ++c) {
                    const Window& w = windows[c];
                    out.values[c * plane + idx] = (std::clamp(hu, w.lo, w.hi) - w.lo) * w.k - 1.0f;
                }
            }
        }
    }
    return out;
}

}  // namespace lumen::data
