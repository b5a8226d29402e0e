#include "plugin/task_kit.h"

#include <cctype>
#include <cmath>
#include <charconv>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace lumen::plugin {

std::filesystem::path inWorkspace(const std::filesystem::path& workspace, const std::string& path) {
    const std::filesystem::path p(path);
    return p.is_absolute() ? p : workspace / p;
}

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string safeName(std::string s) {
    for (char& c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) c = '_';
    return s;
}

config::Schema trainingKeys(const TrainingDefaults& d) {
    config::Schema s("training");
    s.addInt("epochs", d.epochs, "Number of passes over the training set.", 1);
    s.addInt("batch_size", d.batchSize, d.samples + " per forward pass.", 1);
    s.addInt("gradient_accumulation_steps", d.accumulation,
             "Forward passes whose gradients are summed before one optimizer step.", 1);
    s.addFloat("lr", d.lr, "Peak learning rate of AdamW.", 0).minExclusive = true;
    s.addChoice("precision", d.precision, {"fp32", "bf16", "fp16"},
                "Arithmetic for forward passes: fp32, bf16 autocast (a CPU with native bf16, or CUDA), or "
                "fp16 autocast with a gradient scaler (CUDA only).");
    config::Field betas{"adam_betas", config::FieldType::FloatList, "[0.9, 0.999]", "AdamW betas [beta1, beta2]."};
    betas.min = 0;
    betas.max = 1;
    s.add(betas);
    s.addFloat("min_lr_ratio", 0.0, "The cosine schedule ends at lr * min_lr_ratio.", 0, 1);
    s.addString("resume", "", "Checkpoint to continue training from (lumen-cli train --resume).");
    return s;
}

config::Field& addNumberList(config::Schema& schema, const std::string& key, const std::string& def,
                             const std::string& help, std::optional<double> min, std::optional<double> max) {
    config::Field f{key, config::FieldType::FloatList, def, help};
    f.min = min;
    f.max = max;
    return schema.add(f);
}

std::vector<std::int64_t> wholeNumbers(const config::Config& c, const std::string& key) {
    std::vector<std::int64_t> out;
    for (double v : c.get<std::vector<double>>(key)) {
        if (v != std::floor(v)) throw config::ConfigError({}, {{key, "expected whole numbers, got " + fixed(v, 3), 0}});
        out.push_back(static_cast<std::int64_t>(v));
    }
    return out;
}

config::Schema inferenceKeys(const std::string& outputs) {
    config::Schema s("inference");
    s.addString("infer.checkpoint", "", "Checkpoint used by inference (EMA weights when present).");
    s.addString("infer.out_dir", "", "Folder for " + outputs + ", relative to the workspace (empty = the run folder).");
    return s;
}

namespace {

/// One level of the nested YAML: leaves (fields) and sections, in first-appearance order.
struct Node {
    std::string name;
    const config::Field* field = nullptr;
    std::vector<std::unique_ptr<Node>> children;

    Node& child(const std::string& key) {
        for (auto& c : children)
            if (c->name == key) return *c;
        children.push_back(std::make_unique<Node>());
        children.back()->name = key;
        return *children.back();
    }
};

/// The shortest text that reads back as the same double ("0.1", not "0.10000000000000001").
std::string shortestFloat(const std::string& text) {
    double v = 0;
    try {
        v = std::stod(text);
    } catch (const std::exception&) {
        return text;
    }
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    std::string out(buf, r.ptr);
    // A decimal point in every float ("3.0", "1.0e-04"): YAML 1.1 readers such as PyYAML take
    // "1e-04" for a string.
    if (out.find('.') == std::string::npos) {
        const auto e = out.find('e');
        out.insert(e == std::string::npos ? out.size() : e, ".0");
    }
    return out;
}

void appendComment(std::string& out, const std::string& indent, const std::string& help) {
    constexpr std::size_t kWidth = 96;
    std::string line;
    std::size_t start = 0;
    while (start < help.size()) {
        std::size_t end = help.find(' ', start);
        if (end == std::string::npos) end = help.size();
        const std::string word = help.substr(start, end - start);
        if (!line.empty() && indent.size() + 2 + line.size() + 1 + word.size() > kWidth) {
            out += indent + "# " + line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
        start = end + 1;
    }
    if (!line.empty()) out += indent + "# " + line + "\n";
}

void emit(const Node& node, const std::string& indent, const std::string& task, std::string& out) {
    for (const auto& c : node.children) {
        if (c->field) {
            const auto& f = *c->field;
            appendComment(out, indent, f.help);
            std::string value = f.defaultYaml;
            if (f.path == "task") value = task;
            else if (f.type == config::FieldType::Float) value = shortestFloat(value);
            else if (value.empty()) value = "\"\"";
            out += indent + c->name + ": " + value + "\n";
        } else {
            out += indent + c->name + ":\n";
            emit(*c, indent + "  ", task, out);
        }
    }
}

}  // namespace

KitTask::KitTask(Info info, Step train, Step infer)
    : info_(std::move(info)), train_(std::move(train)), infer_(std::move(infer)) {}

config::Schema KitTask::kitSchema(const TrainingDefaults& training, const std::string& outputs) const {
    config::Schema s(info_.id);
    s.merge(config::commonSchema());
    s.merge(trainingKeys(training));
    s.merge(inferenceKeys(outputs));
    return s;
}

std::string KitTask::defaultConfigYaml() const { return defaultYaml(schema(), info_.yamlTitle); }

std::string KitTask::run(Operation op, const config::Config& config, const RunContext& where, jobs::JobContext& job) {
    const Step& step = op == Operation::Train ? train_ : infer_;
    if (!step)
        throw std::logic_error("task " + info_.id + " has no " + (op == Operation::Train ? "training" : "inference"));
    return step(config, where, job);
}

std::string defaultYaml(const config::Schema& schema, const std::string& title) {
    Node root;
    for (const auto& f : schema.fields()) {
        Node* n = &root;
        std::size_t start = 0;
        for (std::size_t dot; (dot = f.path.find('.', start)) != std::string::npos; start = dot + 1) {
            n = &n->child(f.path.substr(start, dot - start));
            if (n->field) throw std::logic_error("schema key " + f.path + " is inside the value " + n->field->path);
        }
        Node& leaf = n->child(f.path.substr(start));
        if (!leaf.children.empty()) throw std::logic_error("schema key " + f.path + " is both a value and a section");
        leaf.field = &f;
    }
    std::string out;
    appendComment(out, "", title);
    out += "# Every key with its default; delete what you do not change.\n";
    emit(root, "", schema.name(), out);
    return out;
}

}  // namespace lumen::plugin
