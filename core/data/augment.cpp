#include "data/augment.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace lumen::data {

std::uint64_t SampleRandom::next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double SampleRandom::uniform() { return double(next() >> 11) * 0x1.0p-53; }

double SampleRandom::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

std::uint64_t SampleRandom::below(std::uint64_t bound) {
    if (bound <= 1) return 0;
    // Rejection keeps the draw unbiased; the threshold is 2^64 mod bound.
    const std::uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        const std::uint64_t r = next();
        if (r >= threshold) return r % bound;
    }
}

std::uint64_t mixSeed(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    SampleRandom r(a);
    std::uint64_t h = r.next();
    SampleRandom r2(h ^ b);
    h = r2.next();
    SampleRandom r3(h ^ c);
    return r3.next();
}

cv::Mat augmentImage(const cv::Mat& image, const AugmentOptions& o, std::uint64_t sampleSeed) {
    SampleRandom rng(sampleSeed);
    cv::Mat m = image;
    if (o.resize > 0 && !m.empty()) {
        const int shorter = std::min(m.rows, m.cols);
        if (shorter != o.resize) {
            const double f = double(o.resize) / shorter;
            const int w = m.cols <= m.rows ? o.resize : std::max(1, int(std::lround(m.cols * f)));
            const int h = m.rows <= m.cols ? o.resize : std::max(1, int(std::lround(m.rows * f)));
            cv::Mat r;
            cv::resize(m, r, cv::Size(w, h), 0, 0, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
            m = r;
        }
    }
    if (o.rotateDegrees > 0) {
        const double angle = rng.uniform(-o.rotateDegrees, o.rotateDegrees);
        const cv::Mat a = cv::getRotationMatrix2D(cv::Point2f((m.cols - 1) / 2.0f, (m.rows - 1) / 2.0f), angle, 1.0);
        cv::Mat r;
        cv::warpAffine(m, r, a, m.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(0));
        m = r;
    }
    if (o.crop > 0) {
        const int c = o.crop;
        if (m.rows < c || m.cols < c) {  // pad to at least c x c, centred
            const int top = std::max(0, (c - m.rows) / 2), left = std::max(0, (c - m.cols) / 2);
            cv::Mat p;
            cv::copyMakeBorder(m, p, top, std::max(0, c - m.rows - top), left, std::max(0, c - m.cols - left),
                               cv::BORDER_CONSTANT, cv::Scalar::all(0));
            m = p;
        }
        int y = (m.rows - c) / 2, x = (m.cols - c) / 2;
        if (o.randomCrop) {
            y = int(rng.below(std::uint64_t(m.rows - c + 1)));
            x = int(rng.below(std::uint64_t(m.cols - c + 1)));
        }
        m = m(cv::Rect(x, y, c, c));
    }
    if (o.hflip && rng.uniform() < 0.5) {
        cv::Mat f;
        cv::flip(m, f, 1);
        m = f;
    }
    const bool intensity = o.brightness > 0 || o.contrast > 0;
    if (intensity) {
        cv::Mat v = m.clone();
        if (o.brightness > 0) v *= rng.uniform(1 - o.brightness, 1 + o.brightness);
        if (o.contrast > 0) {
            const double factor = rng.uniform(1 - o.contrast, 1 + o.contrast);
            const cv::Scalar mean = cv::mean(v);
            // Contrast about the grey mean (all channels), as torchvision does.
            double grey = 0;
            for (int ch = 0; ch < v.channels(); ++ch) grey += mean[ch];
            grey /= v.channels();
            v = (v - cv::Scalar::all(grey)) * factor + cv::Scalar::all(grey);
        }
        cv::min(v, 1.0, v);
        cv::max(v, 0.0, v);
        m = v;
    }
    return m.isContinuous() && m.data != image.data ? m : m.clone();
}

}  // namespace lumen::data
