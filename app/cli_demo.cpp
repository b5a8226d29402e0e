// lumen-cli demo --out DIR: the synthetic demo workspace.
#include "cli_command.h"
#include "cli_progress.h"

#include "demo/demo_workspace.h"

#include <iostream>

namespace lumen::cli {

Command demoCommand() {
    Command c;
    c.name = "demo";
    c.summary = "demo --out DIR: write the synthetic demo workspace";
    c.usage = R"(Usage: lumen-cli demo --out DIR [--seed N] [--chest-images N] [--ct-volumes N]
                     [--angio-studies N]

Writes the deterministic synthetic demo workspace into DIR: chest X-ray PNGs with NIH-layout
labels, CT volumes (NIfTI and one DICOM series), angiography cines (multi-frame DICOM) and a
baseline/new 90-column predictions pair. Same seed, same bytes.
  --out DIR    target folder (created if missing)
  --seed N     random seed (default 7)
  --chest-images N  chest X-rays to write (default 300; the clip_contrastive demo config wants 1200)
  --ct-volumes N  CT volumes to write (default 16; the ct_multilabel demo config wants 640)
  --angio-studies N  labelled angiography studies of 2-4 cines (default 24; the
               angio_multiview demo config wants 300)
Progress goes to stderr; Ctrl-C cancels.
)";
    c.valueOptions = {"out", "seed", "chest-images", "ct-volumes", "angio-studies"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() != 1) throw UsageError("demo takes no positional arguments");
        const auto out = args.value("out");
        if (!out) throw UsageError("demo needs --out DIR");
        demo::DemoOptions options;
        if (auto seed = args.integer("seed")) options.seed = std::uint64_t(*seed);
        if (auto n = args.integer("chest-images")) {
            if (*n < 0 || *n > 100000) throw UsageError("--chest-images must be in 0..100000");
            options.chestImages = static_cast<int>(*n);
        }
        if (auto n = args.integer("ct-volumes")) {
            if (*n < 0 || *n > 10000) throw UsageError("--ct-volumes must be in 0..10000");
            options.ctVolumes = static_cast<int>(*n);
        }
        if (auto n = args.integer("angio-studies")) {
            if (*n < 0 || *n > 100000) throw UsageError("--angio-studies must be in 0..100000");
            options.angioStudies = static_cast<int>(*n);
        }
        demo::DemoSummary summary;
        const auto info = runWithProgress("demo", "demo workspace", [&](jobs::JobContext& job) {
            summary = demo::createDemoWorkspace(*out, options, &job);
            return std::string("ok");
        });
        if (info.state != jobs::JobState::Finished) {
            std::cerr << "lumen-cli: demo " << jobs::jobStateName(info.state) << ": " << info.outcome << "\n";
            return kError;
        }
        std::cout << "demo workspace written to " << summary.root.string() << ": " << summary.chestImages
                  << " chest X-rays, " << summary.ctVolumes << " CT volumes (+" << summary.ctDicomSlices
                  << " DICOM slices), " << summary.angioCines << " angiography cines, " << summary.predictionRows
                  << " prediction rows, " << summary.files.size() << " files\n";
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
