// core/nn/bert against tests/nn/bert_reference.py: state-dict names, loading a pre-training
// checkpoint (prefix found, cls.* and position_ids listed as unexpected), a wrapper's prefix,
// a missing key named, outputs equal to Python's, input errors, gradients.
// Torch must come before any Qt header.
#include <torch/torch.h>

#include "nn/bert.h"
#include "nn/tensor_file.h"

#include "torch_test_support.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <fstream>

using namespace lumen::nn;

namespace {

BertOptions tinyOptions() {
    BertOptions o;
    o.vocabSize = 50;
    o.hidden = 32;
    o.layers = 2;
    o.heads = 4;
    o.intermediate = 64;
    o.maxPositions = 24;
    return o;
}

}  // namespace

class TestBert : public QObject {
    Q_OBJECT
    PythonReference reference_;
    std::string file(const std::string& name) const { return reference_.file(name); }

private slots:
    void initTestCase() {
        torch::set_num_threads(1);
        const std::string error = reference_.run("nn/bert_reference.py");
        QVERIFY2(error.empty(), error.c_str());
    }

    void parameterNamesAreBerts() {
        BertModel model(tinyOptions());
        std::vector<std::string> ours;
        for (const auto& [name, tensor] : stateDict(*model)) ours.push_back(name);
        std::sort(ours.begin(), ours.end());
        std::vector<std::string> python;
        std::ifstream names(file("bert_names.txt"));
        for (std::string line; std::getline(names, line);)
            if (!line.empty()) python.push_back(line);
        QCOMPARE(ours.size(), python.size());
        for (std::size_t i = 0; i < ours.size(); ++i)
            QCOMPARE(QString::fromStdString(ours[i]), QString::fromStdString(python[i]));
        QVERIFY(std::find(ours.begin(), ours.end(), "encoder.layer.1.attention.self.query.weight") != ours.end());
    }

    void pretrainingCheckpointLoadsAndMatchesPython() {
        BertModel model(tinyOptions());
        const BertLoadReport report = loadBertWeights(model, file("bert_pretraining.pt"));
        QCOMPARE(QString::fromStdString(report.strippedPrefix), QString("bert."));
        auto listed = [&](const std::string& key) {
            return std::find(report.unexpected.begin(), report.unexpected.end(), key) != report.unexpected.end();
        };
        QVERIFY(listed("cls.predictions.bias"));
        QVERIFY(listed("cls.predictions.transform.dense.weight"));
        QVERIFY(listed("bert.embeddings.position_ids"));
        QCOMPARE(report.unexpected.size(), std::size_t(3));
        model->eval();
        const TensorMap io = readTensorFile(file("bert_io.pt"));
        torch::NoGradGuard noGrad;
        const BertOutput out = model->forward(io.at("ids"), io.at("mask"), io.at("types"));
        const double hidden = maxAbsDiff(out.hidden, io.at("hidden")), pooled = maxAbsDiff(out.pooled, io.at("pooled"));
        qInfo("max |lumen - python|: hidden %.3g, pooled %.3g", hidden, pooled);
        QVERIFY2(hidden <= 1e-5, std::to_string(hidden).c_str());
        QVERIFY2(pooled <= 1e-5, std::to_string(pooled).c_str());
        // Padding changes nothing at the real tokens: row 2 alone, cut to its 4 tokens.
        const BertOutput alone = model->forward(io.at("ids").slice(0, 2, 3).slice(1, 0, 4), {},
                                                io.at("types").slice(0, 2, 3).slice(1, 0, 4));
        QVERIFY(maxAbsDiff(alone.hidden[0], out.hidden[2].slice(0, 0, 4)) <= 1e-5);
    }

    void wrapperPrefixAndMissingKeys() {
        BertModel model(tinyOptions());
        QCOMPARE(QString::fromStdString(loadBertWeights(model, file("bert_wrapped.pt")).strippedPrefix),
                 QString("state_dict.text_encoder."));
        BertModel explicitPrefix(tinyOptions());
        QVERIFY(
            loadBertWeights(explicitPrefix, file("bert_wrapped.pt"), "state_dict.text_encoder.").unexpected.empty());
        BertModel partial(tinyOptions());
        try {
            loadBertWeights(partial, file("bert_partial.pt"));
            QFAIL("a missing key was not reported");
        } catch (const std::runtime_error& e) {
            const std::string m = e.what();
            QVERIFY2(m.find("bert_partial.pt") != std::string::npos, m.c_str());
            QVERIFY2(m.find("encoder.layer.1.output.LayerNorm.weight") != std::string::npos, m.c_str());
        }
        BertOptions wider = tinyOptions();
        wider.hidden = 48;
        wider.heads = 4;
        BertModel mismatched(wider);
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, loadBertWeights(mismatched, file("bert_pretraining.pt")));
    }

    void badInputsAreNamed() {
        BertModel model(tinyOptions());
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, model->forward(torch::zeros({1, 25}, torch::kLong)));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, model->forward(torch::full({1, 3}, 50, torch::kLong)));
        BertOptions odd = tinyOptions();
        odd.heads = 5;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, BertModel{odd});
    }

    void gradientsReachEveryParameter() {
        BertModel model(tinyOptions());
        model->train();
        const torch::Tensor ids = torch::randint(0, 50, {2, 9}, torch::kLong);
        const BertOutput out = model->forward(ids, torch::ones({2, 9}, torch::kLong));
        (out.hidden.pow(2).mean() + out.pooled.sum()).backward();
        for (const auto& p : model->named_parameters()) {
            QVERIFY2(p.value().grad().defined(), p.key().c_str());
            if (p.key().find("token_type") == std::string::npos)  // type 1 is never used here
                QVERIFY2(p.value().grad().abs().sum().item<double>() > 0, p.key().c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestBert)
#include "test_bert.moc"
