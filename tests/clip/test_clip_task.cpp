// The clip_contrastive task end to end on a small demo workspace (60 chest X-rays, 64 px, two
// epochs): the per-epoch validation metrics the issue names are in the store, inference writes
// its predictions, retrieval index and metrics, `lumen-cli retrieve` ranks the images for a typed
// report, and bad input (a reports file without its column, no vocabulary, hard negatives with
// the wrong loss) is named. Learned quality is test_clip_demo_recipe's job.
#include "clip_task_test.h"

#include "data/csv_records.h"
#include "data/data_error.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <cmath>
#include <fstream>

namespace fs = std::filesystem;
using namespace lumen;

class TestClipTask : public ClipTaskTest {
    Q_OBJECT

    fs::path out_;
    std::int64_t run_ = 0;

    config::Config smallConfig(const std::function<void(YAML::Node&)>& more = {}) {
        return demoConfig([&](YAML::Node& r) {
            r["image_size"] = 64;
            r["epochs"] = 2;
            r["batch_size"] = 8;
            r["caption"]["val_samples"] = 8;
            r["caption"]["beam"] = 2;
            if (more) more(r);
        });
    }

private slots:
    void initTestCase() { QVERIFY(setUpWorkspace(60)); }

    void demoWritesReportsAndVocabulary() {
        const auto records = data::readCsvRecords(ws_ / "chest_xray" / "reports.csv");
        QCOMPARE(records.size(), std::size_t(61));
        QCOMPARE(records[0].fields, (std::vector<std::string>{"id", "report"}));
        const auto vocab = readTextFile(ws_ / "chest_xray" / "report_vocab.txt");
        for (const char* t : {"[CLS]\n", "[SEP]\n", "[MASK]\n", "\nnodule\n", "\npresent\n", "\n##7\n"})
            QVERIFY2(vocab.find(t) != std::string::npos, t);
    }

    void trainsAndRecordsEpochMetrics() {
        const auto r = run(plugin::Operation::Train, smallConfig());
        run_ = r.runId;
        const auto m = metricsOf(run_);
        for (const char* key :
             {"val.recall@1_i2t", "val.recall@5_i2t", "val.recall@10_t2i", "val.median_rank_i2t", "val.mrr_t2i",
              "val.alignment", "val.temperature", "val.loss.contrastive", "val.loss.captioning", "val.bleu4",
              "val.rouge_l", "val.zero_shot_auroc", "loss.masked_modeling", "grad_norm.vision_encoder",
              "grad_norm.text_encoder", "grad_norm.heads", "grad_norm.caption_decoder"}) {
            QVERIFY2(m.count(key), key);
        }
        QCOMPARE(m.at("val.recall@1_i2t").size(), std::size_t(2));  // once per epoch
        for (double v : m.at("val.recall@1_i2t")) QVERIFY(v >= 0 && v <= 1);
        QVERIFY(std::abs(m.at("val.temperature").back() - 0.1) < 0.02);  // log(0.1) learned slowly
        for (double v : m.at("grad_norm.text_encoder")) QVERIFY(std::isfinite(v) && v > 0);
    }

    void infersPredictionsAndIndex() {
        QVERIFY(run_ > 0);
        const auto runs = fs::path(ws_) / "runs";
        fs::path best;
        for (const auto& e : fs::recursive_directory_iterator(runs))
            if (e.path().filename().string().find("clip_contrastive_epoch") == 0) best = e.path();
        QVERIFY(!best.empty());
        out_ = ws_ / "clip_infer";
        const auto r = run(plugin::Operation::Infer, smallConfig([&](YAML::Node& n) {
                               n["infer"]["checkpoint"] = best.string();
                               n["infer"]["out_dir"] = out_.string();
                           }));
        QVERIFY(r.summary.find("Recall@1 i2t") != std::string::npos);
        const auto preds = data::readCsvRecords(out_ / "preds.csv");
        QCOMPARE(preds[0].fields.size(), std::size_t(15));  // image + 14 zero-shot labels
        QCOMPARE(preds[0].fields[1], std::string("zero_shot.Atelectasis"));
        for (std::size_t i = 1; i < preds.size(); ++i)
            for (std::size_t j = 1; j < preds[i].fields.size(); ++j) {
                const double p = std::stod(preds[i].fields[j]);
                QVERIFY(p >= 0 && p <= 1);
            }
        std::ifstream in(out_ / "retrieval.json");
        const auto j = nlohmann::json::parse(in);
        QCOMPARE(j["items"].size(), preds.size() - 1);
        QCOMPARE(j["items"][0]["embedding"].size(), std::size_t(128));
        double norm = 0;
        for (double v : j["items"][0]["embedding"]) norm += v * v;
        QVERIFY(std::abs(norm - 1) < 1e-4);
        QVERIFY(!j["items"][0]["caption"].get<std::string>().empty());
        std::ifstream mi(out_ / "metrics.json");
        const auto metrics = nlohmann::json::parse(mi);
        QVERIFY(metrics["retrieval"].contains("recall@1_i2t"));
        QVERIFY(metrics["captions"].contains("bleu4"));
        QVERIFY(metrics["zero_shot_auroc"].contains("Nodule"));
    }

    void retrieveRanksImagesForATypedReport() {
        QVERIFY(!out_.empty());
        const auto r =
            runLumenCli({"retrieve", "--index", QString::fromStdString(out_.string()), "--text",
                         "Right pleural effusion.", "--top", "4", "--workspace", QString::fromStdString(ws_.string())});
        QVERIFY2(r.code == 0, r.err.c_str());
        const auto j = nlohmann::json::parse(r.out);
        QCOMPARE(j["query"].get<std::string>(), std::string("Right pleural effusion."));
        QCOMPARE(j["results"].size(), std::size_t(4));
        for (std::size_t i = 1; i < 4; ++i)
            QVERIFY(j["results"][i - 1]["score"].get<double>() >= j["results"][i]["score"].get<double>());
        QVERIFY(fs::exists(out_ / "query.json"));
        const auto missing =
            runLumenCli({"retrieve", "--index", QString::fromStdString((ws_ / "nowhere").string()), "--text", "x"});
        QCOMPARE(missing.code, 2);
        QVERIFY2(missing.err.find("retrieval.json") != std::string::npos, missing.err.c_str());
    }

    void badInputIsNamed() {
        const auto bad = writeTextFile(dir_, "bad_reports.csv", "id,text\na.png,hello\n");
        const auto e1 = errorOf<data::DataError>(
            [&] { run(plugin::Operation::Train, smallConfig([&](YAML::Node& n) { n["data"]["reports"] = bad; })); });
        QVERIFY2(e1.find("bad_reports.csv") != std::string::npos && e1.find("report") != std::string::npos, e1.c_str());
        const auto e2 = errorOf<config::ConfigError>(
            [&] { run(plugin::Operation::Train, smallConfig([](YAML::Node& n) { n["text"]["vocab"] = ""; })); });
        QVERIFY2(e2.find("text.vocab") != std::string::npos, e2.c_str());
        const auto e3 = errorOf<config::ConfigError>([&] {
            run(plugin::Operation::Train, smallConfig([](YAML::Node& n) { n["loss"]["hard_negatives"] = 2; }));
        });
        QVERIFY2(e3.find("loss.hard_negatives") != std::string::npos, e3.c_str());
    }
};

QTEST_GUILESS_MAIN(TestClipTask)
#include "test_clip_task.moc"
