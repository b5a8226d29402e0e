// Precompiled header for the translation units of core and plugins that use LibTorch
// and of the tests that do (lumen_use_torch in cmake/LumenTargets.cmake). Never include Qt here.
#pragma once
#include <torch/torch.h>
