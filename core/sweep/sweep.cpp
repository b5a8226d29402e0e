#include "sweep/sweep.h"

#include "util/atomic_file.h"
#include "util/sha256.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace lumen::sweep {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const SweepSpec& spec, const std::string& key, const std::string& reason) {
    throw SweepError(spec.file.string() + ": " + (key.empty() ? "" : key + ": ") + reason);
}

double number(const SweepSpec& spec, const YAML::Node& node, const std::string& key) {
    try {
        return node.as<double>();
    } catch (const YAML::Exception&) {
        fail(spec, key,
             "expected a number, got \"" + (node.IsScalar() ? node.Scalar() : std::string("a map or list")) + "\"");
    }
}

std::string yamlText(const YAML::Node& node) {
    YAML::Emitter out;
    out << YAML::Flow << node;
    return out.c_str();
}

std::string numberText(double v) {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
    return std::string(buffer, result.ptr);
}

Parameter parseParameter(const SweepSpec& spec, const std::string& key, const YAML::Node& node) {
    Parameter p;
    p.key = key;
    const std::string where = "parameters." + key;
    if (!node.IsMap()) fail(spec, where, "expected a map with values:, value: or min:/max:");
    for (const auto& entry : node) {
        const std::string k = entry.first.as<std::string>();
        if (k != "values" && k != "value" && k != "min" && k != "max" && k != "distribution")
            fail(spec, where + "." + k, "unknown key (values, value, min, max, distribution)");
    }
    if (node["values"] || node["value"]) {
        if (node["min"] || node["max"] || node["distribution"])
            fail(spec, where, "values/value and min/max/distribution exclude each other");
        if (node["value"]) {
            p.values.push_back(yamlText(node["value"]));
        } else {
            if (!node["values"].IsSequence() || node["values"].size() == 0)
                fail(spec, where + ".values", "expected a non-empty list");
            for (const auto& v : node["values"]) p.values.push_back(yamlText(v));
        }
        return p;
    }
    if (!node["min"] || !node["max"]) fail(spec, where, "needs values:, value:, or both min: and max:");
    p.min = number(spec, node["min"], where + ".min");
    p.max = number(spec, node["max"], where + ".max");
    if (!(p.min <= p.max)) fail(spec, where, "min " + numberText(p.min) + " is above max " + numberText(p.max));
    const std::string distribution = node["distribution"] ? node["distribution"].as<std::string>() : "uniform";
    if (distribution == "uniform") {
        p.kind = Parameter::Kind::Uniform;
    } else if (distribution == "log_uniform") {
        p.kind = Parameter::Kind::LogUniform;
        if (p.min <= 0) fail(spec, where + ".min", "log_uniform needs min > 0 (min and max are values, not logs)");
    } else if (distribution == "int_uniform") {
        p.kind = Parameter::Kind::IntUniform;
        if (p.min != std::floor(p.min) || p.max != std::floor(p.max))
            fail(spec, where, "int_uniform needs integer min and max");
    } else {
        fail(spec, where + ".distribution",
             "expected uniform, log_uniform or int_uniform, got \"" + distribution + "\"");
    }
    return p;
}

void parseEarlyStop(SweepSpec& spec, const YAML::Node& node) {
    if (!node) return;
    if (!node.IsMap() || !node["type"]) fail(spec, "early_terminate", "expected {type: hyperband, min_iter, eta}");
    const std::string type = node["type"].as<std::string>();
    if (type != "hyperband") fail(spec, "early_terminate.type", "expected hyperband, got \"" + type + "\"");
    spec.earlyStop.enabled = true;
    if (node["min_iter"])
        spec.earlyStop.minEpochs = static_cast<int>(number(spec, node["min_iter"], "early_terminate.min_iter"));
    if (node["eta"]) spec.earlyStop.eta = static_cast<int>(number(spec, node["eta"], "early_terminate.eta"));
    if (spec.earlyStop.minEpochs < 1) fail(spec, "early_terminate.min_iter", "must be at least 1");
    if (spec.earlyStop.eta < 2) fail(spec, "early_terminate.eta", "must be at least 2");
}

/// Uniform in [0, 1) from 53 bits.
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::string draw(const Parameter& p, std::mt19937_64& rng) {
    const double u = unit(rng);
    switch (p.kind) {
    case Parameter::Kind::Values:
        return p
            .values[std::min(p.values.size() - 1, static_cast<std::size_t>(u * static_cast<double>(p.values.size())))];
    case Parameter::Kind::Uniform: return numberText(p.min + u * (p.max - p.min));
    case Parameter::Kind::LogUniform:
        return numberText(std::exp(std::log(p.min) + u * (std::log(p.max) - std::log(p.min))));
    case Parameter::Kind::IntUniform:
        return std::to_string(static_cast<long long>(std::min(p.max, std::floor(p.min + u * (p.max - p.min + 1)))));
    }
    return {};
}

}  // namespace

