#include "environment_info.h"

#include "config/environment.h"
#include "plugin/registry.h"

#include <QtGlobal>
#include <vtkVersion.h>

namespace lumen::app {

nlohmann::json fullEnvironment(const plugin::Registry* registry) {
    nlohmann::json env = config::captureEnvironment();
    env["libraries"]["qt"] = qVersion();
    env["libraries"]["vtk"] = vtkVersion::GetVTKVersion();
#ifdef LUMEN_QCUSTOMPLOT_VERSION
    env["libraries"]["qcustomplot"] = LUMEN_QCUSTOMPLOT_VERSION;
#endif
    if (registry) {
        nlohmann::json tasks = nlohmann::json::array();
        for (const auto& id : registry->ids()) tasks.push_back({{"id", id}, {"plugin", registry->originOf(id)}});
        env["tasks"] = tasks;
    }
    return env;
}

}  // namespace lumen::app
