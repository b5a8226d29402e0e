// The demo's coronary anatomy, its planted findings and the cine rendering of one view.
// Scalar code and our own random numbers only, so the bytes are the same on any machine.
#include "demo/demo_coronary.h"

#include "data/column_names.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace lumen::demo::detail {

namespace {

struct Pt {
    double x, y;
};

struct PieceSpec {
    const char* segment;
    int parent;      // index in the same table, -1 = ostium
    double parentT;  // where on the parent it leaves
    Pt end;          // canonical end point (start: the parent's point at parentT, or the ostium)
    double bulge;    // sideways bow of the curve, in normalised units
    double width0, width1;
};

// The left tree seen from the front: left main, LAD down the right of the frame with two
// diagonals, circumflex down the left with two marginals, a ramus between them.
const std::array<PieceSpec, 11> kLeft{{
    {"left_main", -1, 1, {0.50, 0.25}, 0.00, 7.0, 6.8},
    {"prox_lad", 0, 1, {0.62, 0.42}, 0.03, 6.4, 6.0},
    {"mid_lad", 1, 1, {0.70, 0.62}, -0.02, 5.4, 4.6},
    {"dist_lad", 2, 1, {0.72, 0.88}, 0.02, 3.8, 2.4},
    {"D1", 1, 1, {0.86, 0.52}, -0.03, 3.2, 2.0},
    {"D2", 2, 1, {0.90, 0.76}, -0.03, 2.8, 1.6},
    {"lcx", 0, 1, {0.36, 0.42}, -0.03, 6.2, 5.6},
    {"dist_lcx", 6, 1, {0.30, 0.68}, 0.02, 5.0, 3.8},
    {"om1", 6, 1, {0.16, 0.56}, 0.03, 4.0, 2.8},
    {"om2", 7, 0.6, {0.16, 0.80}, 0.02, 2.6, 1.6},
    {"bx", 0, 1, {0.52, 0.58}, 0.04, 2.8, 1.8},
}};
const Pt kLeftOstium{0.44, 0.14};

// The right coronary: a C from the top left round to the bottom, PDA and posterolateral
// branches at the crux, and a small posterolateral twig off that.
const std::array<PieceSpec, 6> kRight{{
    {"prox_rca", -1, 1, {0.22, 0.40}, -0.05, 8.0, 7.4},
    {"mid_rca", 0, 1, {0.30, 0.70}, -0.05, 7.0, 6.4},
    {"dist_rca", 1, 1, {0.56, 0.82}, -0.04, 6.0, 5.0},
    {"pda", 2, 1, {0.66, 0.97}, 0.02, 3.2, 2.0},
    {"posterolateral", 2, 1, {0.80, 0.76}, -0.03, 3.2, 2.2},
    {"lvp", 4, 0.7, {0.86, 0.92}, 0.02, 2.6, 1.6},
}};
const Pt kRightOstium{0.36, 0.16};

int segmentIndex(const std::string& name) {
    const auto& all = data::coronarySegments();
    return static_cast<int>(std::find(all.begin(), all.end(), name) - all.begin());
}

Pt bezier(const std::array<double, 8>& p, double t) {
    const double u = 1 - t;
    const double a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t;
    return {a * p[0] + b * p[2] + c * p[4] + d * p[6], a * p[1] + b * p[3] + c * p[5] + d * p[7]};
}

template <std::size_t N>
std::vector<VesselPiece> planTree(const std::array<PieceSpec, N>& spec, Pt ostium, Rng& rng) {
    const auto j = [&](double a) { return rng.uniform(-a, a); };
    std::vector<VesselPiece> tree;
    const Pt o{ostium.x + j(0.03), ostium.y + j(0.02)};
    const double stretch = 1.0 + j(0.06);  // heart size
    for (const auto& s : spec) {
        VesselPiece v;
        v.segment = segmentIndex(s.segment);
        v.parent = s.parent;
        v.parentT = s.parentT;
        const Pt a = s.parent < 0 ? o : bezier(tree[static_cast<std::size_t>(s.parent)].p, s.parentT);
        const Pt e{o.x + (s.end.x - ostium.x) * stretch + j(0.025), o.y + (s.end.y - ostium.y) * stretch + j(0.025)};
        // Control points a third and two thirds along, bowed sideways (perpendicular).
        const double dx = e.x - a.x, dy = e.y - a.y, len = std::max(1e-6, std::hypot(dx, dy));
        const double nx = -dy / len, ny = dx / len, bow = s.bulge + j(0.015);
        v.p = {a.x,
               a.y,
               a.x + dx / 3 + nx * bow,
               a.y + dy / 3 + ny * bow,
               a.x + 2 * dx / 3 + nx * bow,
               a.y + 2 * dy / 3 + ny * bow,
               e.x,
               e.y};
        v.width0 = s.width0 * (1.0 + j(0.06));
        v.width1 = s.width1 * (1.0 + j(0.06));
        tree.push_back(v);
    }
    return tree;
}

// The drawn extent of each piece: 1 normally, the occlusion's position for an occluded
// segment, -1 for a piece downstream of an occlusion (never filled with contrast).
std::vector<double> filledExtent(const std::vector<VesselPiece>& tree, const CoronaryStudy& study) {
    std::vector<double> end(tree.size(), 1.0);
    for (std::size_t i = 0; i < tree.size(); ++i) {
        const auto& v = tree[i];
        if (v.parent >= 0) {
            const double parentEnd = end[static_cast<std::size_t>(v.parent)];
            if (parentEnd < v.parentT) {
                end[i] = -1;
                continue;
            }
        }
        const auto& f = study.findings[static_cast<std::size_t>(v.segment)];
        if (f.occluded()) end[i] = f.at;
    }
    return end;
}

// Flow past a narrowing: a severe one fills the vessel beyond it late and faintly (reduced
// TIMI flow), a mild one (< 50 %) not at all. Returns each piece's opacification before and
// after its own segment's narrowing.
double flowFactor(const SegmentFinding& f) {
    return f.occluded() ? 0.0 : 1.0 - 0.75 * clampd((f.stenosis - 50.0) / 40.0, 0.0, 1.0);
}

std::vector<std::array<double, 2>> flowAlong(const std::vector<VesselPiece>& tree, const CoronaryStudy& study) {
    std::vector<std::array<double, 2>> flow(tree.size(), {1.0, 1.0});
    for (std::size_t i = 0; i < tree.size(); ++i) {
        const auto& v = tree[i];
        double in = 1.0;
        if (v.parent >= 0) {
            const auto p = static_cast<std::size_t>(v.parent);
            const auto& pf = study.findings[static_cast<std::size_t>(tree[p].segment)];
            in = v.parentT > pf.at ? flow[p][1] : flow[p][0];
        }
        flow[i] = {in, in * flowFactor(study.findings[static_cast<std::size_t>(v.segment)])};
    }
    return flow;
}

struct ViewGeometry {
    double angle, mirror, shiftX, shiftY;
};

ViewGeometry viewGeometry(int view, Rng& rng) {
    // Odd views: the left tree (LAO cranial, then RAO caudal); even: the right (LAO, RAO).
    // The second view of each side is rotated, not mirrored: the LAD stays on the right of the
    // left tree in both of its views (a small model learns the sides from few studies).
    static constexpr std::array<double, 4> kAngle = {0.0, 0.0, 0.4, -0.35};
    static constexpr std::array<double, 4> kMirror = {1, 1, 1, 1};
    const auto k = static_cast<std::size_t>((view - 1) % 4);
    return {kAngle[k] + rng.uniform(-0.12, 0.12), kMirror[k], rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03)};
}

