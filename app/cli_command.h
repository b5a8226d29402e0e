#pragma once
// lumen-cli's command table: each command lives in its own cli_<name>.cpp and returns one
// of the exit codes below. Errors go to stderr.

#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

class QCoreApplication;

namespace lumen::plugin {
class Registry;
}

namespace lumen::cli {

constexpr int kOk = 0;
constexpr int kCheckFailed = 1;
constexpr int kError = 2;

/// A bad command line: reported with a pointer to --help, exit code 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Positional words (the command name first) and --options.
struct Args {
    std::vector<std::string> words;
    std::map<std::string, std::vector<std::string>> options;
    bool has(const std::string& o) const { return options.count(o) > 0; }
    std::optional<std::string> value(const std::string& o) const;
    std::vector<std::string> values(const std::string& o) const;
    /// A number option: throws UsageError naming it when it is not a number.
    std::optional<double> number(const std::string& o) const;
    std::optional<long long> integer(const std::string& o) const;
};

/// --size: "N" (N x N), "HxW" or "DxHxW", each 1..16384; throws UsageError quoting the text.
std::vector<std::size_t> sizeArgument(const std::string& text);

struct Command {
    std::string name;
    std::string summary;                 ///< one line for `lumen-cli --help`
    std::string usage;                   ///< the text of `lumen-cli NAME --help`
    std::set<std::string> valueOptions;  ///< options that take a value
    std::set<std::string> flags;         ///< options without a value
    bool needsPlugins = false;
    /// Subcommands (the word after the command's name) that need no plugins even when
    /// needsPlugins is set: `slurm status` is polled and should not pay LibTorch's start-up.
    std::set<std::string> pluginFreeSubcommands;
    std::function<int(const Args&, const plugin::Registry&)> run;
};

Command envCommand();
Command configCommand();
Command demoCommand();
Command auditCommand();
Command metricsCommand();
Command inspectCommand();
Command convertCommand();
Command dataCommand();
Command pacsCommand();
Command trainCommand();
Command inferCommand();
Command explainCommand();
Command runsCommand();
Command cardCommand();
Command torchscriptCommand();
Command benchInferCommand();
Command slurmCommand();
Command tokenizeCommand();
Command sweepCommand();
Command retrieveCommand();

/// True when the command line's command draws (card): main then makes a QGuiApplication.
bool commandNeedsGui(int argc, char** argv);
/// A QGuiApplication, on the offscreen platform unless QT_QPA_PLATFORM is set (cli_card.cpp).
std::unique_ptr<QCoreApplication> makeGuiApplication(int& argc, char** argv);

}  // namespace lumen::cli
