// The clip_contrastive model's pieces that no reference library has: beam search (width 1 is
// greedy; wide enough, it is exhaustive search by teacher-forced log-probabilities), the caption
// decoder's causality, the patch-level similarity against its definition, unit embeddings.
#include "nn/clip_model.h"

#include <torch/torch.h>

#include <QtTest>

#include <cmath>
#include <functional>

using namespace lumen;

namespace {

nn::ClipModelOptions tinyOptions(std::int64_t vocab, std::int64_t maxTokens) {
    nn::ClipModelOptions o;
    o.visionVariant = "atto";
    o.imageTokens = 4;
    o.text.vocabSize = vocab;
    o.text.hidden = 16;
    o.text.layers = 1;
    o.text.heads = 2;
    o.text.intermediate = 32;
    o.text.maxPositions = 16;
    o.embedDim = 8;
    o.decoderLayers = 1;
    o.decoderHeads = 2;
    o.decoderWidth = 16;
    o.decoderFeedforward = 32;
    o.maxCaptionTokens = maxTokens;
    return o;
}

/// Sum of log p(seq[t] | start, seq[<t]) by teacher forcing.
double sequenceLogProb(nn::ClipModelImpl& m, const nn::ImageFeatures& img, std::int64_t start,
                       const std::vector<std::int64_t>& seq) {
    std::vector<std::int64_t> in{start};
    in.insert(in.end(), seq.begin(), seq.end() - 1);
    const auto ids = torch::tensor(in, torch::kLong).unsqueeze(0);
    const auto logp = torch::log_softmax(m.captionLogits(img, ids, {}), -1)[0];
    double s = 0;
    for (std::size_t t = 0; t < seq.size(); ++t) s += logp[static_cast<std::int64_t>(t)][seq[t]].item<double>();
    return s;
}

}  // namespace

