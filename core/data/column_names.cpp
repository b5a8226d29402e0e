#include "data/column_names.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace lumen::data {
namespace {

struct Pair {
    const char* key;
    const char* name;
};

// Coronary segments (angiography): names as a cardiologist reads them.
constexpr std::array<Pair, 18> kSegments{{
    {"left_main", "Left main"},
    {"prox_lad", "Proximal LAD"},
    {"mid_lad", "Mid LAD"},
    {"dist_lad", "Distal LAD"},
    {"D1", "First diagonal (D1)"},
    {"D2", "Second diagonal (D2)"},
    {"lcx", "Proximal circumflex"},
    {"dist_lcx", "Distal circumflex"},
    {"om1", "First obtuse marginal (OM1)"},
    {"om2", "Second obtuse marginal (OM2)"},
    {"prox_rca", "Proximal RCA"},
    {"mid_rca", "Mid RCA"},
    {"dist_rca", "Distal RCA"},
    {"pda", "Posterior descending (PDA)"},
    {"posterolateral", "Posterolateral branch"},
    {"bx", "Ramus intermedius"},
    {"lvp", "Left posterolateral"},
    {"lima_or_svg", "Graft (LIMA or SVG)"},
}};

// Longest first, so `_stenosis_binary` wins over `_stenosis`.
constexpr std::array<Pair, 5> kHeads{{
    {"stenosis_binary", "P(stenosis ≥ 70 %)"},
    {"calcif_binary", "P(calcification)"},
    {"stenosis", "stenosis %"},
    {"thrombus", "P(thrombus)"},
    {"cto", "P(CTO)"},
}};

constexpr std::array<Pair, 9> kMeasures{{
    {"prob_full", "P(full)"},
    {"prob_crop", "P(crop)"},
    {"prob_drop", "P(drop)"},
    {"faithfulness", "faithfulness"},
    {"prob", "P"},
    {"cam_drop", "CAM drop"},
    {"logit", "logit"},
    {"target", "label"},
    {"threshold", "threshold"},
}};

// Labels whose plain spelling would read wrongly after the generic rule.
constexpr std::array<Pair, 3> kLabels{{
    {"No_Finding", "No finding"},
    {"Pleural_Thickening", "Pleural thickening"},
    {"Normal", "Normal (no finding)"},
}};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

const char* find(const auto& table, const std::string& key) {
    for (const auto& p : table)
        if (key == p.key) return p.name;
    return nullptr;
}

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const std::vector<std::string>& coronarySegments() {
    static const std::vector<std::string> s = [] {
        std::vector<std::string> v;
        for (const auto& p : kSegments) v.emplace_back(p.key);
        return v;
    }();
    return s;
}

ColumnParts splitColumn(const std::string& column) {
    const auto dot = column.rfind('.');
    if (dot != std::string::npos && dot > 0 && dot + 1 < column.size())
        return {column.substr(0, dot), column.substr(dot + 1)};
    for (const auto& h : kHeads) {
        const std::string suffix = std::string("_") + h.key;
        if (!endsWith(column, suffix)) continue;
        const std::string segment = column.substr(0, column.size() - suffix.size());
        if (find(kSegments, segment)) return {segment, h.key};
    }
    return {column, {}};
}

std::string humanLabelName(const std::string& label) {
    if (const char* n = find(kSegments, label)) return n;
    if (const char* n = find(kLabels, label)) return n;
    // Generic: underscores to spaces, first letter upper, the rest as written except words
    // that were upper-case only because of Title_Case joining (Pleural_Thickening style).
    std::string out;
    out.reserve(label.size());
    bool wordStart = true;
    for (std::size_t i = 0; i < label.size(); ++i) {
        char c = label[i] == '_' ? ' ' : label[i];
        if (c == ' ') {
            wordStart = true;
            out += c;
            continue;
        }
        if (out.empty()) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        else if (wordStart && std::isupper(static_cast<unsigned char>(c)) && i + 1 < label.size() &&
                 std::islower(static_cast<unsigned char>(label[i + 1])))
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out += c;
        wordStart = false;
    }
    return out;
}

std::string humanMeasureName(const std::string& measure) {
    if (const char* n = find(kHeads, measure)) return n;
    if (const char* n = find(kMeasures, lower(measure))) return n;
    std::string out = measure;
    std::replace(out.begin(), out.end(), '_', ' ');
    return out;
}

std::string humanColumnName(const std::string& column) {
    const auto parts = splitColumn(column);
    if (parts.measure.empty()) return humanLabelName(parts.label);
    return humanLabelName(parts.label) + " — " + humanMeasureName(parts.measure);
}

}  // namespace lumen::data
