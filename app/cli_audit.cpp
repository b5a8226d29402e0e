// lumen-cli audit: baseline vs new predictions, PASS/FAIL, reports, run-store history.
#include "cli_command.h"
#include "cli_progress.h"

#include "audit/audit.h"
#include "runs/run_store.h"
#include "util/atomic_file.h"

#include <cstdio>
#include <iostream>

namespace lumen::cli {
namespace {

void printHistory(const runs::RunStore& store) {
    const auto rows = audit::auditHistory(store);
    std::printf("| Stage | Overall MAE | Correlation | Values | Status | Date |\n");
    std::printf("|-------|-------------|-------------|--------|--------|------|\n");
    for (const auto& h : rows) {
        char date[32];
        const std::time_t t = std::time_t(h.createdAtMs / 1000);
        std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&t));
        std::printf("| %s | %.6f | %s | %llu | %s | %s |\n", h.stage.c_str(), h.mae,
                    h.corr ? std::to_string(*h.corr).c_str() : "n/a", static_cast<unsigned long long>(h.n),
                    h.pass ? (h.partial ? "PASS (partial)" : "PASS") : "FAIL", date);
    }
    if (rows.empty()) std::printf("(no audit recorded in this workspace yet)\n");
}

}  // namespace

Command auditCommand() {
    Command c;
    c.name = "audit";
    c.summary = "audit --baseline B.csv --new N.csv: does a new version reproduce a baseline?";
    c.usage = R"(Usage: lumen-cli audit --baseline B.csv --new N.csv [--id COLUMN] [--categories C.yaml]
                       [--max-mae 0.1] [--min-corr 0.999] [--json OUT.json] [--markdown OUT.md]
                       [--allow-missing-ids] [--allow-missing-columns] [--allow-missing-values]
                       [--workspace DIR [--stage TEXT]] [--quiet]
       lumen-cli audit --history --workspace DIR

Joins the two predictions tables on the id column (default: the baseline header's first
column, found by name in the new table) and compares every shared numeric column: n, MAE,
Pearson r, max |diff| (and where), pooled per category (columns whose name matches a
category's regex) and overall. A category passes when MAE < --max-mae and r >= --min-corr.
The audit FAILs when a category fails, and also when an id, a numeric column or a value is
in one table only, or a cell of a numeric column is not a number (each named in the report).
The summary table goes to stdout.
  --categories C.yaml   `categories: [{name: NAME, pattern: REGEX, max_mae: X, min_corr: R}, ...]`
                        (thresholds optional, per category); without it each column is its
                        own category
  --allow-missing-ids, --allow-missing-columns, --allow-missing-values
                        a partial audit: these gaps are reported but do not fail it; the
                        verdict is then PASS (partial).
  --json, --markdown    write the report (atomically); a path that is an input is refused
  --workspace DIR       record the audit in DIR's run store (with --stage as its name)
  --history             print the audits recorded in --workspace, oldest first
The input tables are only read, never written.
Exit codes: 0 PASS (or PASS (partial)), 1 FAIL, 2 error.
)";
    c.valueOptions = {"baseline", "new",  "id",       "categories", "max-mae",
                      "min-corr", "json", "markdown", "workspace",  "stage"};
    c.flags = {"history", "quiet", "allow-missing-ids", "allow-missing-columns", "allow-missing-values"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() != 1) throw UsageError("audit takes no positional arguments");
        if (args.has("history")) {
            const auto ws = args.value("workspace");
            if (!ws) throw UsageError("--history needs --workspace DIR");
            if (!runs::Workspace::isWorkspace(*ws)) {
                std::cerr << "lumen-cli: " << *ws << ": not a Lumen workspace (no lumen.db)\n";
                return kError;
            }
            runs::RunStore store(runs::Workspace{*ws}.database());
            printHistory(store);
            return kOk;
        }
        const auto baseline = args.value("baseline");
        const auto newer = args.value("new");
        if (!baseline || !newer) throw UsageError("audit needs --baseline FILE and --new FILE");
        audit::AuditOptions options;
        options.idColumn = args.value("id").value_or("");
        if (auto v = args.number("max-mae")) options.thresholds.maxMae = *v;
        if (auto v = args.number("min-corr")) options.thresholds.minCorr = *v;
        options.allow.missingIds = args.has("allow-missing-ids");
        options.allow.missingColumns = args.has("allow-missing-columns");
        options.allow.missingValues = args.has("allow-missing-values");
        if (auto cats = args.value("categories")) options.categories = audit::loadCategories(*cats);
        const std::string json = args.value("json").value_or("");
        const std::string markdown = args.value("markdown").value_or("");
        // Refuse before any work: an output path that is one of the inputs.
        for (const auto& out : {json, markdown})
            for (const auto& input : {*baseline, *newer})
                if (!out.empty() && util::samePath(out, input)) {
                    std::cerr << "lumen-cli: refusing to write the report to " << out << ": it is the input table "
                              << input << "\n";
                    return kError;
                }
        audit::AuditReport report;
        std::string failure;
        const auto info = runWithProgress("audit", "audit", [&](jobs::JobContext& job) {
            report = audit::runAudit(*baseline, *newer, options, &job).report;
            return report.verdict();
        });
        if (info.state != jobs::JobState::Finished) {
            std::cerr << "lumen-cli: audit " << jobs::jobStateName(info.state) << ": " << info.outcome << "\n";
            return kError;
        }
        audit::writeReport(report, json, markdown);
        if (auto ws = args.value("workspace")) {
            const auto workspace = runs::Workspace::open(*ws);
            runs::RunStore store(workspace.database());
            std::vector<std::string> files;
            for (const auto& f : {json, markdown})
                if (!f.empty()) files.push_back(std::filesystem::absolute(f).string());
            const auto run = audit::recordAudit(store, report, args.value("stage").value_or("audit"), files);
            std::cerr << "recorded as run " << run << " in " << workspace.database().string() << "\n";
        }
        if (!args.has("quiet")) std::cout << report.toMarkdown();
        return report.pass() ? kOk : kCheckFailed;
    };
    return c;
}

}  // namespace lumen::cli
