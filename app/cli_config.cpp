// lumen-cli config check FILE: validate a task config against its task's schema.
// lumen-cli config init TASK [--out FILE]: the task's default config (every key, help as comments).
#include "cli_command.h"

#include "plugin/registry.h"
#include "util/atomic_file.h"

#include <iostream>

namespace lumen::cli {
namespace {

int writeDefault(const Args& args, const plugin::Registry& registry) {
    const auto task = registry.find(args.words[2]);
    if (!task) {
        std::string known;
        for (const auto& id : registry.ids()) known += (known.empty() ? "" : ", ") + id;
        std::cerr << "lumen-cli: no task \"" << args.words[2] << "\" (tasks: " << known << ")\n";
        return kError;
    }
    const std::string yaml = task->defaultConfigYaml();
    const auto out = args.value("out");
    if (!out) {
        std::cout << yaml;
        return kOk;
    }
    std::error_code ec;
    if (std::filesystem::exists(*out, ec)) {
        std::cerr << "lumen-cli: " << *out << " exists; not overwritten\n";
        return kError;
    }
    util::writeFileAtomically(*out, yaml);
    std::cerr << "wrote " << *out << " (task " << task->id() << ")\n";
    return kOk;
}

}  // namespace

Command configCommand() {
    Command c;
    c.name = "config";
    c.summary = "config check FILE | init TASK: validate a config, or write a task's default one";
    c.usage = R"(Usage: lumen-cli config check FILE [--print]
       lumen-cli config init TASK [--out FILE]

check: reads the YAML config FILE, finds its task from the `task:` key and validates every key
against that task's schema. Problems are listed on stderr as FILE:LINE: KEY: what was expected.
  --print    on success, print the effective config (defaults filled in) as YAML
init: prints the default config of TASK (every key with its default, its help as a comment), or
writes it to FILE (never over an existing file).
Exit codes: 0 valid / written, 1 invalid, 2 the file cannot be read or written, or no such task.
)";
    c.flags = {"print"};
    c.valueOptions = {"out"};
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        if (args.words.size() == 3 && args.words[1] == "init") return writeDefault(args, registry);
        if (args.words.size() != 3 || args.words[1] != "check")
            throw UsageError("expected: config check FILE, or config init TASK");
        const std::filesystem::path file = args.words[2];
        std::error_code ec;
        if (!std::filesystem::is_regular_file(file, ec)) {
            std::cerr << "lumen-cli: " << file.string() << ": no such file\n";
            return kError;
        }
        try {
            const auto config = plugin::loadTaskConfig(file, registry);
            std::cerr << file.string() << ": OK (task " << config.get<std::string>("task") << ", config hash "
                      << config.hash().substr(0, 12) << ")\n";
            if (args.has("print")) std::cout << config.toYaml() << "\n";
            return kOk;
        } catch (const config::ConfigError& e) {
            std::cerr << e.what() << "\n";
            const bool unreadable = !e.issues().empty() && e.issues()[0].message == "cannot open the file for reading";
            return unreadable ? kError : kCheckFailed;
        }
    };
    return c;
}

}  // namespace lumen::cli
