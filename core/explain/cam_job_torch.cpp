// The LibTorch half of explain/cam_job.h: batch Grad-CAM over an image list into the CAM cache.
#include "explain/cam_job.h"
#include "explain/grad_cam.h"
#include "explain/heatmap.h"

#include "data/csv_records.h"
#include "data/data_error.h"
#include "data/loader.h"
#include "io/npy_reader.h"
#include "io/read_error.h"
#include "jobs/job.h"
#include "util/atomic_file.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace lumen::explain {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Item {
    std::string id;
    fs::path file;
};

struct ImageList {
    std::vector<Item> items;
    std::vector<std::string> numericColumns;  ///< candidate label names from a predictions table
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool knownInput(const fs::path& p) {
    static const std::set<std::string> ext = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".npy"};
    return ext.count(lower(p.extension().string())) > 0;
}

ImageList listImages(const CamJobOptions& o) {
    ImageList list;
    std::error_code ec;
    if (fs::is_directory(o.images, ec)) {
        for (const auto& e : fs::recursive_directory_iterator(o.images))
            if (e.is_regular_file() && knownInput(e.path()))
                list.items.push_back({e.path().lexically_relative(o.images).generic_string(), e.path()});
        std::sort(list.items.begin(), list.items.end(), [](const Item& a, const Item& b) { return a.id < b.id; });
        if (list.items.empty()) throw std::runtime_error(o.images.string() + ": no images in this folder");
        return list;
    }
    if (!fs::is_regular_file(o.images, ec))
        throw std::runtime_error(o.images.string() + ": no such image list (a CSV file or a folder)");
    const auto records = data::readCsvRecords(o.images);
    if (records.size() < 2) throw data::DataError(o.images, "no rows: expected a header and one row per image");
    const auto& header = records.front().fields;
    std::size_t pathColumn = 0;
    for (std::size_t i = 0; i < header.size(); ++i)
        if (lower(header[i]) == "path") pathColumn = i;
    static const std::set<std::string> notLabels = {"id", "path", "patient_id", "labels", "split", "image", "study_id"};
    for (std::size_t i = 1; i < header.size(); ++i) {
        if (notLabels.count(lower(header[i]))) continue;
        const std::string name = header[i].substr(0, header[i].find('.'));
        if (std::find(list.numericColumns.begin(), list.numericColumns.end(), name) == list.numericColumns.end())
            list.numericColumns.push_back(name);
    }
    const fs::path root = o.imageRoot.empty() ? o.images.parent_path() : o.imageRoot;
    std::set<std::string> seen;
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& f = records[r].fields;
        if (f.size() <= pathColumn || f[0].empty())
            throw data::DataError(o.images, records[r].line, 0, {}, "expected an id (and a path) in this row");
        if (!seen.insert(f[0]).second) continue;  // one CAM set per id
        const fs::path p = f[pathColumn];
        list.items.push_back({f[0], p.is_absolute() ? p : root / p});
    }
    return list;
}

torch::Tensor resizeSpatial(const torch::Tensor& x, const std::vector<std::size_t>& shape) {
    std::vector<std::int64_t> size(shape.begin(), shape.end());
    if (std::equal(size.begin(), size.end(), x.sizes().begin() + 1)) return x;
    namespace F = torch::nn::functional;
    auto options = F::InterpolateFuncOptions().size(size).align_corners(false);
    if (shape.size() == 2) options.mode(torch::kBilinear);
    else options.mode(torch::kTrilinear);
    return F::interpolate(x.unsqueeze(0), options).squeeze(0);
}

