// The roi_consistency task (seeds/002, issue 5): a ConvNeXt chest X-ray classifier trained
// with a learned top-k mask whose kept pixels (crop) must give the same prediction and whose
// removed pixels (drop) must not give a more confident one. Schema, default config and GUI
// hints live here (torch-free); training and inference in roi_engine.cpp.
#include "roi_engine.h"

#include "config/schema.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"

namespace lumen::roi {
namespace {

const std::vector<std::string> kNihLabels = {
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
    "Hernia", "Normal"};

class RoiConsistencyTask : public plugin::Task {
public:
    std::string id() const override { return "roi_consistency"; }
    std::string displayName() const override { return "ROI consistency (chest X-ray)"; }
    std::string description() const override {
        return "Multi-label chest X-ray classifier (ConvNeXt) trained with a learned top-k "
               "region mask: predictions on the kept region must agree with the full image, "
               "and removing it must lower confidence. Reports faithfulness per image.";
    }

    config::Schema schema() const override {
        config::Schema s("roi_consistency");
        s.merge(config::commonSchema());
        // The original recipe's defaults (seeds/002).
        s.addInt("epochs", 8, "Number of passes over the training set.", 1);
        s.addInt("batch_size", 8, "Images per forward pass.", 1);
        s.addInt("gradient_accumulation_steps", 2,
                 "Forward passes whose gradients are summed before one optimizer step.", 1);
        s.addFloat("lr", 1e-4, "Peak learning rate of AdamW.", 0).minExclusive = true;
        s.addChoice("precision", "bf16", {"fp32", "bf16"},
                    "Arithmetic for forward passes: fp32, or bf16 autocast where the CPU has it.");
        s.addBool("channels_last", true, "Use the channels-last memory format for images.");
        s.addInt("num_workers", 8, "Data-loading worker threads.", 0, 64);
        s.addInt("image_size", 224, "Images are resized and centre-cropped to this square side.", 32, 2048);
        s.addFloat("keep_ratio", 0.1, "Fraction of pixels the binary top-k mask keeps.", 0, 1)
            .minExclusive = true;
        s.addFloat("loss_weights.full", 1.0, "Weight of the BCE loss on the full image.", 0);
        s.addFloat("loss_weights.consist", 1.0, "Weight of L1(prob_full, prob_crop).", 0);
        s.addFloat("loss_weights.drop", 0.5, "Weight of ReLU(prob_drop - prob_full).", 0);
        s.addFloat("loss_weights.sparse", 1e-3, "Weight of mean(mask) (sparsity).", 0);
        s.addFloat("loss_weights.tv", 1e-4, "Weight of the mask's total variation.", 0);
        s.addChoice("model.variant", "base", {"atto", "tiny", "base"},
                    "ConvNeXt width: atto (3.7M parameters), tiny (28M), base (88M, the original).");
        s.addString("model.pretrained", "",
                    "Pretrained backbone: a TorchScript module or torchvision convnext state dict "
                    "(.pt); empty = random initialisation.");
        s.addFloat("model.drop_path", 0.0, "Stochastic depth rate of the ConvNeXt blocks.", 0, 1);
        s.addStringList("labels", kNihLabels, "Label vocabulary, in output order.");
        s.addString("data.manifest", "",
                    "Manifest CSV (id, path, patient_id, labels, split), relative to the workspace.");
        s.addString("data.nih_dir", "",
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
        config::Field betas{"adam_betas", config::FieldType::FloatList, "[0.9, 0.999]",
                            "AdamW betas [beta1, beta2]."};
        betas.min = 0;
        betas.max = 1;
        s.add(betas);
        s.addFloat("min_lr_ratio", 0.0, "The cosine schedule ends at lr * min_lr_ratio.", 0, 1);
        s.addString("resume", "", "Checkpoint to continue training from (lumen-cli train --resume).");
        s.addString("infer.checkpoint", "", "Checkpoint used by inference (EMA weights when present).");
        s.addString("infer.out_dir", "", "Folder for preds.csv/preds.json/roi_vis (empty = the run folder).");
        s.addInt("infer.visuals", 16, "Images whose mask and crop are saved under roi_vis/.", 0);
        return s;
    }

    std::string defaultConfigYaml() const override {
        return R"(# ROI-consistency chest X-ray classifier (defaults of the original recipe).
task: roi_consistency
seed: 42
model:
  variant: base          # atto | tiny | base
  pretrained: ""         # TorchScript or torchvision convnext_base state dict
data:
  nih_dir: chest_xray    # NIH layout, imported into manifests; or set data.manifest
  train_split: train
  val_split: val
epochs: 8
batch_size: 8
gradient_accumulation_steps: 2
image_size: 224
lr: 1.0e-4
weight_decay: 0.05
warmup_steps: 0
max_grad_norm: 1.0
precision: bf16
channels_last: true
num_workers: 8
keep_ratio: 0.1
loss_weights:
  full: 1.0
  consist: 1.0
  drop: 0.5
  sparse: 1.0e-3
  tv: 1.0e-4
)";
    }

    std::vector<std::string> predictionColumns(const config::Config& config) const override {
        std::vector<std::string> cols;
        for (const auto& l : config.get<std::vector<std::string>>("labels"))
            for (const char* k : {"prob_full", "prob_crop", "prob_drop", "faithfulness"})
                cols.push_back(l + "." + k);
        return cols;
    }

    plugin::TaskGuiHints guiHints() const override {
        plugin::TaskGuiHints h;
        h.idColumn = "image";
        h.imageColumns = {"path"};
        h.panels = {"loss_curves", "overlay"};
        h.explainableLayers = {"classifier.features.7", "classifier.features.5", "maskNet"};
        return h;
    }

    std::string run(plugin::Operation op, const config::Config& config, const plugin::RunContext& where,
                    jobs::JobContext& job) override {
        return op == plugin::Operation::Train ? train(config, where, job) : infer(config, where, job);
    }
};

void registerTasks(plugin::Registry& registry) {
    registry.add(std::make_shared<RoiConsistencyTask>(), "roi_consistency");
}

}  // namespace
}  // namespace lumen::roi

LUMEN_DECLARE_PLUGIN(lumen::roi::registerTasks)
