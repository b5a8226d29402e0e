// lumen-cli card: model, dataset and audit cards as Markdown, HTML or PDF (docs/cards.md).
#include "cli_command.h"

#include "audit/audit.h"
#include "card_render.h"
#include "report/audit_card.h"
#include "report/dataset_card.h"
#include "report/model_card.h"
#include "runs/run_store.h"
#include "util/atomic_file.h"

#include <QGuiApplication>

#include <cstdlib>
#include <iostream>

namespace lumen::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCardUsage = R"(Usage: lumen-cli card model RUN_ID [--workspace DIR] --out FILE.md|.html|.pdf
                      [--bootstrap N] [--seed S] [--preds P.csv] [--manifest M.csv | --labels L.csv]
                      [--include-ids]
       lumen-cli card dataset MANIFEST --out FILE.md|.html|.pdf [--pixel-stats] [--threads N]
                      [--include-ids]
       lumen-cli card audit --baseline B.csv --new N.csv --out FILE.md|.html|.pdf [--id COLUMN]
                      [--categories C.yaml] [--max-mae 0.1] [--min-corr 0.999]
                      [--allow-missing-ids] [--allow-missing-columns] [--allow-missing-values]
                      [--include-ids]

Writes a card (atomically) in the format its extension names; HTML and PDF carry the plots.
  model     the run's model card: checkpoint SHA-256, data (manifest SHA-256, counts per split,
            label balance, patient-level split proof), config and hash, environment, metrics
            per label with bootstrap intervals, calibration before/after temperature scaling,
            thresholds, reproducibility record. RUN_ID is a training run (its newest inference
            run's predictions are evaluated) or an inference run. Truths come from the config's
            data.manifest (or the NIH import, or data.labels_csv) unless --manifest/--labels.
  dataset   a manifest's card: counts, splits and their proof, label balance, and with
            --pixel-stats the exact pixel statistics (reads every image).
  audit     the audit report (as `lumen-cli audit`) with a scatter and a histogram per category.
  --workspace DIR   the workspace (default: the current folder)
  --bootstrap N     bootstrap resamples for the intervals (default 1000; 0: none)
  --include-ids     name patients and ids (default: counts only, no id in the export)
Intended use and limitations are left as marked placeholders for the authors to write.
Exit codes: 0 written, 2 error (audit: the card is written whatever the verdict).
)";

fs::path outPath(const Args& args) {
    const auto out = args.value("out");
    if (!out) throw UsageError("card needs --out FILE.md|.html|.pdf");
    if (!widgets::isCardFormat(*out)) throw UsageError("--out " + *out + ": use a .md, .html or .pdf file name");
    return *out;
}

int modelCard(const Args& args) {
    if (args.words.size() != 3) throw UsageError("card model takes one RUN_ID");
    long long id = 0;
    try {
        std::size_t used = 0;
        id = std::stoll(args.words[2], &used);
        if (used != args.words[2].size() || id <= 0) throw std::invalid_argument("id");
    } catch (const std::exception&) {
        throw UsageError("card model: RUN_ID must be a positive number, got \"" + args.words[2] + "\"");
    }
    const fs::path out = outPath(args);
    const fs::path ws = args.value("workspace").value_or(".");
    if (!runs::Workspace::isWorkspace(ws)) {
        std::cerr << "lumen-cli: " << ws.string() << ": not a Lumen workspace (no lumen.db)\n";
        return kError;
    }
    report::ModelCardOptions o;
    o.includeIds = args.has("include-ids");
    if (auto n = args.integer("bootstrap")) {
        if (*n > 1000000) throw UsageError("--bootstrap: expected 0 to 1000000 resamples");
        o.bootstrapResamples = int(*n);
    }
    if (auto s = args.integer("seed")) o.seed = std::uint64_t(*s);
    if (auto p = args.value("preds")) o.predictions = *p;
    if (auto m = args.value("manifest")) o.manifest = *m;
    if (auto l = args.value("labels")) o.labels = *l;
    if (!o.manifest.empty() && !o.labels.empty()) throw UsageError("give either --manifest or --labels, not both");
    const runs::Workspace workspace{ws};
    const runs::RunStore store(workspace.database());
    const auto card = report::buildModelCard(store, workspace, id, o);
    widgets::writeCard(card.document, out);
    std::cout << "model card of run " << id << " -> " << out.string() << "\n";
    return kOk;
}

