#pragma once
// Cross-modal retrieval metrics for the contrastive task (docs/metrics.md). Item i of side A
// matches item i of side B. A tie with the match counts against it: rank = 1 + the number
// of other items scoring >= the match.

#include <cstddef>
#include <map>
#include <vector>

namespace lumen::metrics {

struct RetrievalDirection {
    std::map<int, double> recallAtK;  ///< K -> fraction of queries whose match ranks <= K
    double medianRank = 0;            ///< 1-based; mean of the middle two for an even count
    double meanReciprocalRank = 0;    ///< mean of 1 / rank (MRR)
    std::vector<std::size_t> ranks;   ///< per query, 1-based
};

struct RetrievalReport {
    RetrievalDirection aToB, bToA;  ///< queries from A searching B, and the reverse
    double meanAlignment = 0;       ///< mean similarity of matched pairs (cosine for embeddings)
    double meanUnmatched = 0;       ///< mean similarity of the other pairs (NaN for one pair)
    /// meanAlignment - meanUnmatched: how far matched pairs stand above the rest (the
    /// contrastive seed's "alignment score"; its target is >= 0.3).
    double alignmentScore = 0;
    std::size_t n = 0;
};

/// From a square similarity matrix `similarity[a][b]`.
RetrievalReport evaluateRetrieval(const std::vector<std::vector<double>>& similarity,
                                  const std::vector<int>& ks = {1, 5, 10});

/// Retrieval when several items share one text (identical reports): `similarity[i][t]` of item
/// i (A) against distinct text t (B), `textOf[i]` the text item i matches; every text matches
/// an item. A -> B: the rank of textOf[i] among the texts. B -> A: a text's rank is its best-
/// scoring item's, 1 + the items of other texts scoring >= it. Alignment: the mean similarity of
/// the matched pairs (i, textOf[i]) minus the mean of the unmatched ones. With one item per text
/// (textOf the identity) it equals evaluateRetrieval.
RetrievalReport evaluateGroupedRetrieval(const std::vector<std::vector<double>>& similarity,
                                         const std::vector<std::size_t>& textOf,
                                         const std::vector<int>& ks = {1, 5, 10});

/// From two embedding sets of equal count and dimension (rows are items): cosine similarity.
RetrievalReport evaluateEmbeddings(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b,
                                   const std::vector<int>& ks = {1, 5, 10});

}  // namespace lumen::metrics
