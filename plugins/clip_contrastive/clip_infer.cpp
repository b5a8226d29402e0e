// Inference of the clip_contrastive task: embeddings of images and reports, captions (beam
// search), zero-shot probabilities, retrieval metrics over the set; and retrieval queries (a
// typed report against the images of an earlier inference). Output formats: docs/contrastive.md.
#include "clip_common.h"
#include "clip_engine.h"

#include "data/loader.h"
#include "jobs/job.h"
#include "metrics/captioning.h"
#include "metrics/classification.h"
#include "metrics/retrieval.h"
#include "plugin/image_manifests.h"
#include "plugin/task_kit.h"
#include "train/image_batches.h"
#include "train/task_steps.h"
#include "util/atomic_file.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

namespace lumen::clip {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

std::vector<float> floatsOf(const torch::Tensor& row) {
    const auto r = row.to(torch::kCPU, torch::kFloat).contiguous();
    return {r.data_ptr<float>(), r.data_ptr<float>() + r.numel()};
}

/// Indices of the k largest entries of `scores`, best first.
std::vector<std::int64_t> topK(const torch::Tensor& scores, std::int64_t k) {
    const auto idx = std::get<1>(scores.topk(std::min<std::int64_t>(k, scores.size(0))));
    return {idx.data_ptr<std::int64_t>(), idx.data_ptr<std::int64_t>() + idx.numel()};
}

struct Inferred {
    std::vector<std::string> ids, paths;
    std::vector<std::string> captions;
    torch::Tensor embeddings;                // [N, D] float, CPU
    std::vector<std::vector<double>> truth;  // [labels][N]
};

Inferred embedImages(const config::Config& c, nn::ClipModelImpl& model, const ReportTokenizer& tok,
                     const data::Manifest& m, const train::InferenceSetup& setup, jobs::JobContext& job) {
    const int size = c.get<int>("image_size");
    auto set = data::makeImageDataset(m, 3, train::evalAugment(size), train::configFloats(c, "data.mean"),
                                      train::configFloats(c, "data.std"));
    data::LoaderOptions lo;
    lo.batchSize = c.get<int>("batch_size");
    lo.workers = c.get<int>("num_workers");
    lo.shuffle = false;
    data::BatchLoader loader(set, lo);
    Inferred out;
    std::vector<torch::Tensor> parts;
    const auto beam = c.get<std::int64_t>("caption.beam");
    torch::NoGradGuard noGrad;
    loader.startEpoch(0);
    while (auto b = loader.next()) {
        job.throwIfCancelled();
        const auto x = train::toDevice(train::imagesOf(*b), setup.device);
        nn::ImageFeatures img;
        {
            train::AutocastScope autocast(setup.autocast, setup.device.type());
            img = model.encodeImage(x);
        }
        img.tokens = img.tokens.to(torch::kFloat);
        parts.push_back(img.embedding.to(torch::kCPU, torch::kFloat));
        if (model.hasCaptioning())
            for (const auto& cap : model.beamCaptions(img, tok.startId(), tok.endId(), beam))
                out.captions.push_back(tok.decode(cap.ids));
        const auto y = train::targetsOf(*b).to(torch::kDouble);
        out.truth.resize(static_cast<std::size_t>(y.size(1)));
        for (std::int64_t k = 0; k < y.size(1); ++k)
            for (std::int64_t i = 0; i < y.size(0); ++i)
                out.truth[static_cast<std::size_t>(k)].push_back(y[i][k].item<double>());
        for (std::size_t i = 0; i < b->ids.size(); ++i) {
            out.ids.push_back(b->ids[i]);
            out.paths.push_back(m.resolve(m.rows[b->datasetIndices[i]]).string());
        }
        job.progress(static_cast<double>(out.ids.size()) / static_cast<double>(std::max<std::size_t>(1, set->size())),
                     "inference " + std::to_string(out.ids.size()) + "/" + std::to_string(set->size()));
    }
    out.embeddings = parts.empty() ? torch::zeros({0, model.options().embedDim}) : torch::cat(parts);
    return out;
}

Json retrievalMetricsJson(const metrics::RetrievalReport& r) {
    Json j;
    for (const auto& [name, d] : {std::pair{"i2t", &r.aToB}, std::pair{"t2i", &r.bToA}}) {
        for (const auto& [k, v] : d->recallAtK) j["recall@" + std::to_string(k) + "_" + name] = v;
        j[std::string("median_rank_") + name] = d->medianRank;
        j[std::string("mrr_") + name] = d->meanReciprocalRank;
    }
    j["alignment"] = r.alignmentScore;
    return j;
}

/// The reports of the inferred images (when the workspace has them): the text side of retrieval.
struct TextSide {
    std::vector<std::string> texts;        ///< per image; "" without a report
    std::vector<std::string> distinct;     ///< distinct reports, first-appearance order
    std::vector<std::size_t> textOf;       ///< per image, its index in `distinct`
    torch::Tensor embeddings, similarity;  ///< [texts, D] and [images, texts]; undefined without reports
};

TextSide textSide(const config::Config& c, const fs::path& ws, const std::vector<std::string>& ids,
                  nn::ClipModelImpl& model, const ReportTokenizer& tok, const torch::Device& device,
                  const torch::Tensor& images) {
    TextSide side;
    const auto n = ids.size();
    side.texts.resize(n);
    side.textOf.assign(n, 0);
    const fs::path reportsFile = plugin::inWorkspace(ws, c.get<std::string>("data.reports"));
    std::error_code ec;
    if (!c.get<std::string>("data.reports").empty() && fs::is_regular_file(reportsFile, ec)) {
        const auto reports = readReports(reportsFile);
        for (std::size_t i = 0; i < n; ++i)
            if (auto it = reports.byId.find(ids[i]); it != reports.byId.end()) side.texts[i] = it->second.front();
    }
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < n; ++i) {
        if (side.texts[i].empty()) continue;
        auto [it, added] = index.emplace(side.texts[i], side.distinct.size());
        if (added) side.distinct.push_back(side.texts[i]);
        side.textOf[i] = it->second;
    }
    if (side.distinct.empty()) return side;
    side.embeddings = embedTexts(model, tok, side.distinct, device);
    side.similarity = torch::matmul(images, side.embeddings.t());
    return side;
}