int datasetCard(const Args& args) {
    if (args.words.size() != 3) throw UsageError("card dataset takes one MANIFEST");
    const fs::path out = outPath(args);
    if (util::samePath(out, args.words[2])) throw UsageError("--out " + out.string() + " is the manifest itself");
    report::DatasetCardOptions o;
    o.includeIds = args.has("include-ids");
    o.pixelStats = args.has("pixel-stats");
    if (auto t = args.integer("threads")) o.threads = unsigned(*t);
    const auto card = report::buildDatasetCard(args.words[2], o);
    widgets::writeCard(card.document, out);
    std::cout << "dataset card of " << card.manifestFile.string() << " -> " << out.string() << "\n";
    return kOk;
}

int auditCard(const Args& args) {
    if (args.words.size() != 2) throw UsageError("card audit takes no positional arguments");
    const auto baseline = args.value("baseline");
    const auto newer = args.value("new");
    if (!baseline || !newer) throw UsageError("card audit needs --baseline FILE and --new FILE");
    const fs::path out = outPath(args);
    for (const auto& input : {*baseline, *newer})
        if (util::samePath(out, input)) throw UsageError("--out " + out.string() + " is the input table " + input);
    audit::AuditOptions options;
    options.idColumn = args.value("id").value_or("");
    if (auto v = args.number("max-mae")) options.thresholds.maxMae = *v;
    if (auto v = args.number("min-corr")) options.thresholds.minCorr = *v;
    options.allow.missingIds = args.has("allow-missing-ids");
    options.allow.missingColumns = args.has("allow-missing-columns");
    options.allow.missingValues = args.has("allow-missing-values");
    if (auto cats = args.value("categories")) options.categories = audit::loadCategories(*cats);
    const auto result = audit::runAudit(*baseline, *newer, options);
    report::AuditCardOptions o;
    o.includeIds = args.has("include-ids");
    widgets::writeCard(report::auditCard(result, o), out);
    std::cout << "audit " << result.report.verdict() << " -> " << out.string() << "\n";
    return kOk;
}

}  // namespace

bool commandNeedsGui(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--plugin-dir") {
            ++i;
            continue;
        }
        if (a.rfind("-", 0) == 0) continue;
        return a == "card";
    }
    return false;
}

std::unique_ptr<QCoreApplication> makeGuiApplication(int& argc, char** argv) {
    // Cards draw text and plots: a QGuiApplication, offscreen unless the user chose a platform.
    if (!std::getenv("QT_QPA_PLATFORM")) setenv("QT_QPA_PLATFORM", "offscreen", 1);
    return std::make_unique<QGuiApplication>(argc, argv);
}

Command cardCommand() {
    Command c;
    c.name = "card";
    c.summary = "card model RUN | dataset MANIFEST | audit …: model/dataset cards, audit PDF";
    c.usage = kCardUsage;
    c.valueOptions = {"workspace", "out",      "bootstrap", "seed", "preds",      "manifest", "labels",
                      "threads",   "baseline", "new",       "id",   "categories", "max-mae",  "min-corr"};
    c.flags = {"include-ids", "pixel-stats", "allow-missing-ids", "allow-missing-columns", "allow-missing-values"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() < 2) throw UsageError("card needs a kind: model, dataset or audit");
        const std::string kind = args.words[1];
        if (kind == "model") return modelCard(args);
        if (kind == "dataset") return datasetCard(args);
        if (kind == "audit") return auditCard(args);
        throw UsageError("card: unknown kind \"" + kind + "\" (model, dataset or audit)");
    };
    return c;
}

}  // namespace lumen::cli
