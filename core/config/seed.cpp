#include "config/seed.h"

#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <cstdlib>

namespace lumen::config {

void seedEverything(std::uint64_t seed) {
    std::srand(static_cast<unsigned>(seed));
    cv::theRNG().state = seed;
    torch::manual_seed(seed);
}

SeedProbe drawSeedProbe() {
    SeedProbe p;
    p.stdRand = std::rand();
    p.opencv = cv::theRNG().uniform(0.0, 1.0);
    p.torch = torch::rand({1}).item<double>();
    return p;
}

}  // namespace lumen::config
