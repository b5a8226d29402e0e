#pragma once
// Training augmentations on float images (OpenCV imgproc) and the seeded random numbers
// behind them. Every random choice comes from the sample's own seed, so a sample's
// augmentation depends only on (loader seed, epoch, dataset index), never on threads.

#include <opencv2/core.hpp>

#include <cstdint>

namespace lumen::data {

struct AugmentOptions {
    int resize = 256;          ///< shorter side resized to this (aspect kept); 0 = keep
    int crop = 224;            ///< square crop side; 0 = no crop. Padded with 0 if the image is smaller
    bool randomCrop = false;   ///< random position instead of the centre
    bool hflip = false;        ///< horizontal flip with probability 1/2
    double rotateDegrees = 0;  ///< rotation by a uniform angle in [-d, d] about the centre (0 fill)
    double brightness = 0;     ///< values multiplied by a factor uniform in [1-b, 1+b]
    double contrast = 0;       ///< distance from the image mean scaled by a factor in [1-c, 1+c]
};

/// A small counter-free generator (SplitMix64): the same seed gives the same numbers on every
/// platform and standard library (std::*_distribution does not).
class SampleRandom {
public:
    explicit SampleRandom(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next();
    double uniform();                          ///< [0, 1)
    double uniform(double lo, double hi);      ///< [lo, hi)
    std::uint64_t below(std::uint64_t bound);  ///< [0, bound), unbiased

private:
    std::uint64_t state_;
};

/// Mixes values into one well-spread 64-bit seed (order matters).
std::uint64_t mixSeed(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0);

/// Applies, in this order: resize, rotate, crop, horizontal flip, brightness, contrast.
/// `image` is CV_32FC1 or CV_32FC3 with values in [0, 1]; the result is clipped to [0, 1]
/// after the intensity changes. A random step that is off draws no numbers.
cv::Mat augmentImage(const cv::Mat& image, const AugmentOptions& options, std::uint64_t sampleSeed);

}  // namespace lumen::data
