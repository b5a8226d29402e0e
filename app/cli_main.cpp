// lumen-cli: the engine headless. Exit codes: 0 ok, 1 check failed, 2 error (on stderr).
#include "environment_info.h"

#include "config/config.h"
#include "demo/demo_workspace.h"
#include "jobs/job_pool.h"
#include "plugin/plugin_loader.h"

#include <QCoreApplication>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr int kOk = 0;
constexpr int kCheckFailed = 1;
constexpr int kError = 2;

const char* kUsage = R"(Usage: lumen-cli [--plugin-dir DIR]... COMMAND [ARGS]

Commands:
  env                      Print the environment record (libraries, CPU, threads, BLAS) as JSON
  config check FILE        Validate a task config against its task's schema
  demo --out DIR           Write the synthetic demo workspace into DIR

Run `lumen-cli COMMAND --help` for a command's options.
Exit codes: 0 ok, 1 check failed, 2 error.
)";

const char* kEnvUsage = R"(Usage: lumen-cli env

Prints the environment record as JSON on stdout: Lumen's version and build, compiler, OS,
CPU (SIMD, bf16), threads, versions of LibTorch, OpenCV, DCMTK, SQLite, Qt, VTK, the BLAS
library actually loaded, and the tasks of the loaded plugins.
)";

const char* kConfigUsage = R"(Usage: lumen-cli config check FILE [--print]

Reads the YAML config FILE, finds its task from the `task:` key and validates every key
against that task's schema. Problems are listed on stderr as FILE:LINE: KEY: what was expected.
  --print    on success, print the effective config (defaults filled in) as YAML
Exit codes: 0 valid, 1 invalid, 2 the file cannot be read.
)";

const char* kDemoUsage = R"(Usage: lumen-cli demo --out DIR [--seed N]

Writes the deterministic synthetic demo workspace into DIR: chest X-ray PNGs with NIH-layout
labels, CT volumes (NIfTI and one DICOM series), angiography cines (multi-frame DICOM) and a
baseline/new 90-column predictions pair. Same seed, same bytes.
  --out DIR    target folder (created if missing)
  --seed N     random seed (default 7)
Progress goes to stderr; Ctrl-C cancels.
)";

// A parsed command line: positional words and --options (with or without a value).
struct Args {
    std::vector<std::string> words;
    std::map<std::string, std::vector<std::string>> options;
    bool has(const std::string& o) const { return options.count(o) > 0; }
    std::optional<std::string> value(const std::string& o) const {
        auto it = options.find(o);
        if (it == options.end() || it->second.empty()) return std::nullopt;
        return it->second.back();
    }
};

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

Args parse(int argc, char** argv, const std::set<std::string>& withValue,
           const std::set<std::string>& flags) {
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

void loadPlugins(lumen::plugin::Registry& registry, lumen::plugin::PluginLoader& loader,
                 const Args& args) {
    std::vector<std::filesystem::path> extra;
    if (auto it = args.options.find("plugin-dir"); it != args.options.end())
        for (const auto& d : it->second) extra.push_back(std::filesystem::absolute(d));
    const auto folders = lumen::plugin::pluginSearchPath(
        QCoreApplication::applicationDirPath().toStdString(), extra);
    for (const auto& folder : folders)
        for (const auto& message : loader.loadFolder(folder).refused)
            std::cerr << "lumen-cli: warning: " << message << "\n";
}

int commandEnv(const Args& args, lumen::plugin::Registry& registry) {
    if (args.has("help")) {
        std::cout << kEnvUsage;
        return kOk;
    }
    if (args.words.size() != 1) throw UsageError("env takes no arguments");
    std::cout << lumen::app::fullEnvironment(&registry).dump(2) << "\n";
    return kOk;
}

int commandConfig(const Args& args, lumen::plugin::Registry& registry) {
    if (args.has("help")) {
        std::cout << kConfigUsage;
        return kOk;
    }
    if (args.words.size() != 3 || args.words[1] != "check")
        throw UsageError("expected: config check FILE");
    const std::filesystem::path file = args.words[2];
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
        std::cerr << "lumen-cli: " << file.string() << ": no such file\n";
        return kError;
    }
    try {
        const auto config = lumen::plugin::loadTaskConfig(file, registry);
        std::cerr << file.string() << ": OK (task " << config.get<std::string>("task")
                  << ", config hash " << config.hash().substr(0, 12) << ")\n";
        if (args.has("print")) std::cout << config.toYaml() << "\n";
        return kOk;
    } catch (const lumen::config::ConfigError& e) {
        std::cerr << e.what() << "\n";
        if (!e.issues().empty() && e.issues()[0].message == "cannot open the file for reading")
            return kError;
        return kCheckFailed;
    }
}

