#pragma once
// The full environment record: core's (LibTorch, OpenCV, DCMTK, CPU, BLAS, OS …) plus the
// GUI-side libraries core cannot see (Qt, VTK, QCustomPlot) and the loaded plugins.

#include <nlohmann/json.hpp>

namespace lumen::plugin {
class Registry;
}

namespace lumen::app {

nlohmann::json fullEnvironment(const plugin::Registry* registry = nullptr);

}  // namespace lumen::app
