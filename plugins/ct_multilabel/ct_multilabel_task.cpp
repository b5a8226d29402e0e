// The ct_multilabel task (issue 7; CT-RATE / VLM3D task 2): a 3-D ResNet scores
// 18 abnormalities per chest CT volume, trained with focal loss (or BCE) and a frozen ->
// unfrozen backbone schedule; per-label thresholds are searched on validation and used at
// inference, which also writes 3-D Grad-CAM volumes. Schema, default config and GUI hints
// live here (torch-free); training and inference in ct_engine.cpp.
#include "ct_engine.h"

#include "config/schema.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_kit.h"

namespace lumen::ct {
namespace {

class CtMultilabelTask : public plugin::KitTask {
public:
    CtMultilabelTask()
        : KitTask({"ct_multilabel",
                   "CT multi-abnormality (3-D)",
                   "Multi-label 3-D CT classifier (CT-RATE's 18 abnormalities): a 3-D ResNet on resampled, "
                   "HU-windowed volumes, focal or BCE loss, frozen-then-unfrozen backbone, per-label "
                   "thresholds searched on validation, Grad-CAM volumes at inference.",
                   "CT multi-abnormality classifier (CT-RATE / VLM3D task 2 style).",
                   {.idColumn = "VolumeName",
                    .imageColumns = {"VolumeName"},
                    .panels = {"loss_curves", "volume"},
                    .explainableLayers = {"features.layer3", "features.layer2", "features.layer1"}}},
                  train, infer) {}