/// metrics.json: retrieval over the images with a report, captions against their reports,
/// zero-shot AUROC per label against the manifest's labels.
Json metricsOf(const config::Config& c, const TextSide& side, const Inferred& inferred, const torch::Tensor& zs,
               double temperature) {
    const auto n = inferred.ids.size();
    Json m = {{"images", n}, {"temperature", temperature}};
    if (side.distinct.size() >= 2) {
        std::vector<std::vector<double>> s;
        std::vector<std::size_t> of;
        const auto simD = side.similarity.to(torch::kDouble).contiguous();
        for (std::size_t i = 0; i < n; ++i) {
            if (side.texts[i].empty()) continue;
            const auto r = simD[static_cast<std::int64_t>(i)];
            s.emplace_back(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
            of.push_back(side.textOf[i]);
        }
        m["retrieval"] = retrievalMetricsJson(metrics::evaluateGroupedRetrieval(s, of));
        m["retrieval"]["texts"] = side.distinct.size();
    }
    if (!inferred.captions.empty() && !side.distinct.empty()) {
        std::vector<std::string> cands;
        std::vector<std::vector<std::string>> refs;
        for (std::size_t i = 0; i < n && i < inferred.captions.size(); ++i)
            if (!side.texts[i].empty()) cands.push_back(inferred.captions[i]), refs.push_back({side.texts[i]});
        const auto s = metrics::evaluateCaptions(cands, refs);
        m["captions"] = {{"bleu4", s.bleu4}, {"rouge_l", s.rougeL}, {"with_number", s.withNumber}};
        if (s.withNumber > 0) m["captions"]["number_stated"] = s.numberStated;
    }
    const auto labels = c.get<std::vector<std::string>>("labels");
    Json zsJson;
    for (std::size_t l = 0; l < labels.size() && l < inferred.truth.size(); ++l) {
        std::vector<double> score(n);
        for (std::size_t i = 0; i < n; ++i)
            score[i] = zs[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(l)].item<double>();
        const auto a = metrics::auroc(inferred.truth[l], score);
        zsJson[labels[l]] = a.has() ? Json(*a.value) : Json(nullptr);
    }
    if (!zsJson.is_null()) m["zero_shot_auroc"] = zsJson;
    return m;
}

/// infer.query: the typed report against the images of infer.out_dir/retrieval.json.
std::string query(const config::Config& cIn, const plugin::RunContext& where, jobs::JobContext& job) {
    const auto setup = train::prepareInference(cIn, where, job, "clip_contrastive", modelShapingKeys());
    const auto& c = setup.config;
    const fs::path index = setup.outDir / "retrieval.json";
    std::ifstream in(index);
    if (!in) throw std::runtime_error(index.string() + ": no retrieval index (run the inference first)");
    Json j;
    try {
        j = Json::parse(in);
    } catch (const std::exception& e) {
        throw std::runtime_error(index.string() + ": not JSON: " + e.what());
    }
    const ReportTokenizer tok(c, where.workspace);
    auto model = buildModel(c, tok.vocabSize());
    train::loadModelWeights(*model, setup.checkpoint, true);
    model->to(setup.device);
    model->eval();
    const auto text = c.get<std::string>("infer.query");
    const auto q = embedTexts(*model, tok, {text}, setup.device);  // [1, D]
    const auto& items = j.at("items");
    std::vector<float> flat;
    for (const auto& it : items) {
        const auto e = it.at("embedding").get<std::vector<float>>();
        if (static_cast<std::int64_t>(e.size()) != q.size(1))
            throw std::runtime_error(index.string() + ": embeddings of another model (dimension " +
                                     std::to_string(e.size()) + ", this checkpoint " + std::to_string(q.size(1)) + ")");
        flat.insert(flat.end(), e.begin(), e.end());
    }
    const auto n = static_cast<std::int64_t>(items.size());
    const auto emb = torch::from_blob(flat.data(), {n, q.size(1)}, torch::kFloat).clone();
    const auto scores = torch::matmul(emb, q[0]);
    Json results = Json::array();
    for (auto i : topK(scores, c.get<std::int64_t>("infer.top_k"))) {
        const auto& it = items[static_cast<std::size_t>(i)];
        results.push_back({{"id", it.at("id")},
                           {"path", it.at("path")},
                           {"report", it.value("report", "")},
                           {"score", scores[i].item<double>()}});
    }
    const Json out = {{"query", text}, {"results", results}};
    util::writeFileAtomically(setup.outDir / "query.json", out.dump(1) + "\n");
    job.artifact("query", (setup.outDir / "query.json").string());
    return "query ranked " + std::to_string(n) + " images -> " + (setup.outDir / "query.json").string();
}

}  // namespace

