// lumen-cli explain: Grad-CAM / Grad-CAM++ heatmaps of a model over an image list into the
// workspace's CAM cache (docs/explain.md). The work runs in liblumen_ml, loaded on demand
// through explain/cam_job.h, so lumen-cli itself never links LibTorch.
#include "cli_command.h"
#include "cli_progress.h"

#include "explain/cam_job.h"
#include "infer/torchscript_config.h"

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace lumen::cli {

int evaluateExplainBoxes(const Args& args, const std::filesystem::path& cacheDir,
                         std::vector<std::filesystem::path> roots);  // cli_explain_boxes.cpp

namespace {

std::vector<float> floatList(const std::string& option, const std::string& text) {
    std::vector<float> out;
    std::stringstream ss(text);
    std::string part;
    while (std::getline(ss, part, ',')) {
        try {
            std::size_t used = 0;
            out.push_back(std::stof(part, &used));
            if (used != part.size()) throw std::invalid_argument(part);
        } catch (const std::exception&) {
            throw UsageError("--" + option + ": expected numbers separated by commas, got \"" + text + "\"");
        }
    }
    return out;
}

/// lumen-cli explain --list-layers MODEL: every layer with its output on a probe input.
int listLayers(const Args& args) {
    const auto model = *args.value("list-layers");
    if (!std::filesystem::is_regular_file(model)) throw UsageError("--list-layers " + model + ": no such file");
    std::vector<std::size_t> shape;
    if (auto s = args.value("size")) shape = sizeArgument(*s);
    int channels = 0;
    if (auto ch = args.integer("channels")) channels = int(*ch);
    const auto listing = explain::listLayers(std::filesystem::absolute(model), shape, channels);
    std::cout << listing.model << "\n";
    if (!listing.probeShape.empty()) std::cout << "probe input: " << infer::shapeText(listing.probeShape) << "\n";
    std::cout << "default layer: " << (listing.defaultLayer.empty() ? "(none: name one)" : listing.defaultLayer)
              << "\n\n";
    std::size_t width = 5;
    for (const auto& l : listing.layers) width = std::max(width, l.path.size());
    std::cout << std::left << std::setw(int(width) + 2) << "layer" << std::setw(20) << "output"
              << "explainable\n";
    for (const auto& l : listing.layers)
        std::cout << std::setw(int(width) + 2) << l.path << std::setw(20)
                  << (l.shape.empty() ? "-" : infer::shapeText(l.shape)) << (l.explainable ? "yes" : "no")
                  << (l.note.empty() ? "" : "  (" + l.note + ")") << "\n";
    return kOk;
}

const char* const kExplainUsage =
    R"(Usage: lumen-cli explain --model FILE --images CSV|DIR [--workspace DIR | --out DIR]
                         [--method gradcam|gradcam++|hirescam] [--layer NAME] [--labels all|top:N|A,B]
                         [--label-names A,B,...] [--image-root DIR] [--size N|HxW|DxHxW]
                         [--mean M,M,M --std S,S,S | --no-normalise] [--channels 1|3]
                         [--keep-ratio 0.1] [--no-faithfulness] [--activation sigmoid|softmax|none]
                         [--batch-size 8] [--threads N] [--device cpu|cuda|cuda:N] [--max-images N]
                         [--boxes BOXES.csv [--box-threshold 0.5] [--control-seed 20]]
       lumen-cli explain --cache DIR --boxes BOXES.csv [--image-root DIR] [--box-threshold T]
       lumen-cli explain --list-layers MODEL [--size N|HxW|DxHxW] [--channels C]

Computes the CAMs the cache lacks (a second run over the same images computes nothing) and
writes them to <workspace>/cache/cam/<model hash>_<layer>_<method>/ (index.csv, one .npy
per image and label; format: docs/explain.md).
  --model FILE       any TorchScript module, or a Lumen roi_consistency checkpoint
  --images CSV|DIR   a CSV (column "path", else the first column; predictions tables as they
                     are) or a folder of images / .npy arrays
  --image-root DIR   where the CSV's relative paths point (default: the CSV's folder)
  --workspace DIR    the workspace (default: the current folder)
  --out DIR          write the cache to DIR instead
  --layer NAME       explained layer: any submodule of a TorchScript model by its path
                     (layer4, features.denseblock4, blocks.11; transformer tokens become a
                     grid), default: the last child with a feature map; ConvNeXt
                     checkpoints features.7 (default), features.5, features.3, features.1
  --list-layers M    print the layers of model M with their output shapes on a probe input
                     (--size / --channels, default from its first convolution) and stop
  --labels SPEC      all (default), top:N (the N highest outputs per image), or names/indices
  --size             model input; default: the checkpoint's image size, else 224
  --mean/--std       normalisation after scaling to [0, 1] (default: the checkpoint's, else
                     ImageNet's for 3 channels)
  --keep-ratio R     faithfulness: prob_drop is the probability with the top R of the CAM
                     removed (image x (1 - mask)); cam_drop = prob - prob_drop
  --boxes CSV        then measure the CAMs against annotated boxes (image,finding,x,y,w,h or
                     NIH's BBox_List_2017.csv, original image pixels): per label the pointing
                     game, mean IoU of the box around the CAM's largest region >= the
                     threshold, AP@0.5/0.75, and a control (each CAM against another image's
                     boxes); writes localisation.json/.csv into the cache folder
  --cache DIR        with --boxes and no --model: evaluate an existing CAM cache
  --device D         cpu (default), auto, cuda or cuda:N (docs/distributed.md)
Exit codes: 0 done, 2 error or cancelled.
)";

}  // namespace

std::vector<std::size_t> sizeArgument(const std::string& text) {
    std::vector<std::size_t> out;
    std::stringstream ss(text);
    std::string part;
    while (std::getline(ss, part, 'x')) {
        try {
            std::size_t used = 0;
            const long v = std::stol(part, &used);
            if (used != part.size() || v < 1 || v > 16384) throw std::invalid_argument(part);
            out.push_back(std::size_t(v));
        } catch (const std::exception&) {
            throw UsageError("--size: expected N, HxW or DxHxW, got \"" + text + "\"");
        }
    }
    if (out.size() == 1) out.push_back(out[0]);
    if (out.size() != 2 && out.size() != 3) throw UsageError("--size: expected N, HxW or DxHxW, got \"" + text + "\"");
    return out;
}

Command explainCommand() {
    Command c;
    c.name = "explain";
    c.summary = "explain --model FILE --images CSV|DIR: Grad-CAM heatmaps into the CAM cache";
    c.usage = kExplainUsage;
    c.valueOptions = {"model",      "images",      "image-root",  "workspace",     "out",          "method",
                      "layer",      "labels",      "label-names", "size",          "mean",         "std",
                      "channels",   "keep-ratio",  "activation",  "batch-size",    "threads",      "device",
                      "max-images", "list-layers", "boxes",       "box-threshold", "control-seed", "cache"};
    c.flags = {"no-faithfulness", "no-normalise"};
    c.run = [](const Args& args, const plugin::Registry&) {
        namespace fs = std::filesystem;
        if (args.words.size() != 1) throw UsageError("explain takes no positional arguments");
        if (args.has("list-layers")) return listLayers(args);
        if (args.has("cache")) {
            if (!args.has("boxes")) throw UsageError("--cache DIR goes with --boxes CSV");
            if (args.has("model")) throw UsageError("give --cache (an existing cache) or --model, not both");
            const fs::path dir = fs::absolute(*args.value("cache"));
            if (!fs::is_regular_file(dir / "index.csv")) throw UsageError("--cache " + dir.string() + ": no index.csv");
            std::vector<fs::path> roots;
            if (auto r = args.value("image-root")) roots.push_back(fs::absolute(*r));
            roots.push_back(fs::absolute(args.value("workspace").value_or(".")));
            return evaluateExplainBoxes(args, dir, roots);
        }
        const auto model = args.value("model");
        const auto images = args.value("images");
        if (!model || !images) throw UsageError("explain needs --model FILE and --images CSV|DIR");
        if (!fs::is_regular_file(*model)) throw UsageError("--model " + *model + ": no such file");
        if (!fs::exists(*images)) throw UsageError("--images " + *images + ": no such file or folder");
        if (auto b = args.value("boxes"); b && !fs::is_regular_file(*b))
            throw UsageError("--boxes " + *b + ": no such file");
        explain::CamJobOptions o;
        o.model = fs::absolute(*model);
        o.images = fs::absolute(*images);
        if (auto r = args.value("image-root")) o.imageRoot = fs::absolute(*r);
        o.workspace = fs::absolute(args.value("workspace").value_or("."));
        if (auto out = args.value("out")) o.cacheDir = fs::absolute(*out);
        o.method = args.value("method").value_or("gradcam");
        if (o.method != "gradcam" && o.method != "gradcam++" && o.method != "hirescam")
            throw UsageError("--method: expected gradcam, gradcam++ or hirescam, got \"" + o.method + "\"");
        o.layer = args.value("layer").value_or("");
        o.labels = args.value("labels").value_or("all");
        if (auto names = args.value("label-names")) {
            std::stringstream ss(*names);
            std::string part;
            while (std::getline(ss, part, ',')) o.labelNames.push_back(part);
        }
        if (auto s = args.value("size")) o.inputShape = sizeArgument(*s);
        if (auto m = args.value("mean")) o.mean = floatList("mean", *m);
        if (auto s = args.value("std")) o.stdev = floatList("std", *s);
        if (o.mean.empty() != o.stdev.empty()) throw UsageError("give --mean and --std together");
        o.noNormalisation = args.has("no-normalise");
        if (auto ch = args.integer("channels")) {
            if (*ch != 1 && *ch != 3) throw UsageError("--channels: expected 1 or 3");
            o.channels = int(*ch);
        }
        o.faithfulness = !args.has("no-faithfulness");
        if (auto k = args.number("keep-ratio")) {
            if (!(*k > 0 && *k <= 1)) throw UsageError("--keep-ratio: expected a number in (0, 1]");
            o.keepRatio = *k;
        }
        o.activation = args.value("activation").value_or("sigmoid");
        if (auto b = args.integer("batch-size")) {
            if (*b < 1 || *b > 4096) throw UsageError("--batch-size: expected 1 to 4096");
            o.batchSize = int(*b);
        }
        if (auto t = args.integer("threads")) o.threads = int(std::max(0LL, *t));
        if (auto d = args.value("device")) o.device = *d;
        if (auto n = args.integer("max-images")) o.maxImages = std::size_t(std::max(0LL, *n));

        explain::CamJobSummary summary;
        const auto info = runWithProgress("explain", "Grad-CAM", [&](jobs::JobContext& job) {
            summary = explain::generateCams(o, job);
            return summary.text();
        });
        if (info.state != jobs::JobState::Finished) {
            std::cerr << "lumen-cli: explain " << jobs::jobStateName(info.state) << ": " << info.outcome << "\n";
            return kError;
        }
        std::cout << summary.text() << "\n";
        if (!args.has("boxes")) return kOk;
        std::vector<fs::path> roots;
        if (!o.imageRoot.empty()) roots.push_back(o.imageRoot);
        roots.push_back(fs::is_directory(o.images) ? o.images : o.images.parent_path());
        roots.push_back(o.workspace);
        return evaluateExplainBoxes(args, summary.cacheDir, roots);
    };
    return c;
}

}  // namespace lumen::cli