SweepSpec loadSweep(const fs::path& file) {
    SweepSpec spec;
    spec.file = file;
    YAML::Node root;
    try {
        root = YAML::LoadFile(file.string());
    } catch (const YAML::BadFile&) {
        fail(spec, "", "cannot read the file");
    } catch (const YAML::Exception& e) {
        fail(spec, "", "line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    if (!root.IsMap()) fail(spec, "", "expected a map (base, method, metric, parameters, ...)");
    static const std::set<std::string> known = {"name", "base",     "method",     "metric",         "count",
                                                "seed", "parallel", "parameters", "early_terminate"};
    for (const auto& entry : root)
        if (!known.count(entry.first.as<std::string>()))
            fail(spec, entry.first.as<std::string>(),
                 "unknown key (name, base, method, metric, count, seed, parallel, parameters, early_terminate)");
    if (!root["base"]) fail(spec, "base", "missing: the task config the trials start from");
    spec.base = fs::absolute(file).parent_path() / root["base"].as<std::string>();
    if (!fs::is_regular_file(spec.base)) fail(spec, "base", spec.base.string() + ": no such file");
    spec.name = root["name"] ? root["name"].as<std::string>() : file.stem().string();
    if (spec.name.empty() || spec.name.find_first_of("/\\") != std::string::npos || spec.name[0] == '.')
        fail(spec, "name", "\"" + spec.name + "\" cannot name a folder");
    spec.method = root["method"] ? root["method"].as<std::string>() : "";
    if (spec.method != "grid" && spec.method != "random") fail(spec, "method", "expected grid or random");
    const YAML::Node metric = root["metric"];
    if (!metric || !metric.IsMap() || !metric["name"])
        fail(spec, "metric", "expected {name: KEY, goal: maximize|minimize}");
    spec.metric = metric["name"].as<std::string>();
    const std::string goal = metric["goal"] ? metric["goal"].as<std::string>() : "maximize";
    if (goal != "maximize" && goal != "minimize") fail(spec, "metric.goal", "expected maximize or minimize");
    spec.maximize = goal == "maximize";
    if (root["count"]) spec.count = static_cast<std::size_t>(std::max(0.0, number(spec, root["count"], "count")));
    if (root["seed"]) spec.seed = static_cast<std::uint64_t>(std::max(0.0, number(spec, root["seed"], "seed")));
    if (root["parallel"]) spec.parallel = static_cast<int>(number(spec, root["parallel"], "parallel"));
    if (spec.parallel < 1) fail(spec, "parallel", "must be at least 1");
    const YAML::Node parameters = root["parameters"];
    if (!parameters || !parameters.IsMap() || parameters.size() == 0)
        fail(spec, "parameters", "expected a map of dotted config keys");
    for (const auto& entry : parameters)
        spec.parameters.push_back(parseParameter(spec, entry.first.as<std::string>(), entry.second));
    if (spec.method == "random" && spec.count == 0) fail(spec, "count", "a random sweep needs count: N");
    if (spec.method == "grid")
        for (const auto& p : spec.parameters)
            if (p.kind != Parameter::Kind::Values)
                fail(spec, "parameters." + p.key, "a grid needs values: (a range has no grid)");
    parseEarlyStop(spec, root["early_terminate"]);
    return spec;
}

YAML::Node applyOverrides(const YAML::Node& root, const Overrides& overrides) {
    YAML::Node out = YAML::Clone(root);
    for (const auto& [key, text] : overrides) {
        YAML::Node value;
        try {
            value = YAML::Load(text);
        } catch (const YAML::Exception& e) {
            throw SweepError(key + ": \"" + text + "\" is not a YAML value (" + e.msg + ")");
        }
        YAML::Node node = out;
        std::size_t from = 0;
        for (std::size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', from)) {
            const std::string part = key.substr(from, dot - from);
            if (!node[part]) node[part] = YAML::Node(YAML::NodeType::Map);
            if (!node[part].IsMap()) throw SweepError(key + ": " + key.substr(0, dot) + " is not a map");
            YAML::Node child = node[part];
            node.reset(child);
            from = dot + 1;
        }
        node[key.substr(from)] = value;
    }
    return out;
}

std::vector<Trial> drawTrials(const SweepSpec& spec) {
    std::vector<Trial> trials;
    if (spec.method == "grid") {
        std::size_t total = 1;
        for (const auto& p : spec.parameters) total *= p.values.size();
        if (spec.count) total = std::min(total, spec.count);
        for (std::size_t i = 0; i < total; ++i) {
            Trial t{i, {}};
            std::size_t rest = i;
            std::vector<std::string> chosen(spec.parameters.size());
            for (std::size_t k = spec.parameters.size(); k-- > 0;) {
                const auto& values = spec.parameters[k].values;
                chosen[k] = values[rest % values.size()];
                rest /= values.size();
            }
            for (std::size_t k = 0; k < chosen.size(); ++k) t.params.emplace_back(spec.parameters[k].key, chosen[k]);
            trials.push_back(std::move(t));
        }
        return trials;
    }
    for (std::size_t i = 0; i < spec.count; ++i) {
        std::seed_seq seq{static_cast<std::uint32_t>(spec.seed), static_cast<std::uint32_t>(spec.seed >> 32),
                          static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32), 0x5eedu};
        std::mt19937_64 rng(seq);
        Trial t{i, {}};
        for (const auto& p : spec.parameters) t.params.emplace_back(p.key, draw(p, rng));
        trials.push_back(std::move(t));
    }
    return trials;
}

std::string fingerprint(const SweepSpec& spec) {
    std::ostringstream canonical;
    canonical << spec.method << "\n"
              << spec.metric << (spec.maximize ? " max" : " min") << "\nseed " << spec.seed << "\nbase "
              << util::sha256File(spec.base) << "\nearly " << spec.earlyStop.enabled << " " << spec.earlyStop.minEpochs
              << " " << spec.earlyStop.eta << "\n";
    for (const auto& p : spec.parameters) {
        canonical << p.key << " " << static_cast<int>(p.kind) << " " << numberText(p.min) << " " << numberText(p.max);
        for (const auto& v : p.values) canonical << " [" << v << "]";
        canonical << "\n";
    }
    return util::sha256Hex(canonical.str());
}

std::optional<double> bestValue(const std::vector<double>& curve, bool maximize) {
    std::optional<double> best;
    for (double v : curve)
        if (!std::isnan(v) && (!best || (maximize ? v > *best : v < *best))) best = v;
    return best;
}

std::optional<int> earlyStopEpoch(const std::vector<double>& mine, const std::vector<std::vector<double>>& others,
                                  const EarlyStop& rule, bool maximize) {
    if (!rule.enabled) return std::nullopt;
    for (long long rung = rule.minEpochs; rung <= static_cast<long long>(mine.size()); rung *= rule.eta) {
        const double value = mine[static_cast<std::size_t>(rung - 1)];
        std::vector<double> reached{value};
        for (const auto& curve : others)
            if (static_cast<long long>(curve.size()) >= rung)
                reached.push_back(curve[static_cast<std::size_t>(rung - 1)]);
        const std::size_t n = reached.size();
        if (n < static_cast<std::size_t>(rule.eta)) continue;
        const std::size_t keep = std::max<std::size_t>(1, n / static_cast<std::size_t>(rule.eta));
        // Rank 1 is the best; NaN ranks last.
        std::size_t better = 0;
        for (double v : reached) {
            const bool vBetter =
                std::isnan(value) ? !std::isnan(v) : (!std::isnan(v) && (maximize ? v > value : v < value));
            better += vBetter ? 1 : 0;
        }
        if (better + 1 > keep) return static_cast<int>(rung);
    }
    return std::nullopt;
}

std::string statusName(TrialStatus s) {
    switch (s) {
    case TrialStatus::Pending: return "pending";
    case TrialStatus::Running: return "running";
    case TrialStatus::Finished: return "finished";
    case TrialStatus::Stopped: return "stopped";
    case TrialStatus::Failed: return "failed";
    case TrialStatus::Cancelled: return "cancelled";
    }
    return "pending";
}

TrialStatus statusFromName(const std::string& name) {
    for (TrialStatus s : {TrialStatus::Pending, TrialStatus::Running, TrialStatus::Finished, TrialStatus::Stopped,
                          TrialStatus::Failed, TrialStatus::Cancelled})
        if (statusName(s) == name) return s;
    throw std::invalid_argument("unknown trial status \"" + name + "\"");
}

const TrialRecord* SweepState::best() const {
    const TrialRecord* best = nullptr;
    for (const auto& t : trials) {
        if ((t.status != TrialStatus::Finished && t.status != TrialStatus::Stopped) || !t.value) continue;
        if (!best || (maximize ? *t.value > *best->value : *t.value < *best->value)) best = &t;
    }
    return best;
}

std::optional<double> numericValue(const std::string& text) {
    double v = 0;
    const char* end = text.data() + text.size();
    const auto result = std::from_chars(text.data(), end, v);
    if (result.ec != std::errc() || result.ptr != end || !std::isfinite(v)) return std::nullopt;
    return v;
}

namespace {

/// Average ranks (ties share the mean rank), 1-based.
std::vector<double> ranks(const std::vector<double>& v) {
    std::vector<std::size_t> order(v.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
        for (std::size_t k = i; k <= j; ++k) r[order[k]] = (static_cast<double>(i + j) / 2.0) + 1.0;
        i = j + 1;
    }
    return r;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
    const double n = static_cast<double>(x.size());
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : std::nan("");
}

double correlationRatio(const std::vector<std::string>& groups, const std::vector<double>& y) {
    std::map<std::string, std::pair<double, double>> sums;  // group -> (sum, count)
    double mean = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        sums[groups[i]].first += y[i];
        sums[groups[i]].second += 1;
        mean += y[i] / static_cast<double>(y.size());
    }
    double between = 0, total = 0;
    for (const auto& [g, s] : sums) between += s.second * std::pow(s.first / s.second - mean, 2);
    for (double v : y) total += (v - mean) * (v - mean);
    return total > 0 && sums.size() > 1 ? std::sqrt(between / total) : std::nan("");
}

}  // namespace

