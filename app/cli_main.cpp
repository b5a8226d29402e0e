// lumen-cli: the engine headless. Exit codes: 0 ok, 1 check failed, 2 error (on stderr).
#include "util/allocator.h"
#include "cli_command.h"

#include "plugin/plugin_loader.h"

#include <QCoreApplication>

#include <iostream>

namespace lumen::cli {

std::optional<std::string> Args::value(const std::string& o) const {
    auto it = options.find(o);
    if (it == options.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
}

std::vector<std::string> Args::values(const std::string& o) const {
    auto it = options.find(o);
    return it == options.end() ? std::vector<std::string>{} : it->second;
}

std::optional<double> Args::number(const std::string& o) const {
    const auto v = value(o);
    if (!v) return std::nullopt;
    try {
        std::size_t used = 0;
        const double d = std::stod(*v, &used);
        if (used == v->size()) return d;
    } catch (const std::exception&) {
    }
    throw UsageError("--" + o + ": expected a number, got \"" + *v + "\"");
}

std::optional<long long> Args::integer(const std::string& o) const {
    const auto v = value(o);
    if (!v) return std::nullopt;
    try {
        std::size_t used = 0;
        const long long n = std::stoll(*v, &used);
        if (used == v->size() && n >= 0) return n;
    } catch (const std::exception&) {
    }
    throw UsageError("--" + o + ": expected a non-negative integer, got \"" + *v + "\"");
}

}  // namespace lumen::cli

namespace {

using namespace lumen::cli;

std::vector<Command> commands() {
    return {envCommand(),        configCommand(),  demoCommand(),     auditCommand(), metricsCommand(),
            inspectCommand(),    convertCommand(), dataCommand(),     pacsCommand(),  trainCommand(),
            inferCommand(),      explainCommand(), runsCommand(),     cardCommand(),  torchscriptCommand(),
            benchInferCommand(), slurmCommand(),   tokenizeCommand(), sweepCommand(), retrieveCommand()};
}

std::string topUsage() {
    std::string text = "Usage: lumen-cli [--plugin-dir DIR]... COMMAND [ARGS]\n\nCommands:\n";
    for (const auto& c : commands()) {
        std::string name = c.name;
        name.resize(12, ' ');
        text += "  " + name + " " + c.summary + "\n";
    }
    text +=
        "\nRun `lumen-cli COMMAND --help` for a command's options.\n"
        "Exit codes: 0 ok, 1 check failed, 2 error.\n";
    return text;
}

Args parse(int argc, char** argv, const Command* command) {
    std::set<std::string> withValue = {"plugin-dir"};
    std::set<std::string> flags = {"help", "version"};
    if (command) {
        withValue.insert(command->valueOptions.begin(), command->valueOptions.end());
        flags.insert(command->flags.begin(), command->flags.end());
    }
    Args args;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.rfind("--", 0) == 0 && a.size() > 2) {
            std::string name = a.substr(2), value;
            const auto eq = name.find('=');
            const bool inlineValue = eq != std::string::npos;
            if (inlineValue) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            if (withValue.count(name)) {
                if (!inlineValue) {
                    if (i + 1 >= argc) throw UsageError("option --" + name + " needs a value");
                    value = argv[++i];
                }
                args.options[name].push_back(value);
            } else if (flags.count(name) && !inlineValue) {
                args.options[name];
            } else {
                throw UsageError("unknown option --" + name);
            }
        } else if (a == "-h") {
            args.options["help"];
        } else {
            args.words.push_back(a);
        }
    }
    return args;
}

// The first word that is not an option's value names the command.
const Command* findCommand(int argc, char** argv, const std::vector<Command>& all) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--plugin-dir") {
            ++i;
            continue;
        }
        if (a.rfind("-", 0) == 0) continue;
        for (const auto& c : all)
            if (c.name == a) return &c;
        return nullptr;
    }
    return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    lumen::util::keepFreedMemoryForReuse();  // series/volume reads: docs/volume-viewer.md
    const auto app = lumen::cli::commandNeedsGui(argc, argv) ? lumen::cli::makeGuiApplication(argc, argv)
                                                             : std::make_unique<QCoreApplication>(argc, argv);
    QCoreApplication::setApplicationName("lumen-cli");
    QCoreApplication::setApplicationVersion(LUMEN_VERSION);
    try {
        const auto all = commands();
        const Command* command = findCommand(argc, argv, all);
        const Args args = parse(argc, argv, command);
        if (!command) {
            if (!args.words.empty() && args.words[0] != "help")
                throw UsageError("unknown command \"" + args.words[0] + "\"");
            if (args.has("version")) {
                std::cout << "lumen-cli " << LUMEN_VERSION << "\n";
                return kOk;
            }
            if (args.has("help") || !args.words.empty()) {
                std::cout << topUsage();
                return kOk;
            }
            std::cerr << topUsage();
            return kError;
        }
        if (args.has("help")) {
            std::cout << command->usage;
            return kOk;
        }
        lumen::plugin::Registry registry;
        lumen::plugin::PluginLoader loader(registry);
        const bool pluginFree = args.words.size() > 1 && command->pluginFreeSubcommands.count(args.words[1]) > 0;
        if (command->needsPlugins && !pluginFree) {
            std::vector<std::filesystem::path> extra;
            for (const auto& d : args.values("plugin-dir")) extra.push_back(std::filesystem::absolute(d));
            const auto folders =
                lumen::plugin::pluginSearchPath(QCoreApplication::applicationDirPath().toStdString(), extra);
            for (const auto& folder : folders)
                for (const auto& message : loader.loadFolder(folder).refused)
                    std::cerr << "lumen-cli: warning: " << message << "\n";
        }
        return command->run(args, registry);
    } catch (const UsageError& e) {
        std::cerr << "lumen-cli: " << e.what() << "\nRun `lumen-cli --help` for usage.\n";
        return kError;
    } catch (const std::exception& e) {
        std::cerr << "lumen-cli: error: " << e.what() << "\n";
        return kError;
    }
}
