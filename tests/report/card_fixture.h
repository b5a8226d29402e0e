#pragma once
// A workspace for the card tests: a training run (checkpoint, thresholds, metrics), an
// inference run of its checkpoint (predictions) and the manifest both name, with the truths
// and scores the test keeps to compute its own references.

#include "data/manifest.h"
#include "runs/run_store.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace cardtest {

using namespace lumen;
namespace fs = std::filesystem;

inline const std::vector<std::string> kLabels = {"Alpha", "Beta", "Gamma"};

// A workspace with a training run (checkpoint, thresholds, metrics), an inference run of its
// checkpoint (predictions), and the manifest both name; the test keeps the truths and scores.
struct Fixture {
    fs::path root, manifest, preds, checkpoint;
    std::string checkpointBytes;
    std::int64_t trainRun = 0, inferRun = 0;
    std::vector<std::string> ids, splits;           // evaluated rows, in predictions order
    std::vector<std::vector<double>> truth, score;  // [label][row]
    std::vector<double> thresholds{0.4, 0.5, 0.6};
};

inline Fixture makeWorkspace(const fs::path& root) {
    Fixture f;
    f.root = root;
    const auto ws = runs::Workspace::open(root);
    data::Manifest m;
    m.labelNames = kLabels;
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(0, 1);
    for (int p = 0; p < 40; ++p) {
        const std::string split = p < 20 ? "train" : p < 28 ? "val" : "test";
        for (int k = 0; k < 3; ++k) {
            data::ManifestRow row;
            row.id = "IMGX-" + std::to_string(p) + "-" + std::to_string(k);
            row.patientId = "PATZ-" + std::to_string(1000 + p);
            row.path = "images/" + row.id + ".png";
            row.split = split;
            for (std::size_t l = 0; l < kLabels.size(); ++l)
                if (u(rng) < 0.25 + 0.1 * double(l)) row.labels.push_back(kLabels[l]);
            m.rows.push_back(row);
        }
    }
    f.manifest = root / "manifest.csv";
    data::writeManifest(m, f.manifest);
    f.truth.assign(kLabels.size(), {});
    f.score.assign(kLabels.size(), {});
    std::string csv = "image";
    for (const auto& l : kLabels) csv += "," + l + ".prob_full," + l + ".prob_drop";
    csv += "\n";
    for (const auto& row : m.rows) {
        if (row.split == "train") continue;
        f.ids.push_back(row.id);
        f.splits.push_back(row.split);
        csv += row.id;
        for (std::size_t l = 0; l < kLabels.size(); ++l) {
            const double t = std::find(row.labels.begin(), row.labels.end(), kLabels[l]) != row.labels.end();
            const double s = std::round(std::clamp(0.3 * t + u(rng) * (0.6 + 0.1 * double(l)), 0.0, 1.0) * 1e6) / 1e6;
            f.truth[l].push_back(t);
            f.score[l].push_back(s);
            csv += "," + std::to_string(s) + "," + std::to_string(s / 2);
        }
        csv += "\n";
    }
    csv += "IMGX-unknown,0.1,0.1,0.2,0.2,0.3,0.3\n";  // a predicted id without a truth
    runs::RunStore store(ws.database());
    const std::string env =
        R"({"lumen":{"version":"9.8.7","build_type":"Release"},"compiler":"GCC 12","os":{"name":"Debian"}})";
    f.trainRun = store.createRun("toy", "train-toy",
                                 "task: toy\nseed: 42\nlabels: [Alpha, Beta, Gamma]\ndata:\n  manifest: manifest.csv\n",
                                 "c0ffee00hash", env);
    const fs::path runDir = ws.runDir(f.trainRun, "toy");
    fs::create_directories(runDir / "checkpoints");
    f.checkpoint = runDir / "checkpoints" / "toy_epoch002.pt";
    f.checkpointBytes = "not really a checkpoint, but bytes with a known hash\n";
    std::ofstream(f.checkpoint, std::ios::binary) << f.checkpointBytes;
    std::ofstream(runDir / "thresholds.json")
        << R"({"metric":"f1","epoch":2,"thresholds":{"Alpha":0.4,"Beta":0.5,"Gamma":0.6}})";
    store.addArtifact(f.trainRun, "checkpoint", f.checkpoint.string());
    store.addArtifact(f.trainRun, "best_checkpoint", f.checkpoint.string());
    store.addArtifact(f.trainRun, "thresholds", (runDir / "thresholds.json").string());
    store.logMetrics(f.trainRun, {{"val.auroc_macro", 1, 0.61, 0}, {"val.auroc_macro", 2, 0.7325, 0}});
    store.setStatus(f.trainRun, runs::RunStatus::Finished, "best val.auroc_macro 0.7325");
    f.inferRun = store.createRun("toy", "infer-toy",
                                 "task: toy\nlabels: [Alpha, Beta, Gamma]\ndata:\n  manifest: manifest.csv\ninfer:\n"
                                 "  checkpoint: " +
                                     f.checkpoint.string() + "\n",
                                 "beef", env);
    const fs::path inferDir = ws.runDir(f.inferRun, "toy");
    fs::create_directories(inferDir);
    f.preds = inferDir / "preds.csv";
    std::ofstream(f.preds) << csv;
    store.addArtifact(f.inferRun, "predictions", f.preds.string());
    store.setStatus(f.inferRun, runs::RunStatus::Finished);
    return f;
}

}  // namespace cardtest
