#pragma once
// Internal to core/demo: the synthetic coronary anatomy of the demo's angiography and its
// planted findings (narrowings with degrees, calcification, occlusions, thrombus), and the
// rendering of one view of it as an 8-bit cine. docs/demo-workspace.md, "Angiography".

#include "demo/demo_support.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace lumen::demo::detail {

constexpr int kCineSize = 128, kCineFrames = 16;

/// Which injection a view shows: the left coronary tree or the right one.
enum class CoronarySystem { Left, Right };

/// What is planted in one segment; the labels are derived from it.
struct SegmentFinding {
    double stenosis = 0;  ///< diameter narrowing in percent (100 = occluded)
    double at = 0.5;      ///< where along the segment (0..1)
    bool calcified = false;
    bool thrombus = false;
    bool occluded() const { return stenosis >= 100; }
};

/// One vessel piece: a cubic Bézier in normalised coordinates belonging to one segment.
struct VesselPiece {
    int segment = -1;         ///< index into data::coronarySegments()
    int parent = -1;          ///< the piece it leaves from (-1: the ostium)
    double parentT = 1;       ///< where on the parent it starts
    std::array<double, 8> p;  ///< x0 y0 x1 y1 x2 y2 x3 y3
    double width0, width1;    ///< lumen diameter in pixels (128-pixel frame) at start and end
};

struct CoronaryStudy {
    std::vector<VesselPiece> left, right;
    std::array<SegmentFinding, 18> findings{};
    std::array<bool, 18> drawn{};  ///< segments the anatomy has (labelled); the others are unlabelled
    int views = 2;                 ///< 2..4: left, right, left, right
};

/// The segments whose narrowings the demo plants (the recipe's AUROC is over these).
const std::vector<std::string>& plantedSegments();

/// Draws one study's anatomy and findings from `rng` (the plan stream of that study).
CoronaryStudy planCoronaryStudy(Rng& rng, int views);

/// View v (1-based): odd views show the left tree, even ones the right, each from its own
/// angle (the C-arm angles `viewAngles` returns). Writes kCineFrames frames of kCineSize².
void renderCoronaryView(const CoronaryStudy& study, int view, std::uint64_t seed, std::vector<std::uint8_t>& out);

/// The C-arm angles (primary: + LAO / − RAO; secondary: + CRA / − CAU) of view v.
std::array<int, 2> viewAngles(int view);

}  // namespace lumen::demo::detail
