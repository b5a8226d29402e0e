// The torchscript task (issue 20, docs/byo-model.md): inference with a model trained elsewhere and
// saved with torch.jit.save, described by a small YAML — input kind, size, channels,
// normalisation, output names and activations, where the data are. It writes the standard
// predictions (preds.csv / preds.json), with labels a metrics report, and its predictions show on
// the Study page like any task's. Schema, default config and GUI hints live here (torch-free);
// inference in torchscript_engine.cpp.
#include "torchscript_engine.h"

#include "config/schema.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_kit.h"

namespace lumen::torchscript {
namespace {

std::string trainRefused(const config::Config&, const plugin::RunContext&, jobs::JobContext&) {
    throw std::runtime_error(
        "the torchscript task runs inference only: it brings a model trained elsewhere (train it in its own "
        "framework, or with roi_consistency / ct_multilabel here)");
}

class TorchScriptTask : public plugin::KitTask {
public:
    TorchScriptTask()
        : KitTask({"torchscript",
                   "TorchScript model (bring your own)",
                   "Inference with any TorchScript model (torch.jit.save) trained elsewhere: images, "
                   "volumes or videos in, named outputs out, with metrics when the manifest has labels "
                   "and Grad-CAM of any named layer.",
                   "A TorchScript model brought from elsewhere (lumen-cli torchscript init MODEL.pt writes this "
                   "file by probing the model).",
                   {.idColumn = "image",
                    .imageColumns = {"path"},
                    .panels = {"overlay"},
                    .explainableLayers = {},
                    .inferenceOnly = true}},
                  trainRefused, infer) {}

    config::Schema schema() const override {
        config::Schema s("torchscript");
        s.merge(config::commonSchema());
        s.merge(plugin::inferenceKeys("preds.csv, preds.json and metrics.json"));
        s.addString("infer.checkpoint", "",
                    "The TorchScript model file (.pt, torch.jit.save), relative to the workspace.");
        s.addChoice("input.kind", "image", {"image", "volume", "video"},
                    "What the model takes: image (N,C,H,W), volume (N,C,D,H,W) or video (N,C,T,H,W; "
                    "frames as the depth axis).");
        config::Field size{"input.size", config::FieldType::FloatList, "[224, 224]",
                           "Model input: [H, W] for images, [D, H, W] for volumes, [T, H, W] for videos. "
                           "Images are resized (shorter side) and centre-cropped; arrays are resized."};
        size.min = 1;
        s.add(size);
        s.addInt("input.channels", 3, "Channels the model takes (1 = grey, 3 = RGB).", 1, 64);
        s.add({"input.mean", config::FieldType::FloatList, "[0.485, 0.456, 0.406]",
               "Per-channel mean subtracted after scaling images to [0, 1] (empty = none)."});
        config::Field stdev{"input.std", config::FieldType::FloatList, "[0.229, 0.224, 0.225]",
                            "Per-channel standard deviation divided by (empty = none)."};
        stdev.min = 0;
        stdev.minExclusive = true;
        s.add(stdev);
        s.add({"input.hu_window", config::FieldType::FloatList, "[]",
               "[centre, width]: .npy volumes in Hounsfield units are clipped to this window and scaled "
               "to [0, 1] before mean/std (empty = arrays are the model input as they are)."});
        s.addStringList("outputs.names", {},
                        "Output names in the model's output order (labels, or the 90 angiography columns); "
                        "empty = 0, 1, 2 ...");
        s.addChoice("outputs.activation", "sigmoid", {"sigmoid", "softmax", "identity"},
                    "Applied to the logits: sigmoid (multi-label), softmax (one class), identity (regression).");
        s.addStringList("outputs.activations", {},
                        "Per output, overriding outputs.activation: one of sigmoid, softmax, identity per "
                        "name (softmax normalises over the outputs marked softmax).");
        s.addString("id_column", "image", "Name of the id column of preds.csv.");
        s.addString("data.manifest", "",
                    "Manifest CSV (id, path, optional labels and split), relative to the workspace; label "
                    "columns named like outputs give a metrics report.");
        s.addString("data.folder", "",
                    "Or a folder: its images (.png .jpg .dcm ...) for image models, its .npy arrays for "
                    "volumes and videos; ids are paths relative to it.");
        s.addString("data.split", "", "Only the manifest rows of this split (empty = all rows).");
        s.addInt("data.max_images", 0, "Infer at most this many inputs (0 = all).", 0);
        return s;
    }

    std::vector<std::string> predictionColumns(const config::Config& config) const override {
        return config.get<std::vector<std::string>>("outputs.names");
    }
};

}  // namespace
}  // namespace lumen::torchscript

LUMEN_DECLARE_TASK_PLUGIN(lumen::torchscript::TorchScriptTask, "torchscript")
