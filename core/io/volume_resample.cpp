#include "io/volume_resample.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lumen::io {

namespace {

using Mat3 = std::array<double, 9>;

// M = direction * diag(spacing): voxel index steps -> world millimetres (LPS).
Mat3 indexToWorld(const ImageVolume& v) {
    Mat3 m{};
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c)
            m[std::size_t(r * 3 + c)] = v.direction[std::size_t(r * 3 + c)] * v.spacing[std::size_t(c)];
    return m;
}

Mat3 inverse(const Mat3& m) {
    const double det =
        m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
    if (!(std::abs(det) > 1e-12)) throw std::invalid_argument("sampleOnGrid: the source's geometry is singular");
    const double k = 1.0 / det;
    return {k * (m[4] * m[8] - m[5] * m[7]), k * (m[2] * m[7] - m[1] * m[8]), k * (m[1] * m[5] - m[2] * m[4]),
            k * (m[5] * m[6] - m[3] * m[8]), k * (m[0] * m[8] - m[2] * m[6]), k * (m[2] * m[3] - m[0] * m[5]),
            k * (m[3] * m[7] - m[4] * m[6]), k * (m[1] * m[6] - m[0] * m[7]), k * (m[0] * m[4] - m[1] * m[3])};
}

}  // namespace

std::vector<float> sampleOnGrid(const ImageVolume& source, const ImageVolume& target, std::array<int, 3> dims,
                                Interpolation mode) {
    if (source.samples != 1)
        throw std::invalid_argument("sampleOnGrid: the source has " + std::to_string(source.samples) +
                                    " samples per voxel");
    for (int d : dims)
        if (d < 1) throw std::invalid_argument("sampleOnGrid: grid dimensions must be positive");
    const Mat3 t = indexToWorld(target), sInv = inverse(indexToWorld(source));
    const int nx = source.columns, ny = source.rows, nz = source.depth;
    const std::array<int, 3> tn{target.columns, target.rows, target.depth};
    const auto at = [&](int i, int j, int k) {
        return source.values[(std::size_t(k) * std::size_t(ny) + std::size_t(j)) * std::size_t(nx) + std::size_t(i)];
    };
    std::vector<float> out(std::size_t(dims[0]) * std::size_t(dims[1]) * std::size_t(dims[2]), 0.0f);
    std::size_t idx = 0;
    for (int c = 0; c < dims[2]; ++c)
        for (int b = 0; b < dims[1]; ++b)
            for (int a = 0; a < dims[0]; ++a, ++idx) {
                // Target voxel coordinates of the cell centre, then world, then source voxels.
                const std::array<double, 3> x{(a + 0.5) * tn[0] / dims[0] - 0.5, (b + 0.5) * tn[1] / dims[1] - 0.5,
                                              (c + 0.5) * tn[2] / dims[2] - 0.5};
                std::array<double, 3> w{};
                for (int r = 0; r < 3; ++r)
                    w[std::size_t(r)] = target.origin[std::size_t(r)] + t[std::size_t(r * 3)] * x[0] +
                                        t[std::size_t(r * 3 + 1)] * x[1] + t[std::size_t(r * 3 + 2)] * x[2] -
                                        source.origin[std::size_t(r)];
                std::array<double, 3> s{};
                for (int r = 0; r < 3; ++r)
                    s[std::size_t(r)] = sInv[std::size_t(r * 3)] * w[0] + sInv[std::size_t(r * 3 + 1)] * w[1] +
                                        sInv[std::size_t(r * 3 + 2)] * w[2];
                // Half a voxel beyond the outermost centres still belongs to the source.
                if (s[0] < -0.5 || s[1] < -0.5 || s[2] < -0.5 || s[0] > nx - 0.5 || s[1] > ny - 0.5 || s[2] > nz - 0.5)
                    continue;
                if (mode == Interpolation::Nearest) {
                    out[idx] =
                        at(std::clamp(int(std::lround(s[0])), 0, nx - 1), std::clamp(int(std::lround(s[1])), 0, ny - 1),
                           std::clamp(int(std::lround(s[2])), 0, nz - 1));
                    continue;
                }
                const auto axis = [](double v, int n, int& i0, int& i1, double& f) {
                    v = std::clamp(v, 0.0, double(n - 1));
                    i0 = int(std::floor(v));
                    i1 = std::min(i0 + 1, n - 1);
                    f = v - i0;
                };
                int x0, x1, y0, y1, z0, z1;
                double fx, fy, fz;
                axis(s[0], nx, x0, x1, fx);
                axis(s[1], ny, y0, y1, fy);
                axis(s[2], nz, z0, z1, fz);
                const double c00 = at(x0, y0, z0) * (1 - fx) + at(x1, y0, z0) * fx;
                const double c10 = at(x0, y1, z0) * (1 - fx) + at(x1, y1, z0) * fx;
                const double c01 = at(x0, y0, z1) * (1 - fx) + at(x1, y0, z1) * fx;
                const double c11 = at(x0, y1, z1) * (1 - fx) + at(x1, y1, z1) * fx;
                out[idx] = float((c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz);
            }
    return out;
}

}  // namespace lumen::io