// Splats a disc of radius r at p into `mask` with antialiased edges and a rounded profile
// (thicker in the middle), keeping the maximum; `scale` weights this disc.
void splat(std::vector<float>& mask, Pt p, double r, double scale) {
    constexpr int S = kCineSize;
    const int xa = std::max(0, static_cast<int>(p.x - r - 1)), xb = std::min(S - 1, static_cast<int>(p.x + r + 1));
    const int ya = std::max(0, static_cast<int>(p.y - r - 1)), yb = std::min(S - 1, static_cast<int>(p.y + r + 1));
    for (int y = ya; y <= yb; ++y)
        for (int x = xa; x <= xb; ++x) {
            const double d = std::hypot(x + 0.5 - p.x, y + 0.5 - p.y);
            const double w =
                clampd(r + 0.5 - d, 0.0, 1.0) * (0.7 + 0.3 * std::sqrt(clampd(1.0 - d / (r + 0.5), 0.0, 1.0)));
            float& m = mask[static_cast<std::size_t>(y) * S + x];
            m = std::max(m, static_cast<float>(w * scale));
        }
}

}  // namespace

const std::vector<std::string>& plantedSegments() {
    static const std::vector<std::string> s = {"prox_lad", "lcx", "prox_rca"};
    return s;
}

CoronaryStudy planCoronaryStudy(Rng& rng, int views) {
    CoronaryStudy study;
    study.views = views;
    study.left = planTree(kLeft, kLeftOstium, rng);
    study.right = planTree(kRight, kRightOstium, rng);
    for (const auto* tree : {&study.left, &study.right})
        for (const auto& v : *tree) study.drawn[static_cast<std::size_t>(v.segment)] = true;
    for (const auto& name : plantedSegments()) {
        auto& f = study.findings[static_cast<std::size_t>(segmentIndex(name))];
        f.at = rng.uniform(0.3, 0.7);
        if (rng.chance(0.6)) {
            const double kind = rng.uniform();
            f.stenosis = kind < 0.1   ? 100.0
                         : kind < 0.6 ? std::round(rng.uniform(70, 95))
                                      : std::round(rng.uniform(10, 40));
        }
        f.calcified = rng.chance(f.stenosis > 0 ? 0.4 : 0.12);
        f.thrombus = f.stenosis >= 70 && f.stenosis < 100 && rng.chance(0.25);
    }
    return study;
}