    config::Schema schema() const override {
        config::Schema s = kitSchema({20, 4, 1, 1e-4, "fp32", "Volumes"}, "preds.csv, preds.json and cams/");
        s.addInt("num_workers", 4, "Volume-reading threads.", 0, 64);
        s.addInt("freeze_backbone_epochs", 0,
                 "Epochs at the start during which the 3-D ResNet's feature layers are frozen (only the "
                 "classifier trains); then everything trains.",
                 0);
        s.addStringList("labels", defaultLabels(), "Label vocabulary (labels CSV columns), in output order.");
        s.addString("data.labels_csv", "ct/labels.csv",
                    "Labels CSV (VolumeName + one 0/1 column per label, optional split column), relative "
                    "to the workspace.");
        s.addString("data.volumes_dir", "ct/volumes",
                    "Folder holding the volumes named in the id column: NIfTI files or DICOM series folders.");
        s.addString("data.id_column", "VolumeName", "Column naming each volume.");
        s.addString("data.split_column", "split",
                    "Column holding each row's split; when the CSV has none, a seeded split (data.val_fraction).");
        s.addString("data.patient_column", "",
                    "Column naming each volume's patient, so a seeded split keeps a patient's volumes together. "
                    "Empty: patient_id or PatientID when present, else the patient part of CT-RATE names "
                    "(train_12_a_1 -> train_12), else one patient per volume.");
        s.addBool("data.allow_irregular_series", false,
                  "Accept a DICOM folder holding several series, or a series with gaps or uneven spacing "
                  "(the largest series, stacked at the median spacing, with a warning); false: an error.");
        s.addString("data.train_split", "train", "Split used for training.");
        s.addString("data.val_split", "val", "Split used for validation and the threshold search.");
        s.addString("data.infer_split", "test", "Split used by inference (all rows when absent).");
        s.addFloat("data.val_fraction", 0.2, "Patients held out for validation without a split column.", 0, 0.9)
            .minExclusive = true;
        s.addInt("data.max_volumes", 0, "Use at most this many volumes per split (0 = all).", 0);
        plugin::addNumberList(s, "preprocess.spacing", "[1.5, 1.5, 3.0]",
                              "Target voxel spacing in mm (x, y, z of the RAS grid); 0 keeps an axis.", 0);
        plugin::addNumberList(s, "preprocess.size", "[224, 224, 112]",
                              "Target voxels (x, y, z) after resampling: centre crop or pad; 0 keeps an axis.", 0);
        s.addFloat("preprocess.hu_min", -1000, "Lower end of the HU window (mapped to -1).");
        s.addFloat("preprocess.hu_max", 1000, "Upper end of the HU window (mapped to +1).");
        s.addStringList("preprocess.extra_windows", {},
                        "More HU windows, one input channel each after the first: lung, mediastinum, bone, "
                        "brain, or LO:HI in HU (e.g. -1000:-500).");
        s.addChoice("model.variant", "r18", {"small", "r10", "r18"},
                    "3-D ResNet: small (16-32-64, for CPU tests and the demo), r10, r18 (64-128-256-512).");
        plugin::addNumberList(s, "model.widths", "[]", "Stage widths (replace the variant's; with depths and strides).",
                              1);
        plugin::addNumberList(s, "model.depths", "[]", "Basic blocks per stage.", 1);
        plugin::addNumberList(s, "model.strides", "[]", "Stride (1 or 2) of each stage.", 1, 2);
        plugin::addNumberList(s, "model.stem_stride", "[2, 2, 2]", "Stride of the stem convolution (x, y, z).", 1, 4);
        s.addChoice("model.norm", "group", {"group", "batch"},
                    "Normalisation: GroupNorm (robust at small batches) or BatchNorm3d.");
        s.addFloat("model.dropout", 0.0, "Dropout before the classifier.", 0, 0.9);
        s.addChoice("model.pool", "avg", {"avg", "max", "avgmax"},
                    "Global pooling of the last feature map: average, max (small lesions) or both.");
        s.addChoice("model.init", "kaiming", {"kaiming", "default"},
                    "Convolution init: kaiming (torchvision's ResNet, fan-out) or default (PyTorch's layer "
                    "default, smaller: learns faster behind BatchNorm on small data).");
        s.addChoice("loss.type", "focal", {"focal", "bce"}, "Sigmoid focal loss or binary cross entropy.");
        s.addFloat("loss.focal_alpha", 0.25, "Focal loss: weight of positives (negatives get 1 - alpha); -1 disables.",
                   -1, 1);
        s.addFloat("loss.focal_gamma", 2.0, "Focal loss: focusing exponent.", 0, 10);
        plugin::addNumberList(s, "loss.pos_weight", "[]",
                              "Positive-class weight per label (in label order); empty = none.", 0);
        s.addBool("loss.pos_weight_auto", false,
                  "Positive-class weights negatives/positives of the training set (clamped to [1, 50]).");
        s.addChoice("threshold.metric", "f1", {"f1", "youden"},
                    "Per-label threshold search on validation: maximise F1 or Youden's J.");
        s.addBool("augment.flip_lr", false, "Random left-right flips while training.");
        s.addString("infer.thresholds", "",
                    "thresholds.json to use; empty = the one stored with the checkpoint's epoch.");
        s.addInt("infer.cam_volumes", 16, "Volumes whose Grad-CAM is computed (0 = none).", 0);
        s.addStringList("infer.cam_labels", {},
                        "Labels to explain; empty = every label decided positive for that volume.");
        s.addInt("infer.cam_stage", -1, "ResNet stage whose output Grad-CAM uses (1-based; -1 = the last).", -1, 8);
        s.addChoice("infer.cam_method", "gradcam", {"gradcam", "gradcam++", "hirescam"},
                    "CAM method: gradcam, gradcam++ or hirescam (gradient x activation per position: the "
                    "faithful one for a max-pooling head).");
        return s;
    }

    std::vector<std::string> predictionColumns(const config::Config& config) const override {
        const auto labels = config.get<std::vector<std::string>>("labels");
        std::vector<std::string> cols = labels;
        for (const auto& l : labels) cols.push_back(l + ".decision");
        return cols;
    }
};

}  // namespace
}  // namespace lumen::ct

LUMEN_DECLARE_TASK_PLUGIN(lumen::ct::CtMultilabelTask, "ct_multilabel")