/// One model input (C, H, W) or (C, D, H, W).
torch::Tensor loadInput(const Item& item, const std::vector<std::size_t>& shape, int channels,
                        const std::vector<float>& mean, const std::vector<float>& stdev) {
    const auto sr = static_cast<std::int64_t>(shape.size());
    if (lower(item.file.extension().string()) == ".npy") {
        // Arrays are the model input as it is (already normalised); only the size is adapted.
        io::NpyArray a = io::readNpy(item.file);
        std::vector<std::int64_t> dims(a.shape.begin(), a.shape.end());
        torch::Tensor t = torch::from_blob(a.values.data(), dims, torch::kFloat).clone();
        if (t.dim() == sr) t = t.unsqueeze(0);
        if (t.dim() != sr + 1 || t.size(0) != channels)
            throw io::ReadError(item.file, "expected an array (" + std::to_string(channels) + ", " +
                                               (sr == 3 ? "D, " : "") + "H, W) for this model, got " +
                                               std::to_string(a.shape.size()) + "-D");
        return resizeSpatial(t, shape);
    }
    if (sr != 2)
        throw io::ReadError(item.file, "3-D models take .npy volumes (C, D, H, W) here (see docs/explain.md)");
    const cv::Mat unit = data::loadUnitImage(item.file, channels);
    cv::Mat img;
    if (shape[0] == shape[1]) {
        // The tasks' evaluation transform: shorter side to the size, centre crop.
        data::AugmentOptions a;
        a.resize = static_cast<int>(shape[0]);
        a.crop = static_cast<int>(shape[0]);
        img = data::augmentImage(unit, a, 0);
    } else {
        cv::resize(unit, img, cv::Size(static_cast<int>(shape[1]), static_cast<int>(shape[0])), 0, 0, cv::INTER_LINEAR);
    }
    img = img.isContinuous() ? img : img.clone();
    torch::Tensor t = torch::from_blob(img.data, {img.rows, img.cols, img.channels()}, torch::kFloat)
                          .permute({2, 0, 1})
                          .clone();
    if (channels == 3) t = t.flip({0});  // OpenCV's BGR -> RGB, as the image dataset does
    if (!mean.empty()) {
        for (std::int64_t c = 0; c < t.size(0); ++c) {
            const float m = mean[std::min<std::size_t>(c, mean.size() - 1)];
            const float s = stdev.empty() ? 1.0f : stdev[std::min<std::size_t>(c, stdev.size() - 1)];
            t[c] = (t[c] - m) / s;
        }
    }
    return t;
}

/// The outputs to explain for one image, from its logits.
std::vector<int> chooseTargets(const std::string& spec, const std::vector<double>& logits,
                               const std::vector<std::string>& names) {
    const int k = static_cast<int>(logits.size());
    std::vector<int> out;
    if (spec.empty() || spec == "all") {
        for (int i = 0; i < k; ++i) out.push_back(i);
        return out;
    }
    if (spec.rfind("top:", 0) == 0 || spec.rfind("top-", 0) == 0) {
        int n = 0;
        try {
            n = std::stoi(spec.substr(4));
        } catch (const std::exception&) {
            throw std::invalid_argument("labels \"" + spec + "\": expected top:N");
        }
        std::vector<int> order(static_cast<std::size_t>(k));
        for (int i = 0; i < k; ++i) order[static_cast<std::size_t>(i)] = i;
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
        });
        order.resize(static_cast<std::size_t>(std::clamp(n, 0, k)));
        return order;
    }
    std::string part;
    std::stringstream ss(spec);
    while (std::getline(ss, part, ',')) {
        if (part.empty()) continue;
        auto it = std::find(names.begin(), names.end(), part);
        if (it != names.end()) {
            out.push_back(static_cast<int>(it - names.begin()));
            continue;
        }
        std::size_t used = 0;
        int index = -1;
        try {
            index = std::stoi(part, &used);
        } catch (const std::exception&) {
        }
        if (used != part.size() || index < 0 || index >= k) {
            std::string known;
            for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
            throw std::invalid_argument("labels: \"" + part + "\" is neither an output name nor an index < " +
                                        std::to_string(k) + " (outputs: " + known + ")");
        }
        out.push_back(index);
    }
    return out;
}

/// The model's logits per id, kept in the cache (scores.csv) so that "top:N" can be decided
/// again without running the model.
struct ScoreTable {
    std::vector<std::string> names;
    std::map<std::string, std::vector<double>> logits;
};

ScoreTable readScores(const fs::path& file) {
    ScoreTable t;
    if (!fs::exists(file)) return t;
    const auto records = data::readCsvRecords(file);
    if (records.empty()) return t;
    t.names.assign(records[0].fields.begin() + 1, records[0].fields.end());
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& f = records[r].fields;
        if (f.size() != t.names.size() + 1)
            throw data::DataError(file, records[r].line, 0, {}, "expected " + std::to_string(t.names.size() + 1) + " fields");
        std::vector<double> v;
        for (std::size_t i = 1; i < f.size(); ++i) {
            try {
                v.push_back(std::stod(f[i]));
            } catch (const std::exception&) {
                throw data::DataError(file, records[r].line, i + 1, t.names[i - 1], "expected a number, got \"" + f[i] + "\"");
            }
        }
        t.logits[f[0]] = std::move(v);
    }
    return t;
}