std::atomic<bool> gInterrupted{false};

class StderrProgress : public lumen::jobs::JobObserver {
public:
    void onProgress(lumen::jobs::JobId, const lumen::jobs::Progress& p) override {
        std::fprintf(stderr, "\r[%3.0f%%] %-48s", p.fraction * 100, p.message.c_str());
        if (p.etaSeconds) std::fprintf(stderr, " ETA %.0f s ", *p.etaSeconds);
        std::fflush(stderr);
    }
    void onLog(lumen::jobs::JobId, lumen::jobs::LogLevel, const std::string& m) override {
        std::fprintf(stderr, "\n%s\n", m.c_str());
    }
};

int commandDemo(const Args& args) {
    if (args.has("help")) {
        std::cout << kDemoUsage;
        return kOk;
    }
    if (args.words.size() != 1) throw UsageError("demo takes no positional arguments");
    const auto out = args.value("out");
    if (!out) throw UsageError("demo needs --out DIR");
    lumen::demo::DemoOptions options;
    if (auto seed = args.value("seed")) {
        try {
            std::size_t used = 0;
            options.seed = std::stoull(*seed, &used);
            if (used != seed->size()) throw std::invalid_argument(*seed);
        } catch (const std::exception&) {
            throw UsageError("--seed: expected a non-negative integer, got \"" + *seed + "\"");
        }
    }
    lumen::jobs::JobPool pool(1);
    lumen::demo::DemoSummary summary;
    const auto id = pool.submit("demo", "demo workspace", [&](lumen::jobs::JobContext& job) {
        summary = lumen::demo::createDemoWorkspace(*out, options, &job);
        return std::string("ok");
    }, std::make_shared<StderrProgress>());
    std::signal(SIGINT, [](int) { gInterrupted = true; });
    while (!pool.wait(id, std::chrono::milliseconds(100)))
        if (gInterrupted) pool.cancel(id);
    std::fprintf(stderr, "\n");
    const auto info = *pool.info(id);
    if (info.state != lumen::jobs::JobState::Finished) {
        std::cerr << "lumen-cli: demo " << lumen::jobs::jobStateName(info.state) << ": "
                  << info.outcome << "\n";
        return kError;
    }
    std::cout << "demo workspace written to " << summary.root.string() << ": "
              << summary.chestImages << " chest X-rays, " << summary.ctVolumes
              << " CT volumes (+" << summary.ctDicomSlices << " DICOM slices), "
              << summary.angioCines << " angiography cines, " << summary.predictionRows
              << " prediction rows, " << summary.files.size() << " files\n";
    return kOk;
}

}  // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName("lumen-cli");
    QCoreApplication::setApplicationVersion(LUMEN_VERSION);
    try {
        const Args args = parse(argc, argv, {"plugin-dir", "out", "seed"},
                                {"help", "version", "print"});
        if (args.words.empty()) {
            if (args.has("version")) {
                std::cout << "lumen-cli " << LUMEN_VERSION << "\n";
                return kOk;
            }
            if (args.has("help")) {
                std::cout << kUsage;
                return kOk;
            }
            std::cerr << kUsage;
            return kError;
        }
        const std::string command = args.words[0];
        lumen::plugin::Registry registry;
        lumen::plugin::PluginLoader loader(registry);
        if (command == "env" || command == "config") loadPlugins(registry, loader, args);
        if (command == "env") return commandEnv(args, registry);
        if (command == "config") return commandConfig(args, registry);
        if (command == "demo") return commandDemo(args);
        if (command == "help") {
            std::cout << kUsage;
            return kOk;
        }
        throw UsageError("unknown command \"" + command + "\"");
    } catch (const UsageError& e) {
        std::cerr << "lumen-cli: " << e.what() << "\nRun `lumen-cli --help` for usage.\n";
        return kError;
    } catch (const std::exception& e) {
        std::cerr << "lumen-cli: error: " << e.what() << "\n";
        return kError;
    }
}
