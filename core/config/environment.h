#pragma once
// The environment record stored with every run: versions of the libraries, compiler, CPU,
// threads, BLAS and OS, so that a result can be traced to what produced it.

#include <nlohmann/json.hpp>

namespace lumen::config {

/// What core can see by itself. The GUI layers add Qt and VTK under "libraries"
/// (see app/), since core does not link them.
nlohmann::json captureEnvironment();

/// The BLAS library mapped into this process (file path and a short name such as
/// "openblas-openmp" or "reference"), or an empty name when none is loaded yet.
nlohmann::json loadedBlas();

}  // namespace lumen::config
