#pragma once
// A task's configuration schema: for each key path its type, range, default and help text.
// Key paths use dots for nesting: `loss_weights.contrastive` is `loss_weights: {contrastive: …}`.

#include <optional>
#include <string>
#include <vector>

namespace lumen::config {

enum class FieldType { Bool, Int, Float, String, Choice, StringList, FloatList };

struct Field {
    std::string path;
    FieldType type = FieldType::String;
    std::string defaultYaml;  ///< default as YAML text ("" = no default)
    std::string help;
    std::optional<double> min;  ///< numbers (and list elements): inclusive bounds
    std::optional<double> max;
    bool minExclusive = false;         ///< `> min` instead of `≥ min`
    std::vector<std::string> choices;  ///< Choice: allowed values
    bool required = false;             ///< must be given (no default applies)

    /// What a valid value looks like, as written in error messages:
    /// "a number ≥ 0", "an integer in [1, 64]", "one of fp32, bf16" ...
    std::string expectation() const;
};

class Schema {
public:
    Schema() = default;
    explicit Schema(std::string name) : name_(std::move(name)) {}

    /// Adds or replaces the field with the same path; returns it for further tweaks.
    Field& add(Field field);
    Field& addBool(const std::string& path, bool def, const std::string& help);
    Field& addInt(const std::string& path, long long def, const std::string& help, std::optional<double> min = {},
                  std::optional<double> max = {});
    Field& addFloat(const std::string& path, double def, const std::string& help, std::optional<double> min = {},
                    std::optional<double> max = {});
    Field& addString(const std::string& path, const std::string& def, const std::string& help);
    Field& addChoice(const std::string& path, const std::string& def, std::vector<std::string> choices,
                     const std::string& help);
    Field& addStringList(const std::string& path, std::vector<std::string> def, const std::string& help);

    /// Fields of `other` are added (replacing same paths): a task schema extends the common one.
    void merge(const Schema& other);

    const Field* find(const std::string& path) const;
    const std::vector<Field>& fields() const { return fields_; }
    const std::string& name() const { return name_; }
    /// True when `path` is a field or a prefix of one (`loss_weights` for `loss_weights.full`).
    bool isSection(const std::string& path) const;

private:
    std::string name_;
    std::vector<Field> fields_;
};

/// The keys every task shares (trainer and data loading), named as in the original pipelines.
const Schema& commonSchema();

}  // namespace lumen::config
