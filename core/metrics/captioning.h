#pragma once
// Caption metrics (docs/metrics.md): sentence BLEU-4 with the add-one smoothing of Lin & Och
// (2004) on 2- to 4-gram precisions ("BLEU+1"), and ROUGE-L F1 from the longest common
// subsequence. Several references: BLEU clips counts by the maximum over references and takes
// the closest reference length; ROUGE-L takes the best reference.

#include <string>
#include <vector>

namespace lumen::metrics {

using Tokens = std::vector<std::string>;

/// Lower-cased runs of letters and digits (ASCII; other bytes, e.g. UTF-8, stay in words).
Tokens tokenize(const std::string& text);

double bleu4(const Tokens& candidate, const std::vector<Tokens>& references);
double rougeL(const Tokens& candidate, const std::vector<Tokens>& references);

struct CaptionScores {
    double bleu4 = 0, rougeL = 0;  ///< means of the sentence scores
    std::size_t n = 0;
    /// Over the pairs whose references state a number (a stenosis %, a size): the share of
    /// candidates that state a number too, and the share that state one of the references'
    /// numbers. NaN when no reference states one.
    double numberStated = 0, numberMatched = 0;
    std::size_t withNumber = 0;  ///< pairs whose references state a number
};

/// The numbers a text states: runs of digits with an optional decimal part ("70", "3.5";
/// "70%" gives "70"), in order.
std::vector<std::string> numbersIn(const std::string& text);
/// Mean sentence scores over pairs (candidate i against references[i]), tokenised by tokenize().
CaptionScores evaluateCaptions(const std::vector<std::string>& candidates,
                               const std::vector<std::vector<std::string>>& references);

}  // namespace lumen::metrics
