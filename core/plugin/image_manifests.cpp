#include "plugin/image_manifests.h"

#include "data/nih_import.h"
#include "data/splits.h"
#include "jobs/job.h"
#include "plugin/task_kit.h"

#include <stdexcept>

namespace lumen::plugin {

namespace fs = std::filesystem;

void addImageManifestKeys(config::Schema& s) {
    s.addString("data.manifest", "", "Manifest CSV (id, path, patient_id, labels, split), relative to the workspace.");
    s.addString("data.nih_dir", "chest_xray",
                "NIH ChestX-ray14 folder (Data_Entry_2017.csv, split lists, images_*) imported "
                "into manifests when data.manifest is empty; relative to the workspace.");
    s.addString("data.train_split", "train", "Manifest split used for training.");
    s.addString("data.val_split", "val",
                "Manifest split used for validation; when the manifest has none, a "
                "patient-level split of the training rows (data.val_fraction).");
    s.addFloat("data.val_fraction", 0.1, "Patients held out for validation when there is no val split.", 0, 0.9)
        .minExclusive = true;
    s.addString("data.infer_split", "test", "Manifest split used by inference (all rows when absent).");
    s.addInt("data.max_images", 0, "Use at most this many training images (0 = all).", 0);
    s.addInt("data.max_val_images", 0, "Use at most this many validation / inference images (0 = all).", 0);
}

const std::vector<std::string>& nihFindings() {
    static const std::vector<std::string> findings = {
        "Atelectasis", "Cardiomegaly", "Effusion",           "Infiltration",  "Mass",
        "Nodule",      "Pneumonia",    "Pneumothorax",       "Consolidation", "Edema",
        "Emphysema",   "Fibrosis",     "Pleural_Thickening", "Hernia"};
    return findings;
}

void addConvNextKeys(config::Schema& s, const std::string& defaultVariant) {
    s.addChoice("model.variant", defaultVariant, {"atto", "tiny", "base"},
                "ConvNeXt image encoder: atto (3.7M parameters), tiny (28M), base (88M).");
    s.addString("model.pretrained", "",
                "Pretrained image encoder: a torchvision convnext state dict or TorchScript module (.pt); "
                "empty = random initialisation.");
    s.addFloat("model.drop_path", 0.0, "Stochastic depth rate of the ConvNeXt blocks.", 0, 1);
}

void addImagePreprocessingKeys(config::Schema& s) {
    config::Field mean{"data.mean", config::FieldType::FloatList, "[0.485, 0.456, 0.406]",
                       "Per-channel mean subtracted after scaling to [0, 1] (ImageNet)."};
    s.add(mean);
    config::Field stdev{"data.std", config::FieldType::FloatList, "[0.229, 0.224, 0.225]",
                        "Per-channel standard deviation divided by (ImageNet)."};
    stdev.min = 0;
    stdev.minExclusive = true;
    s.add(stdev);
    s.addBool("augment.hflip", false, "Random horizontal flips while training.");
    s.addFloat("augment.rotate_degrees", 0, "Random rotations in [-d, d] while training.", 0, 45);
}

data::Manifest imageManifest(const config::Config& c, const fs::path& ws, jobs::JobContext& job, bool forInference) {
    fs::path file;
    const auto manifest = c.get<std::string>("data.manifest");
    if (!manifest.empty()) {
        file = inWorkspace(ws, manifest);
    } else {
        const auto nih = c.get<std::string>("data.nih_dir");
        if (nih.empty()) throw config::ConfigError({}, {{"data.manifest", "set data.manifest or data.nih_dir", 0}});
        const fs::path out = ws / "manifests" / "nih";
        file = out / (forInference ? "test.csv" : "train_val.csv");
        std::error_code ec;
        if (!fs::exists(file, ec) || !fs::exists(out / "all.csv", ec)) {
            job.info("importing the NIH data set " + inWorkspace(ws, nih).string() + " into " + out.string());
            data::importNih(inWorkspace(ws, nih), out, {}, &job);
        }
    }
    auto m = data::readManifest(file);
    // The config's labels become the vocabulary (a subset or another order is fine), but a
    // label the manifest does not know would train on all-zero targets: an error naming it.
    const auto wanted = c.get<std::vector<std::string>>("labels");
    std::string unknown, known;
    for (const auto& l : wanted)
        if (m.labelIndex(l) < 0) unknown += (unknown.empty() ? "\"" : ", \"") + l + "\"";
    // Inference on unlabelled images (a folder's manifest has no labels at all) needs none.
    if (!unknown.empty() && !(forInference && m.labelNames.empty())) {
        for (const auto& l : m.labelNames) known += (known.empty() ? "" : ", ") + l;
        throw config::ConfigError(
            {}, {{"labels", unknown + " not in the manifest " + file.string() + " (its labels: " + known + ")", 0}});
    }
    m.labelNames = wanted;
    return m;
}

void limitRows(data::Manifest& m, std::int64_t max) {
    if (max > 0 && static_cast<std::int64_t>(m.rows.size()) > max) m.rows.resize(static_cast<std::size_t>(max));
}

TrainVal trainValManifests(const config::Config& c, const data::Manifest& all, std::uint64_t seed,
                           jobs::JobContext& job) {
    const auto trainSplit = c.get<std::string>("data.train_split");
    const auto valSplit = c.get<std::string>("data.val_split");
    TrainVal tv{all.filterSplit(trainSplit), all.filterSplit(valSplit)};
    if (tv.train.rows.empty())
        throw std::runtime_error(all.file.string() + ": no rows with split \"" + trainSplit + "\" (data.train_split)");
    if (tv.val.rows.empty()) {
        const double f = c.get<double>("data.val_fraction");
        data::SplitOptions so;
        so.ratios = {1.0 - f, f};
        so.names = {trainSplit, valSplit};
        so.seed = seed;
        const auto split = data::splitByPatient(tv.train, so);
        tv.train = split.filterSplit(trainSplit);
        tv.val = split.filterSplit(valSplit);
        job.info("no \"" + valSplit + "\" rows in " + all.file.string() + ": holding out " +
                 std::to_string(tv.val.rows.size()) + " images of " + fixed(f * 100, 0) +
                 "% of the patients for validation");
    }
    limitRows(tv.train, c.get<std::int64_t>("data.max_images"));
    limitRows(tv.val, c.get<std::int64_t>("data.max_val_images"));
    return tv;
}

data::Manifest inferenceManifest(const config::Config& c, const data::Manifest& all) {
    auto m = all.filterSplit(c.get<std::string>("data.infer_split"));
    if (m.rows.empty()) m = all;
    limitRows(m, c.get<std::int64_t>("data.max_val_images"));
    return m;
}

}  // namespace lumen::plugin