void writeScores(const fs::path& file, const ScoreTable& t) {
    std::string text = "id";
    for (const auto& n : t.names) text += "," + data::csvField(n);
    text += "\n";
    char buf[64];
    for (const auto& [id, v] : t.logits) {
        text += data::csvField(id);
        for (double x : v) {
            std::snprintf(buf, sizeof buf, ",%.9g", x);
            text += buf;
        }
        text += "\n";
    }
    util::writeFileAtomically(file, text);
}

double probability(const torch::Tensor& logitsRow, int target, const std::string& activation) {
    if (activation == "softmax") return torch::softmax(logitsRow.to(torch::kDouble), 0)[target].item<double>();
    const double z = logitsRow[target].item<double>();
    if (activation == "none") return z;
    return 1.0 / (1.0 + std::exp(-z));
}

struct Pending {
    std::size_t image;  ///< index in the batch
    int target;
    Heatmap cam;
    double score;
};

void runCamJob(const CamJobOptions& o, jobs::JobContext& job, CamJobSummary& summary) {
    const auto start = Clock::now();
    if (o.activation != "sigmoid" && o.activation != "softmax" && o.activation != "none")
        throw std::invalid_argument("activation \"" + o.activation + "\": expected sigmoid, softmax or none");
    if (!(o.keepRatio > 0 && o.keepRatio <= 1)) throw std::invalid_argument("keep_ratio must be in (0, 1]");
    if (o.batchSize < 1) throw std::invalid_argument("batch size must be at least 1");
    const CamMethod method = camMethodFromName(o.method);
    const std::string methodName = camMethodName(method);
    const std::string layerKey = o.layer.empty() ? "default" : o.layer;

    ImageList list = listImages(o);
    if (o.maxImages > 0 && list.items.size() > o.maxImages) list.items.resize(o.maxImages);
    summary.images = list.items.size();
    summary.cacheDir = o.cacheDir.empty() ? camCacheDir(o.workspace, o.model, layerKey, methodName) : o.cacheDir;
    fs::create_directories(summary.cacheDir);
    CamCache cache = readCamCache(summary.cacheDir);
    cache.dir = summary.cacheDir;
    if (cache.model.empty()) cache.model = fs::absolute(o.model).string();
    if (cache.layer.empty()) cache.layer = layerKey;
    cache.method = methodName;
    const fs::path scoresFile = summary.cacheDir / "scores.csv";
    ScoreTable scores = readScores(scoresFile);
    std::map<std::pair<std::string, std::string>, std::size_t> entryIndex;
    for (std::size_t i = 0; i < cache.entries.size(); ++i)
        entryIndex[{cache.entries[i].id, cache.entries[i].label}] = i;

    const auto nameOf = [](const std::vector<std::string>& names, int t) {
        return t < static_cast<int>(names.size()) ? names[static_cast<std::size_t>(t)] : std::to_string(t);
    };
    // What is already there: an image whose logits are known and all of whose chosen CAMs
    // (with faithfulness when asked for) are cached needs no model at all.
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < list.items.size(); ++i) {
        const auto it = scores.logits.find(list.items[i].id);
        bool done = it != scores.logits.end();
        std::size_t have = 0;
        if (done) {
            for (int t : chooseTargets(o.labels, it->second, scores.names)) {
                const auto e = entryIndex.find({list.items[i].id, nameOf(scores.names, t)});
                if (e == entryIndex.end() || (o.faithfulness && !cache.entries[e->second].probDrop) ||
                    !fs::exists(cache.entries[e->second].file)) {
                    done = false;
                    break;
                }
                ++have;
            }
        }
        if (done) summary.reused += have;
        else todo.push_back(i);
    }
    job.info("CAM cache " + summary.cacheDir.string() + ": " + std::to_string(list.items.size() - todo.size()) + " of " +
             std::to_string(list.items.size()) + " images already explained");

    double computeSeconds = 0;
    if (!todo.empty()) {
        torch::set_num_threads(o.threads > 0 ? o.threads
                                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
        auto model = loadCamModel(o.model);
        const std::string layer = o.layer.empty() || o.layer == "default" ? model->layers().front() : o.layer;
        cache.layer = o.layer.empty() || o.layer == "default" ? layerKey : layer;
        std::vector<std::size_t> shape = o.inputShape;
        if (shape.empty()) shape = model->inputShape;
        if (shape.empty()) shape = {224, 224};
        std::vector<float> mean = o.mean, stdev = o.stdev;
        if (mean.empty() && !o.noNormalisation) {
            mean = model->mean;
            stdev = model->stdev;
            if (mean.empty() && o.channels == 3) {
                mean = {0.485f, 0.456f, 0.406f};
                stdev = {0.229f, 0.224f, 0.225f};
            }
        }
        if (o.noNormalisation) mean.clear(), stdev.clear();
        std::string size;
        for (std::size_t a = 0; a < shape.size(); ++a) size += (a ? "x" : "") + std::to_string(shape[a]);
        job.info("explaining " + model->description() + " at layer " + layer + " with " + methodName + ", input " +
                 size + (mean.empty() ? ", no normalisation" : ""));

        std::vector<std::string> names = o.labelNames;
        if (names.empty()) names = model->labelNames;
        if (names.empty() && !scores.names.empty()) names = scores.names;

        auto lastIndexWrite = Clock::now();
        const auto flush = [&] {
            writeScores(scoresFile, scores);
            writeCamCacheIndex(cache);
            lastIndexWrite = Clock::now();
        };
        const auto upsert = [&](CamEntry e) {
            const auto key = std::make_pair(e.id, e.label);
            if (auto it = entryIndex.find(key); it != entryIndex.end()) {
                cache.entries[it->second] = std::move(e);
            } else {
                entryIndex[key] = cache.entries.size();
                cache.entries.push_back(std::move(e));
            }
        };
        std::size_t done = 0, failed = 0;
        try {
            for (std::size_t b0 = 0; b0 < todo.size(); b0 += static_cast<std::size_t>(o.batchSize)) {
                job.throwIfCancelled();
                const auto t0 = Clock::now();
                const std::size_t b1 = std::min(todo.size(), b0 + static_cast<std::size_t>(o.batchSize));
                std::vector<torch::Tensor> inputs;
                std::vector<const Item*> batchItems;
                for (std::size_t j = b0; j < b1; ++j) {
                    const Item& item = list.items[todo[j]];
                    try {
                        inputs.push_back(loadInput(item, shape, o.channels, mean, stdev));
                        batchItems.push_back(&item);
                    } catch (const std::exception& e) {
                        // One unreadable image must not cost the whole batch job.
                        ++failed;
                        job.warning(std::string("skipped: ") + e.what());
                    }
                }
                if (inputs.empty()) continue;
                const torch::Tensor x = torch::stack(inputs);
                const SplitForward sf = model->forward(x, layer);
                const torch::Tensor logits = sf.logits.detach().to(torch::kDouble).contiguous();
                const auto k = logits.size(1);
                if (names.empty() && static_cast<std::int64_t>(list.numericColumns.size()) == k)
                    names = list.numericColumns;
                if (names.empty())
                    for (std::int64_t i = 0; i < k; ++i) names.push_back(std::to_string(i));
                if (static_cast<std::int64_t>(names.size()) != k)
                    throw std::runtime_error(o.model.string() + ": the model has " + std::to_string(k) + " outputs but " +
                                             std::to_string(names.size()) + " label names were given");
                scores.names = names;

                // Targets per image; rounds explain the r-th target of every image at once.
                std::vector<std::vector<int>> targets(batchItems.size());
                std::size_t rounds = 0;
                for (std::size_t i = 0; i < batchItems.size(); ++i) {
                    std::vector<double> row(static_cast<std::size_t>(k));
                    for (std::int64_t c = 0; c < k; ++c) row[static_cast<std::size_t>(c)] = logits[static_cast<std::int64_t>(i)][c].item<double>();
                    scores.logits[batchItems[i]->id] = row;
                    targets[i] = chooseTargets(o.labels, row, names);
                    rounds = std::max(rounds, targets[i].size());
                }
                std::vector<Pending> pending;
                for (std::size_t r = 0; r < rounds; ++r) {
                    std::vector<std::int64_t> idx;
                    for (const auto& t : targets) idx.push_back(r < t.size() ? t[r] : (t.empty() ? 0 : t[0]));
                    const torch::Tensor s =
                        sf.logits.gather(1, torch::tensor(idx, torch::kLong).unsqueeze(1)).squeeze(1);
                    const torch::Tensor cams = camFromFeatures(sf.features, s, method).contiguous();
                    for (std::size_t i = 0; i < targets.size(); ++i) {
                        if (r >= targets[i].size()) continue;
                        const torch::Tensor c = cams[static_cast<std::int64_t>(i)].contiguous();
                        Heatmap h;
                        for (auto d : c.sizes()) h.shape.push_back(static_cast<std::size_t>(d));
                        h.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
                        pending.push_back({i, targets[i][r], std::move(h),
                                           logits[static_cast<std::int64_t>(i)][targets[i][r]].item<double>()});
                    }
                }
                // Faithfulness: the input without the CAM's top keep_ratio region, like the ROI
                // task's drop pass (image x (1 - mask), on the normalised input).
                std::vector<double> probDrop(pending.size());
                if (o.faithfulness && !pending.empty()) {
                    std::vector<torch::Tensor> dropped;
                    for (const Pending& p : pending) {
                        const Heatmap up = upsample(p.cam, shape);
                        const auto m = topFractionMask(up, o.keepRatio);
                        std::vector<float> keep(m.size());
                        for (std::size_t i = 0; i < m.size(); ++i) keep[i] = m[i] ? 0.0f : 1.0f;
                        std::vector<std::int64_t> dims(shape.begin(), shape.end());
                        const torch::Tensor mask = torch::from_blob(keep.data(), dims, torch::kFloat).clone();
                        dropped.push_back(inputs[p.image] * mask.unsqueeze(0));
                    }
                    std::size_t at = 0;
                    for (std::size_t c0 = 0; c0 < dropped.size(); c0 += static_cast<std::size_t>(o.batchSize)) {
                        job.throwIfCancelled();
                        const std::size_t c1 = std::min(dropped.size(), c0 + static_cast<std::size_t>(o.batchSize));
                        const torch::Tensor dl =
                            model->logits(torch::stack(std::vector<torch::Tensor>(dropped.begin() + c0, dropped.begin() + c1)))
                                .to(torch::kDouble);
                        for (std::size_t i = c0; i < c1; ++i, ++at)
                            probDrop[at] = probability(dl[static_cast<std::int64_t>(i - c0)], pending[i].target, o.activation);
                    }
                }
                for (std::size_t pi = 0; pi < pending.size(); ++pi) {
                    const Pending& p = pending[pi];
                    CamEntry e;
                    e.id = batchItems[p.image]->id;
                    e.label = nameOf(names, p.target);
                    e.target = p.target;
                    e.file = camFileName(e.id, e.label);
                    e.score = p.score;
                    const auto [lo, hi] = std::minmax_element(p.cam.values.begin(), p.cam.values.end());
                    e.rawMin = p.cam.values.empty() ? 0 : *lo;
                    e.rawMax = p.cam.values.empty() ? 0 : *hi;
                    e.inputH = shape[shape.size() - 2];
                    e.inputW = shape.back();
                    e.inputD = shape.size() == 3 ? shape[0] : 1;
                    if (o.faithfulness) {
                        e.prob = probability(sf.logits.detach()[static_cast<std::int64_t>(p.image)], p.target, o.activation);
                        e.probDrop = probDrop[pi];
                        e.camDrop = *e.prob - *e.probDrop;
                    }
                    saveCam(p.cam, e, summary.cacheDir);
                    e.file = summary.cacheDir / e.file;
                    upsert(std::move(e));
                    ++summary.computed;
                }
                computeSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
                done = b1;
                job.progress(static_cast<double>(done) / static_cast<double>(todo.size()),
                             "Grad-CAM " + std::to_string(done) + "/" + std::to_string(todo.size()) + " images");
                if (Clock::now() - lastIndexWrite > std::chrono::seconds(3)) flush();
            }
        } catch (...) {
            flush();  // a cancelled or failing run keeps what it computed
            throw;
        }
        flush();
        if (failed == todo.size())
            throw std::runtime_error(o.images.string() + ": none of the " + std::to_string(failed) +
                                     " images could be read (see the warnings)");
        if (failed) job.warning(std::to_string(failed) + " images skipped");
    } else {
        job.progress(1.0, "all CAMs cached");
    }
    job.artifact("cam_cache", summary.cacheDir.string());
    summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    summary.secondsPerCam = summary.computed ? computeSeconds / static_cast<double>(summary.computed) : 0.0;
}

}  // namespace
}  // namespace lumen::explain

/// Entry point for explain::generateCams (lumen_core), found with dlsym.
extern "C" __attribute__((visibility("default"))) void lumen_ml_generate_cams(
    const lumen::explain::CamJobOptions* options, lumen::jobs::JobContext* job, lumen::explain::CamJobSummary* out) {
    lumen::explain::runCamJob(*options, *job, *out);
}
