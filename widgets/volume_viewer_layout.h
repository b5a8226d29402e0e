#pragma once
// Internal to the volume viewer (volume_viewer.cpp, mpr_view.cpp): plane names, the screen
// layout of each plane in patient terms, orientation letters.

#include <QString>

#include <algorithm>
#include <array>
#include <cmath>

namespace lumen::widgets::viewer_layout {

constexpr const char* kPlaneNames[] = {"Axial", "Coronal", "Sagittal"};

// Screen layout of each plane in patient (LPS) terms: the world axis across (and which way
// is right), the world axis down (and which way is down), the world axis of the normal.
// Radiological convention: patient's left on the right of axial and coronal views, anterior
// up in axial, superior up in coronal and sagittal, anterior left in sagittal.
struct PlaneLayout {
    int across, down, normal;
    bool rightIsPositive, downIsPositive;
};
constexpr PlaneLayout kLayouts[] = {
    {0, 1, 2, true, true},   // axial: right = +x (L), down = +y (P)
    {0, 2, 1, true, false},  // coronal: right = L, down = -z (I)
    {1, 2, 0, true, false},  // sagittal: right = +y (P), down = I
};

// Letters for a direction in LPS: the dominant axis, plus the second one when it is strong
// (oblique acquisitions).
inline QString letters(const std::array<double, 3>& v) {
    static const char* pos = "LPS";
    static const char* neg = "RAI";
    std::array<int, 3> order{0, 1, 2};
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return std::fabs(v[std::size_t(a)]) > std::fabs(v[std::size_t(b)]); });
    QString s;
    for (int n = 0; n < 2; ++n) {
        const int a = order[std::size_t(n)];
        const double c = v[std::size_t(a)];
        if (n == 1 && std::fabs(c) < 0.3 * std::fabs(v[std::size_t(order[0])])) break;
        s += QChar(c >= 0 ? pos[a] : neg[a]);
    }
    return s;
}

}  // namespace lumen::widgets::viewer_layout
