// lumen-cli env: the environment record as JSON.
#include "cli_command.h"
#include "environment_info.h"

#include <iostream>

namespace lumen::cli {

Command envCommand() {
    Command c;
    c.name = "env";
    c.summary = "Print the environment record (libraries, CPU, threads, BLAS) as JSON";
    c.usage = R"(Usage: lumen-cli env

Prints the environment record as JSON on stdout: Lumen's version and build, compiler, OS,
CPU (SIMD, bf16), threads, versions of LibTorch, OpenCV, DCMTK, SQLite, Qt, VTK, the BLAS
library actually loaded, and the tasks of the loaded plugins.
)";
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        if (args.words.size() != 1) throw UsageError("env takes no arguments");
        std::cout << app::fullEnvironment(&registry).dump(2) << "\n";
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
