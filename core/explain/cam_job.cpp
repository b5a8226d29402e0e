#include "explain/cam_job.h"
#include "explain/cam_plan.h"

#include "data/csv_records.h"
#include "data/data_error.h"
#include "data/media_index.h"
#include "jobs/job.h"
#include "util/atomic_file.h"
#include "util/sibling_library.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

namespace lumen::explain {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool knownInput(const fs::path& p) {
    static const std::set<std::string> ext = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".npy"};
    return ext.count(lower(p.extension().string())) > 0;
}

// A predictions table names its images by id only (the roi_consistency infer's preds.csv): an
// image that is not under the image root is looked up by name in the workspace, as the Study
// page finds a study's images (data::MediaIndex); one match is taken, else the path stays (and
// the job names the file it could not read).
void findByIdInWorkspace(const CamJobOptions& o, CamPlan& list) {
    std::shared_ptr<const data::MediaIndex> index;
    std::error_code ec;
    for (auto& item : list.items) {
        if (fs::exists(item.file, ec) || o.workspace.empty()) continue;
        if (!index) index = data::scanMedia(o.workspace);
        const auto found = index->lookup(item.id);
        if (found.size() == 1 && fs::is_regular_file(found.front(), ec)) item.file = found.front();
    }
}

// Infer's preds.json: an array of {"image" (or "id"), optional "path", "labels": {name: …}};
// the label names (in order) name the outputs as a predictions CSV's columns do.
void listFromJson(const CamJobOptions& o, CamPlan& list) {
    std::ifstream in(o.images);
    nlohmann::ordered_json rows;
    try {
        rows = nlohmann::ordered_json::parse(in);
    } catch (const std::exception& e) {
        throw data::DataError(o.images, std::string("not valid JSON: ") + e.what());
    }
    if (!rows.is_array() || rows.empty())
        throw data::DataError(o.images, "expected an array with one object per image (infer's preds.json)");
    const fs::path root = o.imageRoot.empty() ? o.images.parent_path() : o.imageRoot;
    bool anyPath = false;
    std::set<std::string> seen;
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const auto& row = rows[r];
        const auto idKey = row.is_object() ? (row.contains("image") ? "image" : "id") : "";
        if (!row.is_object() || !row.contains(idKey) || !row[idKey].is_string())
            throw data::DataError(o.images,
                                  "entry " + std::to_string(r) + ": expected an \"image\" (or \"id\") string");
        const std::string id = row[idKey].get<std::string>();
        if (!seen.insert(id).second) continue;
        const bool hasPath = row.contains("path") && row["path"].is_string();
        anyPath = anyPath || hasPath;
        const fs::path p = hasPath ? fs::path(row["path"].get<std::string>()) : fs::path(id);
        list.items.push_back({id, p.is_absolute() ? p : root / p});
        if (r == 0 && row.contains("labels") && row["labels"].is_object())
            for (const auto& [name, value] : row["labels"].items()) list.numericColumns.push_back(name);
    }
    if (!anyPath) findByIdInWorkspace(o, list);
}

void listImages(const CamJobOptions& o, CamPlan& list) {
    std::error_code ec;
    if (fs::is_directory(o.images, ec)) {
        for (const auto& e : fs::recursive_directory_iterator(o.images))
            if (e.is_regular_file() && knownInput(e.path()))
                list.items.push_back({e.path().lexically_relative(o.images).generic_string(), e.path()});
        std::sort(list.items.begin(), list.items.end(),
                  [](const CamInput& a, const CamInput& b) { return a.id < b.id; });
        if (list.items.empty()) throw std::runtime_error(o.images.string() + ": no images in this folder");
        return;
    }
    if (!fs::is_regular_file(o.images, ec))
        throw std::runtime_error(o.images.string() + ": no such image list (a CSV file or a folder)");
    if (lower(o.images.extension().string()) == ".json") {
        listFromJson(o, list);
        return;
    }
    const auto records = data::readCsvRecords(o.images);
    if (records.size() < 2) throw data::DataError(o.images, "no rows: expected a header and one row per image");
    const auto& header = records.front().fields;
    std::size_t pathColumn = 0;
    bool hasPathColumn = false;
    for (std::size_t i = 0; i < header.size(); ++i)
        if (lower(header[i]) == "path") pathColumn = i, hasPathColumn = true;
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
    if (!hasPathColumn) findByIdInWorkspace(o, list);
}

