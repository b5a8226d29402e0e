#include "view/prepared_volume.h"

#include "io/dicom_series.h"
#include "io/media_reader.h"
#include "jobs/job.h"
#include "util/parallel.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lumen::view {

float PreparedVolume::value(int i, int j, int k) const {
    const auto& v = *volume;
    const std::size_t idx =
        (std::size_t(k) * std::size_t(v.rows) + std::size_t(j)) * std::size_t(v.columns) + std::size_t(i);
    return v.values[idx * std::size_t(v.samples)];
}

std::shared_ptr<const PreparedVolume> prepareVolume(std::shared_ptr<const io::ImageVolume> volume) {
    if (!volume || volume->elementCount() == 0 || volume->values.size() < volume->elementCount())
        throw std::invalid_argument("the volume is empty");
    auto p = std::make_shared<PreparedVolume>();
    p->volume = volume;
    const auto& v = *volume;
    p->dims = {v.columns, v.rows, v.depth};
    const std::size_t n = std::size_t(v.columns) * std::size_t(v.rows) * std::size_t(v.depth);
    float lo = v.values[0], hi = v.values[0];
    for (std::size_t i = 0; i < n; ++i) {
        const float x = v.values[i * std::size_t(v.samples)];
        lo = std::min(lo, x);
        hi = std::max(hi, x);
    }
    p->minValue = lo;
    p->maxValue = std::max(hi, lo + 1);

    // Voxel axis -> closest world axis: the permutation with the largest |cosines|.
    const auto& d = v.direction;  // row-major; column a = voxel axis a
    std::array<int, 3> best{0, 1, 2}, perm{0, 1, 2};
    double bestScore = -1;
    do {
        double score = 0;
        for (int a = 0; a < 3; ++a) score += std::fabs(d[std::size_t(perm[std::size_t(a)] * 3 + a)]);
        if (score > bestScore + 1e-9) {
            bestScore = score;
            best = perm;
        }
    } while (std::next_permutation(perm.begin(), perm.end()));
    for (int a = 0; a < 3; ++a) {
        const int w = best[std::size_t(a)];
        p->axisOfWorld[std::size_t(w)] = a;
        p->positive[std::size_t(w)] = d[std::size_t(w * 3 + a)] >= 0;
    }

    for (int a = 0; a < 3; ++a) {
        const int dim = p->dims[std::size_t(a)];
        const int f = (dim + PreparedVolume::kMaxProxy - 1) / PreparedVolume::kMaxProxy;
        p->proxyFactor[std::size_t(a)] = f;
        p->proxyDims[std::size_t(a)] = (dim + f - 1) / f;
    }
    const auto [fx, fy, fz] = p->proxyFactor;
    const auto [px, py, pz] = p->proxyDims;
    p->proxy.assign(std::size_t(px) * std::size_t(py) * std::size_t(pz), 0.0f);
    // Box averages, proxy slices split over the cores (each thread owns its own output).
    std::vector<int> pcol(std::size_t(v.columns));
    for (int i = 0; i < v.columns; ++i) pcol[std::size_t(i)] = i / fx;
    const std::size_t samples = std::size_t(v.samples);
    const auto work = [&](int firstSlice, int endSlice) {
        for (int pk = firstSlice; pk < endSlice; ++pk) {
            float* out = p->proxy.data() + std::size_t(pk) * std::size_t(py) * std::size_t(px);
            const int k1 = std::min(v.depth, (pk + 1) * fz);
            for (int k = pk * fz; k < k1; ++k)
                for (int j = 0; j < v.rows; ++j) {
                    const float* in = v.values.data() + (std::size_t(k) * std::size_t(v.rows) + std::size_t(j)) *
                                                            std::size_t(v.columns) * samples;
                    float* row = out + std::size_t(j / fy) * std::size_t(px);
                    if (fx == 1 && samples == 1)
                        for (int i = 0; i < v.columns; ++i) row[i] += in[i];
                    else
                        for (int i = 0; i < v.columns; ++i) row[pcol[std::size_t(i)]] += in[std::size_t(i) * samples];
                }
            const int nz = k1 - pk * fz;
            for (int pj = 0; pj < py; ++pj) {
                const int ny = std::min(v.rows, (pj + 1) * fy) - pj * fy;
                for (int pi = 0; pi < px; ++pi) {
                    const int nx = std::min(v.columns, (pi + 1) * fx) - pi * fx;
                    out[std::size_t(pj) * std::size_t(px) + std::size_t(pi)] /= float(nx * ny * nz);
                }
            }
        }
    };
    const int threads = std::clamp(int(util::resolveThreads(0)), 1, std::max(1, pz));
    util::parallelFor(std::size_t(threads), unsigned(threads),
                      [&](std::size_t t) { work(pz * int(t) / threads, pz * (int(t) + 1) / threads); });
    return p;
}

std::shared_ptr<const PreparedVolume> loadPreparedVolume(const std::filesystem::path& path, jobs::JobContext* job) {
    io::ImageVolume volume;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        io::DicomSeriesOptions options;
        if (job)
            options.progress = [job](double f, const std::string& m) {
                job->throwIfCancelled();
                job->progress(0.9 * f, m);
            };
        volume = io::loadDicomSeries(path, {}, options).volume;
    } else {
        if (job) job->progress(0.05, "reading " + path.filename().string());
        volume = io::readMedia(path).volume;
    }
    if (job) {
        job->throwIfCancelled();
        job->progress(0.92, "preparing views");
    }
    return prepareVolume(std::make_shared<const io::ImageVolume>(std::move(volume)));
}

}  // namespace lumen::view
