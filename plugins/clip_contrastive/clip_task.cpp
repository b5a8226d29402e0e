// The clip_contrastive task (issue 17): image–report contrastive pretraining with captioning
// and masked-language modelling. Schema, default config and GUI hints live here (torch-free);
// training, validation metrics, inference and retrieval queries in clip_engine.cpp.
#include "clip_engine.h"

#include "config/schema.h"
#include "plugin/image_manifests.h"
#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "plugin/task_kit.h"

namespace lumen::clip {
namespace {

void addModelKeys(config::Schema& s) {
    plugin::addConvNextKeys(s, "tiny");
    s.addChoice("model.image_pooling", "mean", {"mean", "spatial"},
                "Patch tokens to the image embedding: mean (CLIP's average) or spatial (every token's place kept: "
                "reports state sides and zones; fixes the image size).");
    s.addInt("embed_dim", 512, "Dimension of the shared embedding space (projection heads).", 8, 4096);
    s.addFloat("temperature", 0.1,
               "Initial temperature; learned as log(temperature), clamped to [0.01, 1] as CLIP does.", 0.01, 1);
    s.addString("text.vocab", "",
                "Tokenizer vocabulary, relative to the workspace: a BERT vocab.txt (WordPiece) or, with "
                "text.merges, a vocab.json/encoder.json (byte-level BPE).");
    s.addString("text.merges", "", "merges.txt/vocab.bpe of a byte-level BPE tokenizer (empty = WordPiece).");
    s.addBool("text.lowercase", true, "Lower-case (and, for WordPiece, strip accents) before tokenizing.");
    s.addInt("text.max_tokens", 64, "Reports are cut to this many tokens, start and end included.", 4, 512);
    s.addString("text.pretrained", "",
                "BERT weights saved with torch.save (PubMedBERT, CXR-BERT, ...); empty = random initialisation. "
                "The sizes below must match them.");
    s.addInt("text.hidden", 768, "BERT hidden size.", 8, 4096);
    s.addInt("text.layers", 12, "BERT transformer layers.", 1, 48);
    s.addInt("text.heads", 12, "BERT attention heads (must divide text.hidden).", 1, 64);
    s.addInt("text.intermediate", 3072, "BERT feed-forward size.", 8, 16384);
    s.addInt("text.max_positions", 512, "BERT position embeddings (>= text.max_tokens).", 4, 4096);
    s.addFloat("text.dropout", 0.1, "BERT dropout (hidden and attention).", 0, 0.9);
}

void addLossKeys(config::Schema& s) {
    s.addChoice("loss.kind", "multi_positive", {"clip", "siglip", "multi_positive"},
                "Contrastive loss: clip (symmetric InfoNCE), siglip (sigmoid, learnable scale and bias) or "
                "multi_positive (InfoNCE where identical reports in a batch are all positives; equals clip when "
                "every report differs).");
    s.addInt("loss.hard_negatives", 0, "k hardest in-batch negatives up-weighted (loss.kind clip only; 0 = off).", 0);
    s.addFloat("loss.hard_negative_weight", 1.0, "Weight of the k hardest negatives inside the softmax.", 0)
        .minExclusive = true;
    s.addFloat("loss_weights.contrastive", 2.0, "Weight of the contrastive loss.", 0);
    s.addFloat("loss_weights.captioning", 0.3, "Weight of the captioning loss (0 = no caption decoder).", 0);
    s.addFloat("loss_weights.masked_modeling", 0.1, "Weight of masked-language modelling (0 = no MLM head).", 0);
    s.addFloat("loss_weights.patch_contrastive", 0.0,
               "Weight of the patch-level (token-to-patch) contrastive loss; 0 as the seed recipe found best.", 0);
    s.addFloat("mlm.rate", 0.15, "Share of report tokens masked for masked-language modelling.", 0, 1).minExclusive =
        true;
}

void addCaptionKeys(config::Schema& s) {
    s.addInt("caption.layers", 2, "Transformer layers of the caption decoder.", 1, 24);
    s.addInt("caption.heads", 4, "Attention heads of the caption decoder (must divide caption.width).", 1, 64);
    s.addInt("caption.width", 256, "Width of the caption decoder.", 8, 4096);
    s.addInt("caption.beam", 3, "Beam width of inference's captions (1 = greedy).", 1, 32);
    s.addInt("caption.val_samples", 64, "Validation images captioned (greedy) each epoch for BLEU-4 and ROUGE-L.", 0);
    s.addString("zero_shot.present", "{label} is present.", "Zero-shot prompt of a present label ({label} replaced).");
    s.addString("zero_shot.absent", "{label} is not present.", "Zero-shot prompt of an absent label.");
    s.addInt("infer.top_k", 5, "Reports listed per image (and images per report) in preds.json.", 1, 100);
    s.addString("infer.query", "",
                "A report to search for instead of inferring: ranks the images of infer.out_dir's retrieval.json "
                "(lumen-cli retrieve).");
}

class ClipContrastiveTask : public plugin::KitTask {
public:
    ClipContrastiveTask()
        : KitTask({"clip_contrastive",
                   "Image–report contrastive pretraining",
                   "Image and report encoders (ConvNeXt + BERT) trained into one embedding space with a CLIP, "
                   "SigLIP or multi-positive loss, a caption decoder and masked-language modelling. Reports "
                   "retrieval, alignment, captions and zero-shot AUROC per epoch.",
                   "Image-report contrastive pretraining (CLIP-style) with captioning.",
                   {.idColumn = "image", .imageColumns = {"path"}, .panels = {"loss_curves", "retrieval"}}},
                  train, infer) {}

    config::Schema schema() const override {
        config::Schema s = kitSchema({10, 32, 1, 1e-4, "fp32", "Image-report pairs"},
                                     "preds.csv, preds.json, retrieval.json and metrics.json");
        s.addInt("image_size", 224, "Images are resized and centre-cropped to this square side.", 32, 2048);
        s.addInt("num_workers", 2, "Data-loading worker threads.", 0, 64);
        s.addBool("channels_last", false, "Use the channels-last memory format for images.");
        addModelKeys(s);
        addLossKeys(s);
        addCaptionKeys(s);
        s.addStringList("labels", plugin::nihFindings(),
                        "Labels scored zero-shot from the prompts (AUROC against the manifest's labels).");
        plugin::addImageManifestKeys(s);
        s.addString("data.reports", "chest_xray/reports.csv",
                    "Reports CSV (id, report), relative to the workspace; several rows of one id are several "
                    "reports of that image.");
        plugin::addImagePreprocessingKeys(s);
        return s;
    }

    std::vector<std::string> predictionColumns(const config::Config& config) const override {
        std::vector<std::string> cols;
        for (const auto& l : config.get<std::vector<std::string>>("labels")) cols.push_back("zero_shot." + l);
        return cols;
    }
};

}  // namespace
}  // namespace lumen::clip

LUMEN_DECLARE_TASK_PLUGIN(lumen::clip::ClipContrastiveTask, "clip_contrastive")
