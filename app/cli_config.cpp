// lumen-cli config check FILE: validate a task config against its task's schema.
#include "cli_command.h"

#include "plugin/registry.h"

#include <iostream>

namespace lumen::cli {

Command configCommand() {
    Command c;
    c.name = "config";
    c.summary = "config check FILE: validate a task config against its task's schema";
    c.usage = R"(Usage: lumen-cli config check FILE [--print]

Reads the YAML config FILE, finds its task from the `task:` key and validates every key
against that task's schema. Problems are listed on stderr as FILE:LINE: KEY: what was expected.
  --print    on success, print the effective config (defaults filled in) as YAML
Exit codes: 0 valid, 1 invalid, 2 the file cannot be read.
)";
    c.flags = {"print"};
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        if (args.words.size() != 3 || args.words[1] != "check")
            throw UsageError("expected: config check FILE");
        const std::filesystem::path file = args.words[2];
        std::error_code ec;
        if (!std::filesystem::is_regular_file(file, ec)) {
            std::cerr << "lumen-cli: " << file.string() << ": no such file\n";
            return kError;
        }
        try {
            const auto config = plugin::loadTaskConfig(file, registry);
            std::cerr << file.string() << ": OK (task " << config.get<std::string>("task")
                      << ", config hash " << config.hash().substr(0, 12) << ")\n";
            if (args.has("print")) std::cout << config.toYaml() << "\n";
            return kOk;
        } catch (const config::ConfigError& e) {
            std::cerr << e.what() << "\n";
            const bool unreadable =
                !e.issues().empty() && e.issues()[0].message == "cannot open the file for reading";
            return unreadable ? kError : kCheckFailed;
        }
    };
    return c;
}

}  // namespace lumen::cli
