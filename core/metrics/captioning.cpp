#include "metrics/captioning.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <stdexcept>

namespace lumen::metrics {
namespace {

std::map<Tokens, int> ngrams(const Tokens& t, std::size_t n) {
    std::map<Tokens, int> out;
    for (std::size_t i = 0; i + n <= t.size(); ++i) ++out[Tokens(t.begin() + long(i), t.begin() + long(i + n))];
    return out;
}

std::size_t lcs(const Tokens& a, const Tokens& b) {
    std::vector<std::size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j)
            cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace

Tokens tokenize(const std::string& text) {
    Tokens out;
    std::string word;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c >= 0x80) {
            word += char(std::tolower(c));
        } else if (!word.empty()) {
            out.push_back(word);
            word.clear();
        }
    }
    if (!word.empty()) out.push_back(word);
    return out;
}

double bleu4(const Tokens& candidate, const std::vector<Tokens>& references) {
    if (references.empty()) throw std::invalid_argument("BLEU needs at least one reference");
    if (candidate.empty()) return 0.0;
    double logPrecision = 0;
    for (std::size_t n = 1; n <= 4; ++n) {
        const auto cand = ngrams(candidate, n);
        std::map<Tokens, int> maxRef;
        for (const auto& r : references)
            for (const auto& [g, c] : ngrams(r, n)) maxRef[g] = std::max(maxRef[g], c);
        double matched = 0, total = 0;
        for (const auto& [g, c] : cand) {
            total += c;
            auto it = maxRef.find(g);
            if (it != maxRef.end()) matched += std::min(c, it->second);
        }
        if (n > 1) matched += 1, total += 1;  // Lin & Och add-one, not on unigrams
        if (matched == 0) return 0.0;         // no unigram in common
        logPrecision += 0.25 * std::log(matched / total);
    }
    // Closest reference length, the shorter one on a tie (as in the reference BLEU script).
    const auto c = double(candidate.size());
    double r = double(references[0].size());
    for (const auto& ref : references) {
        const double len = double(ref.size());
        if (std::abs(len - c) < std::abs(r - c) || (std::abs(len - c) == std::abs(r - c) && len < r)) r = len;
    }
    const double brevity = c >= r ? 1.0 : std::exp(1.0 - r / c);
    return brevity * std::exp(logPrecision);
}

double rougeL(const Tokens& candidate, const std::vector<Tokens>& references) {
    if (references.empty()) throw std::invalid_argument("ROUGE-L needs at least one reference");
    double best = 0;
    for (const auto& ref : references) {
        if (candidate.empty() || ref.empty()) continue;
        const double l = double(lcs(candidate, ref));
        if (l == 0) continue;
        const double p = l / double(candidate.size()), r = l / double(ref.size());
        best = std::max(best, 2 * p * r / (p + r));
    }
    return best;
}

std::vector<std::string> numbersIn(const std::string& text) {
    std::vector<std::string> out;
    auto digit = [&](std::size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
    for (std::size_t i = 0; i < text.size();) {
        if (!digit(i)) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (digit(j)) ++j;
        if (j + 1 < text.size() && text[j] == '.' && digit(j + 1)) {
            ++j;
            while (digit(j)) ++j;
        }
        out.push_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}

CaptionScores evaluateCaptions(const std::vector<std::string>& candidates,
                               const std::vector<std::vector<std::string>>& references) {
    if (candidates.size() != references.size())
        throw std::invalid_argument("captions and reference lists differ in count");
    CaptionScores s;
    s.n = candidates.size();
    if (s.n == 0) return s;
    for (std::size_t i = 0; i < s.n; ++i) {
        std::vector<Tokens> refs;
        for (const auto& r : references[i]) refs.push_back(tokenize(r));
        if (refs.empty()) throw std::invalid_argument("caption " + std::to_string(i) + " has no reference");
        const Tokens cand = tokenize(candidates[i]);
        s.bleu4 += bleu4(cand, refs);
        s.rougeL += rougeL(cand, refs);
        std::vector<std::string> referenceNumbers;
        for (const auto& r : references[i])
            for (auto& number : numbersIn(r)) referenceNumbers.push_back(std::move(number));
        if (referenceNumbers.empty()) continue;
        ++s.withNumber;
        const auto stated = numbersIn(candidates[i]);
        s.numberStated += stated.empty() ? 0 : 1;
        bool matched = false;
        for (const auto& number : stated)
            matched = matched ||
                      std::find(referenceNumbers.begin(), referenceNumbers.end(), number) != referenceNumbers.end();
        s.numberMatched += matched ? 1 : 0;
    }
    s.bleu4 /= double(s.n);
    s.rougeL /= double(s.n);
    s.numberStated = s.withNumber ? s.numberStated / double(s.withNumber) : std::nan("");
    s.numberMatched = s.withNumber ? s.numberMatched / double(s.withNumber) : std::nan("");
    return s;
}

}  // namespace lumen::metrics