std::string infer(const config::Config& cIn, const plugin::RunContext& where, jobs::JobContext& job) {
    if (!cIn.get<std::string>("infer.query").empty()) return query(cIn, where, job);
    const auto setup = train::prepareInference(cIn, where, job, "clip_contrastive", modelShapingKeys());
    const auto& c = setup.config;
    const ReportTokenizer tok(c, where.workspace);
    auto model = buildModel(c, tok.vocabSize());
    train::loadModelWeights(*model, setup.checkpoint, true);
    model->to(setup.device);
    model->eval();
    const auto m = plugin::inferenceManifest(c, plugin::imageManifest(c, where.workspace, job, true));
    const auto inferred = embedImages(c, *model, tok, m, setup, job);
    const auto labels = c.get<std::vector<std::string>>("labels");
    const auto zs = zeroShot(c, *model, tok, inferred.embeddings).to(torch::kDouble).contiguous();
    const auto n = inferred.ids.size();

    const auto side = textSide(c, where.workspace, inferred.ids, *model, tok, setup.device, inferred.embeddings);
    const auto& texts = side.texts;
    const auto& distinct = side.distinct;
    const auto& sim = side.similarity;
    const auto& textEmb = side.embeddings;
    std::ostringstream csv;
    csv << "image";
    for (const auto& l : labels) csv << ",zero_shot." << l;
    csv << '\n';
    Json preds = Json::array(), items = Json::array(), reportsJson = Json::array();
    const auto k = c.get<std::int64_t>("infer.top_k");
    for (std::size_t i = 0; i < n; ++i) {
        const auto ii = static_cast<std::int64_t>(i);
        csv << inferred.ids[i];
        Json zero;
        for (std::size_t l = 0; l < labels.size(); ++l) {
            const double p = zs[ii][static_cast<std::int64_t>(l)].item<double>();
            csv << ',' << plugin::fixed(p);
            zero[labels[l]] = p;
        }
        csv << '\n';
        Json row = {{"image", inferred.ids[i]}, {"path", inferred.paths[i]}};
        if (i < inferred.captions.size()) row["caption"] = inferred.captions[i];
        if (!texts[i].empty()) row["report"] = texts[i];
        row["zero_shot"] = zero;
        if (sim.defined()) {
            Json top = Json::array();
            for (auto t : topK(sim[ii], k))
                top.push_back(
                    {{"report", distinct[static_cast<std::size_t>(t)]}, {"score", sim[ii][t].item<double>()}});
            row["top_reports"] = top;
        }
        preds.push_back(row);
        Json item = {{"id", inferred.ids[i]}, {"path", inferred.paths[i]}, {"report", texts[i]}};
        if (i < inferred.captions.size()) item["caption"] = inferred.captions[i];
        item["embedding"] = floatsOf(inferred.embeddings[ii]);
        items.push_back(item);
    }
    for (std::size_t t = 0; t < distinct.size(); ++t)
        reportsJson.push_back({{"text", distinct[t]}, {"embedding", floatsOf(textEmb[static_cast<std::int64_t>(t)])}});

    const Json metricsJson = metricsOf(c, side, inferred, zs, model->temperature().item<double>());
    const fs::path& out = setup.outDir;
    const Json retrieval = {{"format", "lumen-retrieval"},
                            {"version", 1},
                            {"checkpoint", fs::absolute(setup.checkpoint).string()},
                            {"config", c.toYaml()},
                            {"temperature", model->temperature().item<double>()},
                            {"items", items},
                            {"reports", reportsJson}};
    util::writeFileAtomically(out / "preds.csv", csv.str());
    util::writeFileAtomically(out / "preds.json", preds.dump(1) + "\n");
    util::writeFileAtomically(out / "retrieval.json", retrieval.dump() + "\n");
    util::writeFileAtomically(out / "metrics.json", metricsJson.dump(1) + "\n");
    job.artifact("predictions", (out / "preds.csv").string());
    job.artifact("predictions_json", (out / "preds.json").string());
    job.artifact("retrieval", (out / "retrieval.json").string());
    job.artifact("metrics", (out / "metrics.json").string());
    std::string summary = std::to_string(n) + " images";
    if (metricsJson.contains("retrieval"))
        summary += ", Recall@1 i2t " + plugin::fixed(metricsJson["retrieval"]["recall@1_i2t"].get<double>(), 3) +
                   ", alignment " + plugin::fixed(metricsJson["retrieval"]["alignment"].get<double>(), 3);
    return summary + " -> " + (out / "preds.csv").string();
}

}  // namespace lumen::clip
