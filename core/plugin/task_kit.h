#pragma once
// The torch-free half of the task kit (docs/plugins.md): what every task plugin shares about
// its configuration, so that a plugin declares only its own keys. The shared schema blocks are
// merged like config::commonSchema(), and the default YAML a user starts from is generated
// from the schema (help texts as comments), so the two can never disagree. The LibTorch half
// (inference preamble, after-training step) is train/task_steps.h.

#include "config/schema.h"
#include "plugin/task.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <functional>
#include <string>
#include <vector>

namespace lumen::plugin {

/// A config path as the user wrote it: absolute stays, relative is under the workspace.
std::filesystem::path inWorkspace(const std::filesystem::path& workspace, const std::string& path);

/// `v` with `digits` decimals ("%.*f"), as predictions files print probabilities.
std::string fixed(double v, int digits = 6);

/// `s` with every character other than [A-Za-z0-9_.-] replaced by '_' (metric keys, file names).
std::string safeName(std::string s);

/// Adds a list-of-numbers key ("[1.5, 1.5, 3.0]") with optional bounds on every element.
config::Field& addNumberList(config::Schema& schema, const std::string& key, const std::string& def,
                             const std::string& help, std::optional<double> min = {}, std::optional<double> max = {});

/// A list-of-numbers key whose elements must be whole numbers (widths, sizes); a fraction is a
/// ConfigError naming the key.
std::vector<std::int64_t> wholeNumbers(const config::Config& config, const std::string& key);

/// A task's own defaults for the training keys every task has.
struct TrainingDefaults {
    long long epochs = 8;
    long long batchSize = 8;
    long long accumulation = 1;
    double lr = 1e-4;
    std::string precision = "fp32";
    std::string samples = "Samples";  ///< what one batch holds, for the help text ("Volumes")
};

/// epochs, batch_size, gradient_accumulation_steps, lr, precision, adam_betas, min_lr_ratio
/// and resume, with the task's defaults.
config::Schema trainingKeys(const TrainingDefaults& defaults);

/// infer.checkpoint and infer.out_dir (resolved in the workspace; empty = the run folder).
/// `outputs` names what inference writes, for the help text ("preds.csv, preds.json and cams/").
config::Schema inferenceKeys(const std::string& outputs);

/// The default config a user starts from: `title` as a comment, `task: <schema name>`, then
/// every key of `schema` with its default, nested by its dots, each under its help text as a
/// comment. Sections appear in the order their first key was added. It validates against
/// `schema` by construction (tests check it for every registered task).
std::string defaultYaml(const config::Schema& schema, const std::string& title);

/// The base a task plugin derives from (docs/plugins.md): who the task is, its GUI hints and
/// its train / infer functions as data; the default YAML comes from schema(). A plugin then
/// writes schema() (commonSchema() + trainingKeys() + inferenceKeys() + its own keys) and
/// predictionColumns().
class KitTask : public Task {
public:
    using Step = std::function<std::string(const config::Config&, const RunContext&, jobs::JobContext&)>;
    struct Info {
        std::string id, displayName, description;
        std::string yamlTitle;  ///< first comment line of the default config
        TaskGuiHints hints;
    };
    KitTask(Info info, Step train, Step infer);

    std::string id() const override { return info_.id; }
    std::string displayName() const override { return info_.displayName; }
    std::string description() const override { return info_.description; }
    TaskGuiHints guiHints() const override { return info_.hints; }
    std::string defaultConfigYaml() const override;
    std::string run(Operation op, const config::Config& config, const RunContext& where,
                    jobs::JobContext& job) override;

protected:
    /// The start of every kit task's schema: named after the task, commonSchema() +
    /// trainingKeys(training) + inferenceKeys(outputs); the plugin adds its own keys.
    config::Schema kitSchema(const TrainingDefaults& training, const std::string& outputs) const;

private:
    Info info_;
    Step train_, infer_;
};

}  // namespace lumen::plugin
