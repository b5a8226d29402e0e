// lumen-cli infer: runs a trained task's inference as a recorded run, and with --baseline the
// audit of its predictions against a baseline table (recorded in the workspace's history).
#include "cli_task_run.h"

#include "audit/audit.h"
#include "cli_progress.h"
#include "runs/run_store.h"

#include <filesystem>
#include <iostream>

namespace lumen::cli {
namespace {

namespace fs = std::filesystem;

/// The audit of out/preds.csv against the baseline: reports beside the predictions, recorded
/// under `stage` in the workspace. Returns the exit code (0 PASS, 1 FAIL, 2 error).
int auditPredictions(const fs::path& out, const Args& args, const fs::path& workspace) {
    const fs::path preds = out / "preds.csv";
    if (!fs::is_regular_file(preds)) {
        std::cerr << "lumen-cli: --baseline: the task wrote no " << preds.string() << " to audit\n";
        return kError;
    }
    audit::AuditOptions options;
    if (auto cats = args.value("categories")) options.categories = audit::loadCategories(*cats);
    audit::AuditReport report;
    const auto info = runWithProgress("audit", "audit", [&](jobs::JobContext& job) {
        report = audit::runAudit(*args.value("baseline"), preds, options, &job).report;
        return report.verdict();
    });
    if (info.state != jobs::JobState::Finished) {
        std::cerr << "lumen-cli: audit " << jobs::jobStateName(info.state) << ": " << info.outcome << "\n";
        return kError;
    }
    const fs::path json = out / "audit.json", markdown = out / "audit.md";
    audit::writeReport(report, json, markdown);
    runs::RunStore store(runs::Workspace::open(workspace).database());
    const auto run = audit::recordAudit(store, report, args.value("stage").value_or("infer"),
                                        {fs::absolute(json).string(), fs::absolute(markdown).string()});
    std::cout << "audit against " << *args.value("baseline") << ": " << report.verdict() << " (run " << run
              << ", reports " << markdown.string() << ")\n";
    return report.pass() ? kOk : kCheckFailed;
}

}  // namespace

Command inferCommand() {
    Command c;
    c.name = "infer";
    c.summary = "infer --config C.yaml [--checkpoint FILE] --out DIR [--baseline B.csv]: predictions of a model";
    c.usage = R"(Usage: lumen-cli infer --config C.yaml [--checkpoint FILE] [--out DIR] [--workspace DIR]
                       [--baseline B.csv [--categories C.yaml] [--stage NAME]]

Runs the task's inference with the weights of FILE (its EMA weights when it has them) and
writes its predictions into DIR (for roi_consistency: preds.csv, preds.json, roi_vis/; for
torchscript: preds.csv, preds.json, metrics.json with labels). The run is recorded in the
workspace like a training run.
  --config C.yaml     the task config (data keys say which images)
  --checkpoint FILE   a checkpoint written by `lumen-cli train`, or the TorchScript file of
                      the torchscript task (default: the config's infer.checkpoint)
  --out DIR           where the predictions go (created; default: the config's infer.out_dir,
                      else the run folder)
  --workspace DIR     the workspace (default: the current folder)
  --baseline B.csv    then audit DIR/preds.csv against B.csv (docs/audit.md): audit.json and
                      audit.md beside the predictions, recorded in the workspace's audit
                      history as --stage (default "infer"); needs --out
  --categories C.yaml the audit's column categories
Exit codes: 0 done (and the audit passed), 1 invalid config or audit FAIL, 2 error or
cancelled.
)";
    c.valueOptions = {"config", "checkpoint", "out", "workspace", "baseline", "categories", "stage"};
    c.needsPlugins = true;
    c.run = [](const Args& args, const plugin::Registry& registry) {
        if (args.words.size() != 1) throw UsageError("infer takes no positional arguments");
        const auto config = args.value("config");
        const auto checkpoint = args.value("checkpoint");
        const auto out = args.value("out");
        if (!config) throw UsageError("infer needs --config");
        if (args.has("baseline") && !out) throw UsageError("--baseline needs --out DIR (where preds.csv is audited)");
        if (args.has("baseline") && !fs::is_regular_file(*args.value("baseline")))
            throw UsageError("--baseline " + *args.value("baseline") + ": no such file");
        if (checkpoint && !fs::is_regular_file(*checkpoint))
            throw UsageError("--checkpoint " + *checkpoint + ": no such file");
        std::vector<std::pair<std::string, std::string>> overrides;
        if (checkpoint) overrides.emplace_back("infer.checkpoint", fs::absolute(*checkpoint).string());
        if (out) {
            fs::create_directories(*out);
            overrides.emplace_back("infer.out_dir", fs::absolute(*out).string());
        }
        const fs::path workspace = args.value("workspace").value_or(".");
        const int code = runTaskCommand(false, *config, workspace, overrides, registry);
        if (code != kOk || !args.has("baseline")) return code;
        return auditPredictions(*out, args, workspace);
    };
    return c;
}

}  // namespace lumen::cli
