#include "metrics/retrieval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace lumen::metrics {
namespace {

/// Recall@K, MRR and the median of 1-based ranks.
RetrievalDirection summarise(std::vector<std::size_t> ranks, const std::vector<int>& ks) {
    const std::size_t n = ranks.size();
    RetrievalDirection d;
    d.ranks = std::move(ranks);
    for (int k : ks) {
        std::size_t hits = 0;
        for (auto r : d.ranks) hits += r <= std::size_t(k);
        d.recallAtK[k] = double(hits) / double(n);
    }
    double reciprocal = 0;
    for (auto r : d.ranks) reciprocal += 1.0 / double(r);
    d.meanReciprocalRank = reciprocal / double(n);
    std::vector<std::size_t> sorted = d.ranks;
    std::sort(sorted.begin(), sorted.end());
    d.medianRank = n % 2 ? double(sorted[n / 2]) : 0.5 * double(sorted[n / 2 - 1] + sorted[n / 2]);
    return d;
}

RetrievalDirection direction(const std::vector<std::vector<double>>& s, bool rowsAreQueries,
                             const std::vector<int>& ks) {
    const std::size_t n = s.size();
    std::vector<std::size_t> ranks(n);
    for (std::size_t q = 0; q < n; ++q) {
        const double match = s[q][q];
        std::size_t rank = 1;
        for (std::size_t j = 0; j < n; ++j) {
            if (j == q) continue;
            const double v = rowsAreQueries ? s[q][j] : s[j][q];
            if (v >= match) ++rank;
        }
        ranks[q] = rank;
    }
    return summarise(std::move(ranks), ks);
}

void checkKs(const std::vector<int>& ks) {
    for (int k : ks)
        if (k < 1) throw std::invalid_argument("Recall@K needs K >= 1");
}

}  // namespace

RetrievalReport evaluateRetrieval(const std::vector<std::vector<double>>& similarity, const std::vector<int>& ks) {
    const std::size_t n = similarity.size();
    if (n == 0) throw std::invalid_argument("retrieval needs at least one pair");
    for (std::size_t i = 0; i < n; ++i) {
        if (similarity[i].size() != n)
            throw std::invalid_argument("similarity row " + std::to_string(i) + " has " +
                                        std::to_string(similarity[i].size()) + " entries, expected " +
                                        std::to_string(n));
        for (double v : similarity[i])
            if (std::isnan(v)) throw std::invalid_argument("similarity row " + std::to_string(i) + " holds NaN");
    }
    checkKs(ks);
    RetrievalReport r;
    r.n = n;
    r.aToB = direction(similarity, true, ks);
    r.bToA = direction(similarity, false, ks);
    double sum = 0, offSum = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) (i == j ? sum : offSum) += similarity[i][j];
    r.meanAlignment = sum / double(n);
    r.meanUnmatched = n > 1 ? offSum / double(n * (n - 1)) : std::nan("");
    r.alignmentScore = r.meanAlignment - r.meanUnmatched;
    return r;
}

RetrievalReport evaluateGroupedRetrieval(const std::vector<std::vector<double>>& similarity,
                                         const std::vector<std::size_t>& textOf, const std::vector<int>& ks) {
    const std::size_t n = similarity.size();
    if (n == 0) throw std::invalid_argument("retrieval needs at least one item");
    if (textOf.size() != n)
        throw std::invalid_argument("retrieval: " + std::to_string(textOf.size()) + " matches for " +
                                    std::to_string(n) + " items");
    const std::size_t m = similarity[0].size();
    std::vector<std::vector<std::size_t>> itemsOf(m);
    for (std::size_t i = 0; i < n; ++i) {
        if (similarity[i].size() != m)
            throw std::invalid_argument("similarity row " + std::to_string(i) + " has " +
                                        std::to_string(similarity[i].size()) + " entries, expected " +
                                        std::to_string(m));
        for (double v : similarity[i])
            if (std::isnan(v)) throw std::invalid_argument("similarity row " + std::to_string(i) + " holds NaN");
        if (textOf[i] >= m)
            throw std::invalid_argument("item " + std::to_string(i) + " matches text " + std::to_string(textOf[i]) +
                                        " of " + std::to_string(m));
        itemsOf[textOf[i]].push_back(i);
    }
    for (std::size_t t = 0; t < m; ++t)
        if (itemsOf[t].empty()) throw std::invalid_argument("text " + std::to_string(t) + " matches no item");
    checkKs(ks);
    std::vector<std::size_t> itemRanks(n), textRanks(m);
    double matched = 0, unmatched = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double match = similarity[i][textOf[i]];
        std::size_t rank = 1;
        for (std::size_t t = 0; t < m; ++t) {
            if (t == textOf[i]) continue;
            rank += similarity[i][t] >= match;
            unmatched += similarity[i][t];
        }
        itemRanks[i] = rank;
        matched += match;
    }
    for (std::size_t t = 0; t < m; ++t) {
        double best = -std::numeric_limits<double>::infinity();
        for (auto i : itemsOf[t]) best = std::max(best, similarity[i][t]);
        std::size_t rank = 1;
        for (std::size_t i = 0; i < n; ++i) rank += textOf[i] != t && similarity[i][t] >= best;
        textRanks[t] = rank;
    }
    RetrievalReport r;
    r.n = n;
    r.aToB = summarise(std::move(itemRanks), ks);
    r.bToA = summarise(std::move(textRanks), ks);
    r.meanAlignment = matched / double(n);
    r.meanUnmatched = m > 1 ? unmatched / double(n * (m - 1)) : std::nan("");
    r.alignmentScore = r.meanAlignment - r.meanUnmatched;
    return r;
}

RetrievalReport evaluateEmbeddings(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b,
                                   const std::vector<int>& ks) {
    if (a.size() != b.size())
        throw std::invalid_argument("embedding sets differ in count (" + std::to_string(a.size()) + " vs " +
                                    std::to_string(b.size()) + ")");
    auto normalised = [](const std::vector<std::vector<double>>& m, const char* side) {
        std::vector<std::vector<double>> out = m;
        for (std::size_t i = 0; i < out.size(); ++i) {
            if (out[i].size() != m[0].size())
                throw std::invalid_argument(std::string("embedding ") + side + "[" + std::to_string(i) +
                                            "] differs in dimension");
            double norm = 0;
            for (double v : out[i]) norm += v * v;
            norm = std::sqrt(norm);
            if (!(norm > 0))
                throw std::invalid_argument(std::string("embedding ") + side + "[" + std::to_string(i) +
                                            "] has zero or NaN norm");
            for (double& v : out[i]) v /= norm;
        }
        return out;
    };
    if (a.empty()) throw std::invalid_argument("retrieval needs at least one pair");
    const auto na = normalised(a, "A"), nb = normalised(b, "B");
    if (na[0].size() != nb[0].size()) throw std::invalid_argument("embedding sets differ in dimension");
    std::vector<std::vector<double>> s(a.size(), std::vector<double>(a.size()));
    for (std::size_t i = 0; i < a.size(); ++i)
        for (std::size_t j = 0; j < a.size(); ++j) {
            double dot = 0;
            for (std::size_t k = 0; k < na[i].size(); ++k) dot += na[i][k] * nb[j][k];
            s[i][j] = dot;
        }
    return evaluateRetrieval(s, ks);
}

}  // namespace lumen::metrics