std::array<int, 2> viewAngles(int view) {
    static constexpr std::array<std::array<int, 2>, 4> kAngles = {{{30, 20}, {40, 0}, {-30, -25}, {-30, 0}}};
    return kAngles[static_cast<std::size_t>((view - 1) % 4)];
}

void renderCoronaryView(const CoronaryStudy& study, int view, std::uint64_t seed, std::vector<std::uint8_t>& out) {
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
    const auto& tree = view % 2 == 1 ? study.left : study.right;
    const auto extent = filledExtent(tree, study);
    const auto flow = flowAlong(tree, study);
    const ViewGeometry g = viewGeometry(view, rng);
    const double phase0 = rng.uniform(0, 2 * std::numbers::pi);
    std::vector<float> mask(static_cast<std::size_t>(S) * S), calcium(static_cast<std::size_t>(S) * S);
    for (int f = 0; f < kCineFrames; ++f) {
        const double phase = phase0 + 2 * std::numbers::pi * f / kCineFrames;  // one beat per cine
        const double scale = 1.0 + 0.05 * std::sin(phase);
        const double shiftX = g.shiftX + 0.025 * std::sin(phase), shiftY = g.shiftY + 0.02 * std::sin(phase + 0.9);
        const double contrast = 0.35 + 0.65 * smoothstep(f / 4.0);  // contrast washing in
        const double c = std::cos(g.angle), s = std::sin(g.angle);
        const auto project = [&](Pt p) {
            const double x = (p.x - 0.5) * scale * g.mirror, y = (p.y - 0.45) * scale;
            return Pt{(0.5 + x * c - y * s + shiftX) * S, (0.45 + x * s + y * c + shiftY) * S};
        };
        std::fill(mask.begin(), mask.end(), 0.0f);
        std::fill(calcium.begin(), calcium.end(), 0.0f);
        for (std::size_t i = 0; i < tree.size(); ++i) {
            if (extent[i] <= 0) continue;
            const auto& v = tree[i];
            const auto& finding = study.findings[static_cast<std::size_t>(v.segment)];
            double length = 0;
            Pt prev = project(bezier(v.p, 0));
            for (int k = 1; k <= 32; ++k) {
                const Pt p = project(bezier(v.p, k / 32.0));
                length += std::hypot(p.x - prev.x, p.y - prev.y);
                prev = p;
            }
            const int steps = std::max(2, static_cast<int>(length / 0.4));
            for (int k = 0; k <= steps; ++k) {
                const double t = static_cast<double>(k) / steps;
                if (t > extent[i]) break;
                const Pt p = project(bezier(v.p, t));
                const double r0 = 0.5 * (v.width0 + (v.width1 - v.width0) * t) * scale;
                const double bump = std::exp(-0.5 * std::pow((t - finding.at) / 0.09, 2));
                const double r = r0 * (1.0 - std::min(finding.stenosis, 95.0) / 100.0 * bump);
                // Fainter beyond a severe narrowing (reduced flow); a thrombus is a filling defect:
                // less contrast in the lumen around the lesion.
                const double past = 1.0 / (1.0 + std::exp(-(t - finding.at) / 0.03));
                const double opacity = flow[i][0] + (flow[i][1] - flow[i][0]) * past;
                splat(mask, p, r, opacity * (finding.thrombus ? 1.0 - 0.6 * bump : 1.0));
                if (finding.calcified && std::abs(t - finding.at) < 0.2) {
                    // Calcium in the wall: dense streaks on both sides of the lumen, visible before the
                    // contrast, ~2 px clear of it (touching it, it read as a wider vessel: docs/angio.md).
                    const Pt q = project(bezier(v.p, std::min(1.0, t + 0.01)));
                    const double dx = q.x - p.x, dy = q.y - p.y, len = std::max(1e-6, std::hypot(dx, dy));
                    const double off = r0 + 2.0;
                    splat(calcium, {p.x - dy / len * off, p.y + dx / len * off}, 1.4, 1.0);
                    splat(calcium, {p.x + dy / len * off, p.y - dx / len * off}, 1.4, 1.0);
                }
            }
        }
        std::uint8_t* frame = out.data() + static_cast<std::size_t>(f) * S * S;
        for (std::size_t n = 0; n < mask.size(); ++n)
            frame[n] = toByte(background[n] - 115.0 * contrast * mask[n] - 100.0 * calcium[n] + 3.0 * rng.noise());
    }
}

}  // namespace lumen::demo::detail