std::vector<Importance> parameterImportance(const SweepState& state) {
    std::vector<const TrialRecord*> rated;
    for (const auto& t : state.trials)
        if ((t.status == TrialStatus::Finished || t.status == TrialStatus::Stopped) && t.value &&
            std::isfinite(*t.value))
            rated.push_back(&t);
    std::vector<std::string> keys;
    for (const auto& t : state.trials)
        for (const auto& [k, v] : t.trial.params)
            if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    std::vector<Importance> out;
    for (const auto& key : keys) {
        Importance imp;
        imp.key = key;
        std::vector<std::string> texts;
        std::vector<double> numbers, values;
        for (const TrialRecord* t : rated)
            for (const auto& [k, v] : t->trial.params)
                if (k == key) {
                    texts.push_back(v);
                    const auto n = numericValue(v);
                    imp.numeric = imp.numeric && n.has_value();
                    numbers.push_back(n.value_or(0));
                    values.push_back(*t->value);
                }
        imp.trials = values.size();
        const bool spread =
            std::any_of(texts.begin(), texts.end(), [&](const std::string& t) { return t != texts[0]; });
        if (values.size() < 3 || !spread) imp.score = std::nan("");
        else if (imp.numeric) imp.score = std::abs(pearson(ranks(numbers), ranks(values)));
        else imp.score = correlationRatio(texts, values);
        out.push_back(imp);
    }
    return out;
}

