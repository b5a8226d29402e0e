// The angio_multiview task (issue 16): a video encoder per view, a MIL aggregator over a study's
// views, 18 coronary segments x 5 heads (stenosis %, >= 70 %, calcification, CTO, thrombus)
// with a masked loss. Schema, default config and GUI hints live here (torch-free); training and
// inference in angio_engine.cpp, the data in angio_data.cpp (docs/angio.md).
#include "angio_engine.h"

#include "config/schema.h"
#include "data/column_names.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_kit.h"

namespace lumen::angio {
namespace {

void addDataKeys(config::Schema& s) {
    s.addStringList("segments", data::coronarySegments(),
                    "Coronary segments, in output order; each has the five heads (columns <segment>_<head>).");
    s.addString("data.manifest", "angio/manifest.csv",
                "Manifest CSV (study_id, patient_id, path, view, split, <segment>_<head> labels; one row per "
                "video), relative to the workspace.");
    s.addString("data.dicom_dir", "",
                "Inference only: a folder of DICOM cines grouped by StudyInstanceUID instead of the manifest.");
    s.addString("data.train_split", "train", "Split used for training.");
    s.addString("data.val_split", "val", "Split used for validation.");
    s.addString("data.infer_split", "test", "Split used by inference (every study when none has it).");
    s.addFloat("data.val_fraction", 0.2, "Patients held out for validation when the manifest has no split.", 0, 0.9);
    s.addInt("data.frames", 16, "Frames per clip.", 1, 512);
    s.addInt("data.stride", 2, "Frames between the clip's frames (1 = consecutive).", 1, 16);
    s.addInt("data.resolution", 112, "Frames are resized to this many pixels square.", 8, 1024);
    s.addInt("data.max_views", 4, "Views per study: more are sampled (training) or cut (inference).", 1, 32);
    s.addFloat("data.view_dropout", 0.0, "Training: each view is dropped with this probability (one stays).", 0, 0.9);
    s.addChoice("data.cache", "memory", {"memory", "none"},
                "memory: every video is decoded once and kept at the model's resolution (fast; the data must fit "
                "in memory); none: only frame counts are kept and each batch decodes its videos again on "
                "num_workers threads (for data larger than memory; the same batches, more decoding).");
    s.addFloat("data.mean", 128.0,
               "Subtracted from the frames' values before dividing by data.std; training warns when it differs "
               "from the training videos' own at 4 decimals.");
    s.addFloat("data.std", 64.0, "Divides the frames' values after data.mean.", 1e-6).minExclusive = true;
}

void addModelKeys(config::Schema& s) {
    s.addChoice("model.encoder", "r3d_18", {"r3d_18", "mc3_18", "r2plus1d_18", "mvit_v2_s"},
                "Video encoder (torchvision's layout and parameter names); mvit_v2_s is the released "
                "model's (16 frames at 224², a GPU's work).");
    plugin::addNumberList(s, "model.encoder_widths", "[]",
                          "Stage widths (empty = torchvision's 64, 128, 256, 512); a narrow encoder for CPUs.", 1);
    plugin::addNumberList(s, "model.encoder_depths", "[]",
                          "Blocks per stage (empty = 2 each; same length as the widths).", 1);
    s.addChoice("model.encoder_pool", "avg", {"avg", "max"},
                "The encoder's global pool over frames and space: avg (torchvision's) or max (a small lesion's "
                "hot spot is not averaged away; weights load either way).");
    s.addInt("model.in_channels", 3, "Input channels: the grey frames are repeated (3 for torchvision weights).", 1, 3);
    s.addString("model.encoder_weights", "",
                "Encoder weights saved with torch.save (a torchvision state dict or a checkpoint nesting one), "
                "relative to the workspace; empty = random initialisation.");
    s.addString("model.encoder_weights_prefix", "",
                "Prefix of the encoder's keys in that file (e.g. video_encoder.); empty = found from stem.0.weight.");
    s.addChoice("model.aggregator", "attention_cls", {"mean", "max", "attention", "cls_token", "attention_cls"},
                "How a study's views become one: mean, max, gated attention, a cls token with a transformer "
                "layer, or attention and cls token concatenated.");
    s.addInt("model.attention_hidden", 256, "Gated attention's hidden size.", 1, 4096);
    s.addInt("model.aggregator_heads", 8, "Attention heads of the cls-token layer (must divide the encoder width).", 1,
             64);
    s.addFloat("model.aggregator_dropout", 0.0, "Dropout inside the aggregator's attention.", 0, 0.9);
    s.addFloat("model.head_dropout", 0.2, "Dropout before the 90 heads.", 0, 0.9);
}

void addLossKeys(config::Schema& s) {
    s.addFloat("loss.stenosis_weight", 2.0, "Weight of the stenosis Huber loss.", 0);
    s.addFloat("loss.binary_weight", 1.0, "Weight of the binary heads' BCE.", 0);
    s.addFloat("loss.huber_delta", 0.1, "Huber delta on the stenosis fraction (0.1 = 10 percentage points).", 1e-6);
    s.addInt("infer.batch_size", 1, "Studies per inference batch.", 1, 256);
    s.addInt("infer.bootstrap", 1000,
             "Bootstrap resamples (over studies) for the intervals of metrics.json when the inferred studies are "
             "labelled; 0 = none.",
             0, 100000);
    s.addInt("infer.cam_studies", 0,
             "Video Grad-CAM for the first N inferred studies (0 = none): cams/<study>__<column>.npy.", 0, 1000000);
    s.addStringList("infer.cam_columns", {},
                    "Output columns to explain; empty = each study's highest-scoring _stenosis_binary.");
    s.addChoice("infer.cam_method", "gradcam", {"gradcam", "gradcam++", "hirescam"}, "How the video CAM is formed.");
}

class AngioMultiviewTask : public plugin::KitTask {
public:
    AngioMultiviewTask()
        : KitTask({"angio_multiview",
                   "Angiography multi-view (video)",
                   "Coronary angiography: a video encoder per view, a MIL aggregator over the study's views, and "
                   "stenosis %, stenosis >= 70 %, calcification, CTO and thrombus per coronary segment; missing "
                   "labels are masked out of the loss.",
                   "Multi-view coronary angiography model (DeepCORO-style).",
                   {.idColumn = "study_id", .imageColumns = {}, .panels = {"loss_curves"}, .explainableLayers = {}}},
                  train, infer) {}

    config::Schema schema() const override {
        config::Schema s = kitSchema({12, 2, 1, 3e-4, "fp32", "Studies"}, "preds.csv and preds.json");
        addDataKeys(s);
        addModelKeys(s);
        addLossKeys(s);
        return s;
    }

    std::vector<std::string> predictionColumns(const config::Config& config) const override {
        std::vector<std::string> cols;
        for (const auto& seg : config.get<std::vector<std::string>>("segments"))
            for (const char* head : {"stenosis", "stenosis_binary", "calcif_binary", "cto", "thrombus"})
                cols.push_back(seg + "_" + head);
        return cols;
    }
};

}  // namespace
}  // namespace lumen::angio

LUMEN_DECLARE_TASK_PLUGIN(lumen::angio::AngioMultiviewTask, "angio_multiview")
