#pragma once
#include <cstdint>

namespace lumen::config {

/// Seeds every random number generator Lumen's engine draws from: the C library's
/// (std::rand), OpenCV's (cv::theRNG) and LibTorch's default generators.
/// Call once at the start of a job, on the job's thread.
void seedEverything(std::uint64_t seed);

/// One draw from each generator seedEverything() seeds; equal probes after equal seeds
/// show that every generator was reached (used by tests and `lumen-cli env --check-seed`).
struct SeedProbe {
    int stdRand = 0;
    double opencv = 0;
    double torch = 0;
};
SeedProbe drawSeedProbe();

}  // namespace lumen::config
