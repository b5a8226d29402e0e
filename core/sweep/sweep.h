#pragma once
// Offline hyper-parameter sweeps for any task (docs/sweeps.md): the sweep file, the trials it
// draws (grid or seeded random), the asynchronous successive-halving rule that stops bad
// trials early, and the sweep's state file, from which a killed sweep resumes.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace lumen::sweep {

/// A bad sweep file: what() is "FILE: KEY: reason".
struct SweepError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Parameter {
    enum class Kind { Values, Uniform, LogUniform, IntUniform };
    std::string key;  ///< dotted config key, e.g. "loss_weights.contrastive"
    Kind kind = Kind::Values;
    std::vector<std::string> values;  ///< YAML text of each value (Kind::Values)
    double min = 0, max = 0;          ///< the range of the distributions (inclusive for int_uniform)
};

/// Asynchronous successive halving (the rule Hyperband's brackets run): rungs at epochs
/// minEpochs * eta^k; at a rung, a trial is stopped when at least `eta` trials have reached it
/// and its value there is outside the best max(1, floor(n / eta)).
struct EarlyStop {
    bool enabled = false;
    int minEpochs = 1;
    int eta = 3;
};

struct SweepSpec {
    std::filesystem::path file;  ///< the sweep file
    std::filesystem::path base;  ///< the task config the trials start from (absolute)
    std::string name;            ///< the sweep's name (default: the file's stem)
    std::string method;          ///< "grid" or "random"
    std::string metric;          ///< run-store key, e.g. "val.auroc_macro"
    bool maximize = true;
    std::size_t count = 0;  ///< random: trials to draw; grid: at most this many (0 = all)
    std::uint64_t seed = 0;
    int parallel = 1;  ///< default for --parallel
    std::vector<Parameter> parameters;
    EarlyStop earlyStop;
};

/// Reads and checks a sweep file; throws SweepError naming the file and the key.
SweepSpec loadSweep(const std::filesystem::path& file);

using Overrides = std::vector<std::pair<std::string, std::string>>;  ///< (dotted key, YAML text)

/// A copy of `root` with each dotted key set to its value parsed as YAML ("0.1" a number,
/// "[1, 2]" a list, "adamw" a string), creating maps on the way: what a trial and
/// `lumen-cli train --set KEY=VALUE` change. Throws SweepError naming a key whose value is not
/// YAML or whose path crosses a value that is not a map.
YAML::Node applyOverrides(const YAML::Node& root, const Overrides& overrides);

struct Trial {
    std::size_t index = 0;  ///< 0-based, stable: the same sweep draws the same trial i
    Overrides params;
};

/// Grid: the Cartesian product of the parameters' values in file order (the last varies
/// fastest), cut at `count`. Random: trial i draws every parameter, in file order, from a
/// generator seeded by (seed, i), so adding trials never changes the earlier ones.
std::vector<Trial> drawTrials(const SweepSpec& spec);

/// Changes when anything that shapes the trials changes: the spec's method, metric, seed,
/// parameters and early stopping, and the base config's bytes.
std::string fingerprint(const SweepSpec& spec);

/// The epoch (1-based) of the rung at which `mine` — the trial's metric per epoch — is
/// stopped by the rule above against `others` (the other trials' curves), or nullopt.
std::optional<int> earlyStopEpoch(const std::vector<double>& mine, const std::vector<std::vector<double>>& others,
                                  const EarlyStop& rule, bool maximize);

/// The trial's value: its best epoch by the goal (NaN epochs skipped); nullopt without any.
std::optional<double> bestValue(const std::vector<double>& curve, bool maximize);

enum class TrialStatus { Pending, Running, Finished, Stopped, Failed, Cancelled };
std::string statusName(TrialStatus s);
TrialStatus statusFromName(const std::string& name);  ///< throws std::invalid_argument

struct TrialRecord {
    Trial trial;
    TrialStatus status = TrialStatus::Pending;
    std::int64_t run = 0;         ///< the run recorded for it (0 before it started)
    std::optional<double> value;  ///< bestValue of its curve
    int epochs = 0;               ///< epochs with a metric value
    std::string outcome;          ///< why it failed or stopped
};

struct SweepState {
    std::string name, fingerprint, metric;
    std::filesystem::path base;  ///< the task config the trials start from
    bool maximize = true;
    std::vector<TrialRecord> trials;
    /// The finished or stopped trial with the best value (nullptr when none has one).
    const TrialRecord* best() const;
};

/// How much a parameter seems to matter, over the finished and stopped trials with a value:
/// |Spearman's rho| between a numeric parameter and the value (blind to log vs linear scales),
/// or for a parameter with non-numeric values the correlation ratio eta (the share of the
/// value's variance between its groups, square-rooted). NaN with fewer than 3 trials or no
/// spread.
struct Importance {
    std::string key;
    bool numeric = true;
    double score = 0;  ///< 0..1
    std::size_t trials = 0;
};
std::vector<Importance> parameterImportance(const SweepState& state);

/// The parameter's value as a number when it reads as one (YAML text "0.1", "3", "1e-4").
std::optional<double> numericValue(const std::string& yamlText);

/// sweeps/<name>/state.json in the workspace.
std::filesystem::path stateFile(const std::filesystem::path& workspace, const std::string& sweepName);
/// Reads a state file; throws std::runtime_error naming it when it is not one.
SweepState loadState(const std::filesystem::path& file);
/// Writes it atomically.
void saveState(const std::filesystem::path& file, const SweepState& state);

}  // namespace lumen::sweep