class TestClipModel : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::manual_seed(3); }

    void beamOfOneIsGreedy() {
        nn::ClipModel m(tinyOptions(12, 10));
        m->eval();
        torch::NoGradGuard g;
        const auto img = m->encodeImage(torch::randn({3, 3, 64, 64}));
        const auto greedy = m->greedyCaptions(img, 1, 2);
        const auto beam = m->beamCaptions(img, 1, 2, 1);
        QCOMPARE(beam.size(), greedy.size());
        for (std::size_t i = 0; i < beam.size(); ++i) {
            QCOMPARE(beam[i].ids, greedy[i].ids);
            QVERIFY(std::abs(beam[i].logProb - greedy[i].logProb) < 1e-5);
        }
    }

    void wideBeamIsExhaustiveSearch() {
        // Vocabulary {0..3}, start 1, end 2, at most 3 generated tokens: 1 + 3 + 9 sequences
        // that end, 27 that run out of positions. Ranked by log-probability per token.
        for (int trial = 0; trial < 4; ++trial) {
            nn::ClipModel m(tinyOptions(4, 4));
            m->eval();
            torch::NoGradGuard g;
            const auto img = m->encodeImage(torch::randn({1, 3, 64, 64}));
            double best = -1e300, bestRaw = 0;
            std::vector<std::int64_t> bestIds;
            std::function<void(std::vector<std::int64_t>)> walk = [&](std::vector<std::int64_t> prefix) {
                auto ended = prefix;
                ended.push_back(2);
                const auto consider = [&](const std::vector<std::int64_t>& seq, bool hasEnd) {
                    const double lp = sequenceLogProb(*m, img, 1, seq);
                    const double score = lp / static_cast<double>(seq.size());
                    if (score > best) {
                        best = score;
                        bestRaw = lp;
                        bestIds.assign(seq.begin(), seq.end() - (hasEnd ? 1 : 0));
                    }
                };
                if (prefix.size() < 3) consider(ended, true);
                if (prefix.size() == 3) {
                    consider(prefix, false);
                    return;
                }
                for (std::int64_t t : {0, 1, 3}) {
                    auto next = prefix;
                    next.push_back(t);
                    walk(next);
                }
            };
            walk({});
            const auto beam = m->beamCaptions(img, 1, 2, 64);
            QCOMPARE(beam[0].ids, bestIds);
            QVERIFY(std::abs(beam[0].logProb - bestRaw) < 1e-4);
        }
    }

    void captionDecoderIsCausal() {
        nn::ClipModel m(tinyOptions(12, 10));
        m->eval();
        torch::NoGradGuard g;
        const auto img = m->encodeImage(torch::randn({1, 3, 64, 64}));
        auto ids = torch::tensor({1, 5, 6, 7, 8}, torch::kLong).unsqueeze(0);
        const auto a = m->captionLogits(img, ids, {});
        ids[0][4] = 9;
        const auto b = m->captionLogits(img, ids, {});
        QVERIFY(torch::allclose(a.slice(1, 0, 4), b.slice(1, 0, 4)));
        QVERIFY(!torch::allclose(a.select(1, 4), b.select(1, 4)));
    }

    void patchSimilarityFollowsItsDefinition() {
        nn::ClipModel m(tinyOptions(12, 10));
        m->eval();
        torch::NoGradGuard g;
        const auto img = m->encodeImage(torch::randn({2, 3, 64, 64}));
        const auto ids = torch::tensor({{1, 5, 6, 2}, {1, 7, 2, 0}}, torch::kLong);
        const auto mask = torch::tensor({{1, 1, 1, 1}, {1, 1, 1, 0}}, torch::kLong);
        const auto txt = m->encodeText(ids, mask);
        const auto s = m->patchSimilarity(img, txt, mask);
        namespace F = torch::nn::functional;
        const auto p = F::normalize(m->heads()->patchProjection(img.tokens), F::NormalizeFuncOptions().dim(-1));
        const auto w = F::normalize(m->heads()->tokenProjection(txt.hidden), F::NormalizeFuncOptions().dim(-1));
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                double sum = 0;
                int n = 0;
                for (int l = 0; l < 4; ++l) {
                    if (mask[j][l].item<int>() == 0) continue;
                    sum += torch::matmul(p[i], w[j][l]).max().item<double>();
                    ++n;
                }
                QVERIFY(std::abs(s[i][j].item<double>() - sum / n) < 1e-5);
            }
        QVERIFY(torch::allclose(img.embedding.norm(2, 1), torch::ones({2}), 1e-5, 1e-5));
        QVERIFY(torch::allclose(txt.embedding.norm(2, 1), torch::ones({2}), 1e-5, 1e-5));
        QVERIFY(std::abs(m->temperature().item<double>() - 0.1) < 1e-6);
    }

    void tooManyPatchesIsAnError() {
        nn::ClipModel m(tinyOptions(12, 10));
        torch::NoGradGuard g;
        const auto img = m->encodeImage(torch::randn({1, 3, 128, 128}));  // 16 patches, built for 4
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m->greedyCaptions(img, 1, 2));
    }

    void spatialPoolingKeepsEachTokensPlace() {
        auto o = tinyOptions(12, 10);
        o.imagePooling = "spatial";
        nn::ClipModel m(o);
        m->eval();
        torch::NoGradGuard g;
        const auto x = torch::randn({2, 3, 64, 64});
        const auto img = m->encodeImage(x);
        // By definition: every token LayerNormed, the 4 of them flattened in order, projected, unit length.
        const auto flat = m->heads()->imageNorm(img.tokens).flatten(1);
        QCOMPARE(flat.size(1), 4 * img.tokens.size(2));
        namespace F = torch::nn::functional;
        const auto expected = F::normalize(m->heads()->imageProjection(flat), F::NormalizeFuncOptions().dim(1));
        QVERIFY(torch::allclose(img.embedding, expected, 1e-5, 1e-6));
        // Swapping two patches' places changes a spatial embedding but not a mean-pooled one.
        const auto swapped = m->heads()->imageNorm(img.tokens.index_select(1, torch::tensor({1, 0, 2, 3})));
        const auto moved =
            F::normalize(m->heads()->imageProjection(swapped.flatten(1)), F::NormalizeFuncOptions().dim(1));
        QVERIFY(!torch::allclose(moved, img.embedding, 1e-3, 1e-3));
        // Another image size gives another token count: refused with the sizes named.
        try {
            m->encodeImage(torch::randn({1, 3, 128, 128}));
            QFAIL("a 128-px image passed a model built for 4 tokens");
        } catch (const std::invalid_argument& e) {
            QVERIFY(QString(e.what()).contains("16 patch tokens"));
            QVERIFY(QString(e.what()).contains("built for 4"));
        }
        o.imagePooling = "max";
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, nn::ClipModel{o});
    }
};

QTEST_GUILESS_MAIN(TestClipModel)
#include "test_clip_model.moc"
