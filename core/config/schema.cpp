#include "config/schema.h"

#include <cmath>
#include <sstream>

namespace lumen::config {
namespace {

std::string formatNumber(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
    return out;
}

std::string rangeText(const Field& f, const std::string& noun) {
    if (f.min && f.max)
        return noun + " in " + (f.minExclusive ? "(" : "[") + formatNumber(*f.min) + ", " + formatNumber(*f.max) + "]";
    if (f.min) return noun + (f.minExclusive ? " > " : " ≥ ") + formatNumber(*f.min);
    if (f.max) return noun + " ≤ " + formatNumber(*f.max);
    return noun;
}

}  // namespace

std::string Field::expectation() const {
    switch (type) {
    case FieldType::Bool: return "true or false";
    case FieldType::Int: return rangeText(*this, "an integer");
    case FieldType::Float: return rangeText(*this, "a number");
    case FieldType::String: return "a string";
    case FieldType::Choice: return "one of " + join(choices, ", ");
    case FieldType::StringList: return "a list of strings";
    case FieldType::FloatList: return "a list of " + rangeText(*this, "numbers");
    }
    return "a value";
}

Field& Schema::add(Field field) {
    for (auto& existing : fields_)
        if (existing.path == field.path) return existing = std::move(field);
    fields_.push_back(std::move(field));
    return fields_.back();
}

Field& Schema::addBool(const std::string& path, bool def, const std::string& help) {
    return add({path, FieldType::Bool, def ? "true" : "false", help});
}

Field& Schema::addInt(const std::string& path, long long def, const std::string& help, std::optional<double> min,
                      std::optional<double> max) {
    return add({path, FieldType::Int, std::to_string(def), help, min, max});
}

Field& Schema::addFloat(const std::string& path, double def, const std::string& help, std::optional<double> min,
                        std::optional<double> max) {
    std::ostringstream text;
    text.precision(17);
    text << def;
    return add({path, FieldType::Float, text.str(), help, min, max});
}

Field& Schema::addString(const std::string& path, const std::string& def, const std::string& help) {
    // Quoted so that an empty default still reads back as an empty string.
    return add({path, FieldType::String, "\"" + def + "\"", help});
}

Field& Schema::addChoice(const std::string& path, const std::string& def, std::vector<std::string> choices,
                         const std::string& help) {
    Field f{path, FieldType::Choice, def, help};
    f.choices = std::move(choices);
    return add(std::move(f));
}

Field& Schema::addStringList(const std::string& path, std::vector<std::string> def, const std::string& help) {
    std::string yaml = "[";
    for (size_t i = 0; i < def.size(); ++i) yaml += (i ? ", \"" : "\"") + def[i] + "\"";
    return add({path, FieldType::StringList, yaml + "]", help});
}

void Schema::merge(const Schema& other) {
    for (const auto& f : other.fields()) add(f);
}

const Field* Schema::find(const std::string& path) const {
    for (const auto& f : fields_)
        if (f.path == path) return &f;
    return nullptr;
}

bool Schema::isSection(const std::string& path) const {
    const std::string prefix = path + ".";
    for (const auto& f : fields_)
        if (f.path.compare(0, prefix.size(), prefix) == 0) return true;
    return false;
}

const Schema& commonSchema() {
    static const Schema schema = [] {
        Schema s("common");
        s.addString("task", "",
                    "Task plugin id: roi_consistency, ct_multilabel, angio_multiview, "
                    "clip_contrastive or torchscript.")
            .required = true;
        s.addInt("seed", 42, "Seed for every random number generator (std, OpenCV, LibTorch).", 0);
        s.addInt("epochs", 8, "Number of passes over the training set.", 1);
        s.addInt("batch_size", 8, "Samples per forward pass.", 1);
        s.addInt("gradient_accumulation_steps", 1,
                 "Forward passes whose gradients are summed before one optimizer step.", 1);
        s.addFloat("lr", 1e-4, "Peak learning rate of AdamW.", 0).minExclusive = true;
        s.addFloat("weight_decay", 0.05, "AdamW decoupled weight decay.", 0);
        s.addInt("warmup_steps", 0, "Linear warm-up iterations before the cosine schedule.", 0);
        s.addFloat("max_grad_norm", 1.0, "Clip the global gradient norm to this; 0 disables.", 0);
        s.addFloat("ema_decay", 0.0,
                   "Decay of the exponential moving average of weights; 0 "
                   "disables EMA.",
                   0, 1);
        s.addChoice("precision", "fp32", {"fp32", "bf16", "fp16"},
                    "Arithmetic for forward passes: fp32, bf16 autocast (CPU with native bf16, or CUDA), "
                    "or fp16 autocast with a gradient scaler (CUDA only).");
        s.addString("device", "auto",
                    "Where models and batches live: auto (CUDA when this LibTorch has it and a GPU is "
                    "present, else the CPU), cpu, cuda or cuda:N.");
        s.addBool("cuda.tf32", true, "On CUDA: allow TF32 in matrix products and convolutions (Ampere and newer).");
        s.addBool("cuda.cudnn_benchmark", true, "On CUDA: let cuDNN pick the fastest convolution algorithms.");
        s.addBool("channels_last", false, "Use the channels-last memory format for images.");
        s.addInt("num_workers", 2, "Data-loading worker threads.", 0, 64);
        s.addInt("threads", 0, "LibTorch intra-op threads for this job; 0 = one per core.", 0, 256);
        s.addInt("early_stopping_patience", 0, "Stop after this many epochs without improvement; 0 disables.", 0);
        s.addInt("freeze_backbone_epochs", 0, "Epochs to train with the backbone frozen.", 0);
        s.addInt("keep_checkpoints", 0,
                 "Epoch checkpoints to keep: the newest N plus the best (last.pt is always "
                 "kept); older ones are deleted. 0 keeps every one.",
                 0);
        s.addBool("train.skip_nonfinite_steps", false,
                  "Skip (and count) an optimizer step whose loss or gradient norm is NaN or "
                  "infinite instead of stopping the run with an error.");
        return s;
    }();
    return schema;
}

}  // namespace lumen::config