/// The outputs to explain for one image, from its logits.
std::vector<int> chooseCamTargetsImpl(const std::string& spec, const std::vector<double>& logits,
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
            throw data::DataError(file, records[r].line, 0, {},
                                  "expected " + std::to_string(t.names.size() + 1) + " fields");
        std::vector<double> v;
        for (std::size_t i = 1; i < f.size(); ++i) {
            try {
                v.push_back(std::stod(f[i]));
            } catch (const std::exception&) {
                throw data::DataError(file, records[r].line, i + 1, t.names[i - 1],
                                      "expected a number, got \"" + f[i] + "\"");
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

}  // namespace

std::vector<int> chooseCamTargets(const std::string& spec, const std::vector<double>& logits,
                                  const std::vector<std::string>& names) {
    return chooseCamTargetsImpl(spec, logits, names);
}

void writeCamScores(const fs::path& file, const std::vector<std::string>& names,
                    const std::map<std::string, std::vector<double>>& logits) {
    writeScores(file, ScoreTable{names, logits});
}

std::string canonicalCamMethod(const std::string& name) {
    const std::string n = lower(name);
    if (n == "gradcam" || n == "grad-cam" || n == "grad_cam") return "gradcam";
    if (n == "gradcam++" || n == "grad-cam++" || n == "gradcampp" || n == "gradcam_pp" || n == "gradcamplusplus")
        return "gradcam++";
    if (n == "hirescam" || n == "hires-cam" || n == "hires_cam") return "hirescam";
    throw std::invalid_argument("unknown CAM method \"" + name + "\" (known: gradcam, gradcam++, hirescam)");
}

CamPlan planCams(const CamJobOptions& o) {
    if (o.activation != "sigmoid" && o.activation != "softmax" && o.activation != "none")
        throw std::invalid_argument("activation \"" + o.activation + "\": expected sigmoid, softmax or none");
    if (!(o.keepRatio > 0 && o.keepRatio <= 1)) throw std::invalid_argument("keep_ratio must be in (0, 1]");
    if (o.batchSize < 1) throw std::invalid_argument("batch size must be at least 1");
    CamPlan plan;
    plan.methodName = canonicalCamMethod(o.method);
    plan.layerKey = o.layer.empty() ? "default" : o.layer;
    listImages(o, plan);
    if (o.maxImages > 0 && plan.items.size() > o.maxImages) plan.items.resize(o.maxImages);
    plan.cacheDir = o.cacheDir.empty() ? camCacheDir(o.workspace, o.model, plan.layerKey, plan.methodName) : o.cacheDir;
    plan.cache = readCamCache(plan.cacheDir);
    plan.cache.dir = plan.cacheDir;
    if (plan.cache.model.empty()) plan.cache.model = fs::absolute(o.model).string();
    if (plan.cache.layer.empty()) plan.cache.layer = plan.layerKey;
    plan.cache.method = plan.methodName;
    ScoreTable scores = readScores(plan.cacheDir / "scores.csv");
    plan.scoreNames = std::move(scores.names);
    plan.scoreLogits = std::move(scores.logits);
    for (std::size_t i = 0; i < plan.cache.entries.size(); ++i)
        plan.entryIndex[{plan.cache.entries[i].id, plan.cache.entries[i].label}] = i;
    const auto nameOf = [&](int t) {
        return t < static_cast<int>(plan.scoreNames.size()) ? plan.scoreNames[static_cast<std::size_t>(t)]
                                                            : std::to_string(t);
    };
    // An image whose logits are known and all of whose chosen CAMs (with faithfulness when
    // asked for) are cached needs no model at all.
    for (std::size_t i = 0; i < plan.items.size(); ++i) {
        const auto it = plan.scoreLogits.find(plan.items[i].id);
        bool done = it != plan.scoreLogits.end();
        std::size_t have = 0;
        if (done) {
            for (int t : chooseCamTargets(o.labels, it->second, plan.scoreNames)) {
                const auto e = plan.entryIndex.find({plan.items[i].id, nameOf(t)});
                if (e == plan.entryIndex.end() || (o.faithfulness && !plan.cache.entries[e->second].probDrop) ||
                    !fs::exists(plan.cache.entries[e->second].file)) {
                    done = false;
                    break;
                }
                ++have;
            }
        }
        if (done) plan.reused += have;
        else plan.todo.push_back(i);
    }
    return plan;
}

std::string CamJobSummary::text() const {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%zu images: %zu CAMs computed, %zu reused, %.1f s (%.3f s per CAM) -> %s", images,
                  computed, reused, seconds, secondsPerCam, cacheDir.string().c_str());
    return buf;
}

CamJobSummary generateCams(const CamJobOptions& options, jobs::JobContext& job) {
    const auto start = std::chrono::steady_clock::now();
    {
        // Everything cached (reopening a workspace): answered without loading LibTorch.
        const CamPlan plan = planCams(options);
        if (plan.todo.empty()) {
            CamJobSummary summary;
            summary.cacheDir = plan.cacheDir;
            summary.images = plan.items.size();
            summary.reused = plan.reused;
            job.info("CAM cache " + plan.cacheDir.string() + ": all " + std::to_string(plan.items.size()) +
                     " images already explained");
            job.progress(1.0, "all CAMs cached");
            job.artifact("cam_cache", plan.cacheDir.string());
            summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            return summary;
        }
    }
    // The work needs LibTorch: it lives in liblumen_ml (explain/cam_job_torch.cpp).
    using Fn = void (*)(const CamJobOptions*, jobs::JobContext*, CamJobSummary*);
    auto fn = reinterpret_cast<Fn>(util::siblingLibrarySymbol("liblumen_ml.so", "lumen_ml_generate_cams"));
    CamJobSummary summary;
    fn(&options, &job, &summary);
    return summary;
}

LayerListing listLayers(const std::filesystem::path& model, const std::vector<std::size_t>& inputShape, int channels) {
    using Fn = void (*)(const std::filesystem::path*, const std::vector<std::size_t>*, int, LayerListing*);
    auto fn = reinterpret_cast<Fn>(util::siblingLibrarySymbol("liblumen_ml.so", "lumen_ml_list_layers"));
    LayerListing listing;
    fn(&model, &inputShape, channels, &listing);
    return listing;
}

}  // namespace lumen::explain