fs::path stateFile(const fs::path& workspace, const std::string& sweepName) {
    return workspace / "sweeps" / sweepName / "state.json";
}

SweepState loadState(const fs::path& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(file.string() + ": cannot read the sweep state");
    try {
        const nlohmann::json j = nlohmann::json::parse(in);
        SweepState s;
        s.name = j.at("name");
        s.fingerprint = j.at("fingerprint");
        s.metric = j.at("metric");
        s.maximize = j.at("goal") == "maximize";
        s.base = j.value("base", std::string());
        for (const auto& t : j.at("trials")) {
            TrialRecord r;
            r.trial.index = t.at("index");
            for (const auto& [k, v] : t.at("params").items()) r.trial.params.emplace_back(k, v.get<std::string>());
            r.status = statusFromName(t.at("status"));
            r.run = t.value("run", std::int64_t{0});
            if (t.contains("value") && !t["value"].is_null()) r.value = t["value"].get<double>();
            r.epochs = t.value("epochs", 0);
            r.outcome = t.value("outcome", std::string());
            s.trials.push_back(std::move(r));
        }
        return s;
    } catch (const std::exception& e) {
        throw std::runtime_error(file.string() + ": not a sweep state file (" + e.what() + ")");
    }
}

void saveState(const fs::path& file, const SweepState& state) {
    nlohmann::json trials = nlohmann::json::array();
    for (const auto& t : state.trials) {
        nlohmann::json params = nlohmann::json::object();
        for (const auto& [k, v] : t.trial.params) params[k] = v;
        trials.push_back({{"index", t.trial.index},
                          {"params", params},
                          {"status", statusName(t.status)},
                          {"run", t.run},
                          {"value", t.value ? nlohmann::json(*t.value) : nlohmann::json()},
                          {"epochs", t.epochs},
                          {"outcome", t.outcome}});
    }
    const nlohmann::json j = {{"name", state.name},          {"fingerprint", state.fingerprint},
                              {"metric", state.metric},      {"goal", state.maximize ? "maximize" : "minimize"},
                              {"base", state.base.string()}, {"trials", trials}};
    fs::create_directories(file.parent_path());
    util::writeFileAtomically(file, j.dump(2) + "\n");
}

}  // namespace lumen::sweep
