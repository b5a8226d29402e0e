// The roi_consistency task (the original ROI-consistency walkthrough, issue 5): a ConvNeXt chest X-ray classifier trained
// with a learned top-k mask whose kept pixels (crop) must give the same prediction and whose
// removed pixels (drop) must not give a more confident one. Schema, default config and GUI
// hints live here (torch-free); training and inference in roi_engine.cpp.
#include "roi_engine.h"

#include "config/schema.h"
#include "plugin/image_manifests.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_kit.h"

namespace lumen::roi {
namespace {

/// NIH ChestX-ray14's findings and "Normal" (the original model's 15 outputs).
std::vector<std::string> nihLabels() {
    auto labels = plugin::nihFindings();
    labels.push_back("Normal");
    return labels;
}

class RoiConsistencyTask : public plugin::KitTask {
public:
    RoiConsistencyTask()
        : KitTask({"roi_consistency",
                   "ROI consistency (chest X-ray)",
                   "Multi-label chest X-ray classifier (ConvNeXt) trained with a learned top-k "
                   "region mask: predictions on the kept region must agree with the full image, "
                   "and removing it must lower confidence. Reports faithfulness per image.",
                   "ROI-consistency chest X-ray classifier (defaults of the original recipe).",
                   {.idColumn = "image",
                    .imageColumns = {"path"},
                    .panels = {"loss_curves", "overlay"},
                    .explainableLayers = {"classifier.features.7", "classifier.features.5", "maskNet"}}},
                  train, infer) {}

    config::Schema schema() const override {
        // The original recipe's defaults.
        config::Schema s = kitSchema({8, 8, 2, 1e-4, "bf16", "Images"}, "preds.csv, preds.json and roi_vis/");
        s.addBool("channels_last", true, "Use the channels-last memory format for images.");
        s.addInt("num_workers", 8, "Data-loading worker threads.", 0, 64);
        s.addInt("image_size", 224, "Images are resized and centre-cropped to this square side.", 32, 2048);
        s.addFloat("keep_ratio", 0.1, "Fraction of pixels the binary top-k mask keeps.", 0, 1).minExclusive = true;
        s.addFloat("loss_weights.full", 1.0, "Weight of the BCE loss on the full image.", 0);
        s.addFloat("loss_weights.consist", 1.0, "Weight of L1(prob_full, prob_crop).", 0);
        s.addFloat("loss_weights.drop", 0.5, "Weight of ReLU(prob_drop - prob_full).", 0);
        s.addFloat("loss_weights.sparse", 1e-3, "Weight of mean(mask) (sparsity).", 0);
        s.addFloat("loss_weights.tv", 1e-4, "Weight of the mask's total variation.", 0);
        plugin::addConvNextKeys(s, "base");  // the original model is ConvNeXt-base
        s.addStringList("labels", nihLabels(), "Label vocabulary, in output order.");
        plugin::addImageManifestKeys(s);
        plugin::addImagePreprocessingKeys(s);
        s.addInt("infer.visuals", 16, "Images whose mask and crop are saved under roi_vis/.", 0);
        return s;
    }

    std::vector<std::string> predictionColumns(const config::Config& config) const override {
        std::vector<std::string> cols;
        for (const auto& l : config.get<std::vector<std::string>>("labels"))
            for (const char* k : {"prob_full", "prob_crop", "prob_drop", "faithfulness"}) cols.push_back(l + "." + k);
        return cols;
    }
};

}  // namespace
}  // namespace lumen::roi

LUMEN_DECLARE_TASK_PLUGIN(lumen::roi::RoiConsistencyTask, "roi_consistency")
