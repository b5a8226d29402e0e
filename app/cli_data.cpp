// lumen-cli data: dataset tools — NIH ChestX-ray14 import, patient-level splits with the
// overlap proof, label balance and pixel statistics (docs/data.md).
#include "cli_command.h"
#include "cli_progress.h"

#include "data/angio_manifest.h"
#include "data/dataset_stats.h"
#include "data/nih_import.h"
#include "data/splits.h"

#include <cstdio>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

namespace lumen::cli {
namespace {

const char* kUsage = R"(Usage: lumen-cli data import-nih DIR --out OUT [--keep-missing]
       lumen-cli data split MANIFEST --ratios 0.7,0.1,0.2 [--names train,val,test] [--seed N] --out OUT
       lumen-cli data verify MANIFEST|FOLDER
       lumen-cli data stats MANIFEST|FOLDER [--split NAME] [--no-pixels] [--threads N] [--json]

import-nih  NIH ChestX-ray14 folder (Data_Entry_2017.csv, train_val_list.txt, test_list.txt,
            images_*/[images/]*.png) -> OUT/all.csv, train_val.csv, test.csv, nih_import.json.
            "No Finding" becomes "Normal". Images listed but missing are reported and left out
            (--keep-missing keeps them).
split       Patient-level split by ratios of patients (must sum to 1) and seed. Writes OUT/
            manifest.csv, one manifest per split, <split>_ids.txt, <split>_patients.txt and
            split_report.json (patients and images per split, pairwise intersections).
verify      The overlap proof of an existing split (a manifest, or a folder of manifests; an
            angiography manifest's videos and patients).
stats       Label balance per split and the exact per-channel pixel mean/std (streaming, on
            --threads threads; --split restricts the pixels to one split, e.g. train).
            --json prints one JSON document instead of tables. An angiography manifest
            (study_id,patient_id,path,...: one row per video) gets studies and videos per
            split instead of the label table; every frame of a cine counts, as in training.
Exit codes: 0 ok, 1 a split shares patients or images, 2 error. Progress goes to stderr.
)";

std::vector<double> parseRatios(const std::string& text) {
    std::vector<double> out;
    std::stringstream in(text);
    std::string part;
    while (std::getline(in, part, ',')) {
        try {
            std::size_t used = 0;
            out.push_back(std::stod(part, &used));
            if (used != part.size()) throw std::invalid_argument(part);
        } catch (const std::exception&) {
            throw UsageError("--ratios: expected numbers like 0.7,0.1,0.2, got \"" + text + "\"");
        }
    }
    return out;
}

std::vector<std::string> parseNames(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string part;
    while (std::getline(in, part, ',')) out.push_back(part);
    return out;
}

int finish(const jobs::JobInfo& info, const std::string& what) {
    if (info.state == jobs::JobState::Finished) return kOk;
    std::cerr << "lumen-cli: data " << what << " " << jobs::jobStateName(info.state) << ": " << info.outcome << "\n";
    return kError;
}

void printSplitReport(const data::SplitReport& r) {
    std::printf("%-12s %9s %9s %9s %9s\n", "split", "patients", "images", "patients%", "images%");
    for (const auto& s : r.splits)
        std::printf("%-12s %9zu %9zu %8.2f%% %8.2f%%\n", s.name.empty() ? "(none)" : s.name.c_str(), s.patients,
                    s.images, 100 * s.patientFraction, 100 * s.imageFraction);
    std::printf("%-12s %9zu %9zu\n", "total", r.patients, r.images);
    if (r.rowsWithoutPatient)
        std::printf("%zu row(s) without a patient id (each counted as its own patient)\n", r.rowsWithoutPatient);
    std::printf("overlap proof (shared patients / shared image ids):\n");
    for (const auto& o : r.overlaps) {
        std::printf("  %-10s & %-10s %6zu %6zu %s", o.a.c_str(), o.b.c_str(), o.patients, o.images,
                    o.patients == 0 && o.images == 0 ? "ok" : "LEAK");
        for (std::size_t i = 0; i < o.firstPatients.size() && i < 5; ++i)
            std::printf("%s%s", i ? ", " : " e.g. ", o.firstPatients[i].c_str());
        std::printf("\n");
    }
    std::printf("%s\n", r.disjoint() ? "splits are disjoint" : "SPLITS OVERLAP");
}

int importNih(const Args& args) {
    if (args.words.size() != 3) throw UsageError("data import-nih takes one folder: data import-nih DIR --out OUT");
    const auto out = args.value("out");
    if (!out) throw UsageError("data import-nih needs --out OUT");
    data::NihImportOptions options;
    options.keepMissing = args.has("keep-missing");
    data::NihImportReport report;
    const auto info = runWithProgress("data", "NIH import", [&](jobs::JobContext& job) {
        report = data::importNih(args.words[2], *out, options, &job);
        if (!report.missingImages.empty())
            job.warning(std::to_string(report.missingImages.size()) +
                        " image(s) listed in Data_Entry_2017.csv but not found" +
                        (options.keepMissing ? " (kept)" : " (left out)") + ": see " +
                        (report.outDir / "missing_images.txt").string());
        if (!report.listedWithoutEntry.empty())
            job.warning(std::to_string(report.listedWithoutEntry.size()) + " name(s) in the split lists have no entry");
        if (!report.notInAnyList.empty())
            job.warning(std::to_string(report.notInAnyList.size()) +
                        " entr(ies) in neither split list (split left empty)");
        if (!report.unknownLabels.empty())
            job.warning(std::to_string(report.unknownLabels.size()) + " unknown finding(s) added to the vocabulary");
        return std::string("ok");
    });
    if (const int code = finish(info, "import-nih")) return code;
    std::printf("%zu entries, %zu patients, %zu image files found, %zu missing\n", report.entries, report.patients,
                report.imageFiles, report.missingImages.size());
    std::printf("wrote %s (%zu rows), %s (%zu), %s (%zu)\n", report.allManifest.string().c_str(), report.allRows,
                report.trainValManifest.string().c_str(), report.trainValRows, report.testManifest.string().c_str(),
                report.testRows);
    for (const auto& l : report.labelNames)
        std::printf("  %-20s %8zu\n", l.c_str(), report.labelCounts.count(l) ? report.labelCounts.at(l) : 0);
    return kOk;
}

int split(const Args& args) {
    if (args.words.size() != 3) throw UsageError("data split takes one manifest");
    const auto out = args.value("out");
    if (!out) throw UsageError("data split needs --out OUT");
    data::SplitOptions options;
    if (auto r = args.value("ratios")) options.ratios = parseRatios(*r);
    if (auto n = args.value("names")) options.names = parseNames(*n);
    if (auto s = args.integer("seed")) options.seed = std::uint64_t(*s);
    data::SplitReport report;
    const auto info = runWithProgress("data", "split", [&](jobs::JobContext& job) {
        job.progress(0.1, "reading " + args.words[2]);
        const data::Manifest m = data::readManifest(args.words[2]);
        job.progress(0.4, "splitting by patient");
        const data::Manifest s = data::splitByPatient(m, options, &report);
        job.progress(0.6, "writing " + *out);
        data::writeSplitFolder(s, *out, report);
        return std::string("ok");
    });
    if (info.state == jobs::JobState::Failed && info.outcome.find("split:") == 0) throw UsageError(info.outcome);
    if (const int code = finish(info, "split")) return code;
    printSplitReport(report);
    std::printf("written to %s (report: split_report.json)\n", out->c_str());
    return report.disjoint() ? kOk : kCheckFailed;
}

int verify(const Args& args) {
    if (args.words.size() != 3) throw UsageError("data verify takes one manifest or folder");
    data::SplitReport report;
    const auto info = runWithProgress("data", "verify", [&](jobs::JobContext&) {
        // An angiography manifest is proved over its videos (images) and patients.
        report = data::splitReport(data::loadManifestOrVideos(args.words[2]));
        return std::string("ok");
    });
    if (const int code = finish(info, "verify")) return code;
    printSplitReport(report);
    return report.disjoint() ? kOk : kCheckFailed;
}

void printLabelBalance(const data::LabelBalance& balance) {
    std::printf("%-20s", "label");
    for (std::size_t s = 0; s < balance.splits.size(); ++s)
        std::printf(" %12s", balance.splits[s].empty() ? "(none)" : balance.splits[s].c_str());
    std::printf("\n%-20s", "images");
    for (auto n : balance.images) std::printf(" %12zu", n);
    std::printf("\n");
    for (std::size_t l = 0; l < balance.labels.size(); ++l) {
        std::printf("%-20.20s", balance.labels[l].c_str());
        for (std::size_t s = 0; s < balance.splits.size(); ++s) {
            const double pct =
                balance.images[s] ? 100.0 * double(balance.positives[s][l]) / double(balance.images[s]) : 0;
            std::printf(" %6zu %4.1f%%", balance.positives[s][l], pct);
        }
        std::printf("\n");
    }
}

/// Studies and videos per split of an angiography manifest's video rows (videosAsManifest).
nlohmann::json angioCounts(const data::Manifest& videos, std::size_t labelledCells) {
    nlohmann::json j = {
        {"splits", videos.splitNames()}, {"studies", nlohmann::json::object()}, {"videos", nlohmann::json::object()}};
    for (const auto& split : videos.splitNames()) {
        std::set<std::string> studies;
        std::size_t n = 0;
        for (const auto& r : videos.rows)
            if (r.split == split) studies.insert(r.id), ++n;
        j["studies"][split] = studies.size();
        j["videos"][split] = n;
    }
    j["labelled_cells"] = labelledCells;
    return j;
}

void printAngioCounts(const nlohmann::json& counts) {
    std::printf("angiography manifest (one row per video, grouped by study_id)\n%-12s %8s %8s\n", "split", "studies",
                "videos");
    for (const auto& split : counts["splits"].get<std::vector<std::string>>())
        std::printf("%-12s %8zu %8zu\n", split.empty() ? "(none)" : split.c_str(),
                    counts["studies"][split].get<std::size_t>(), counts["videos"][split].get<std::size_t>());
    std::printf("labelled cells: %zu\n", counts["labelled_cells"].get<std::size_t>());
}

void printPixelStats(const data::PixelStats& px, const std::optional<std::string>& splitName) {
    std::printf("pixels%s: %zu images (%llu frames), %s, %llu pixels per channel, %s, %s\n",
                splitName ? (" of " + *splitName).c_str() : "", px.images, static_cast<unsigned long long>(px.frames),
                px.grey ? "grey (a colour pixel counts as the mean of its samples, as the model sees it)"
                        : (std::to_string(px.channels) + " channel(s)").c_str(),
                static_cast<unsigned long long>(px.pixelsPerChannel), px.storedType.c_str(),
                px.exact ? "exact integer sums" : "floating-point sums");
    for (int c = 0; c < px.channels; ++c) {
        const std::string name = px.grey ? "grey" : "channel " + std::to_string(c);  // as the Data page
        std::printf("  %s: mean %.9g std %.9g min %g max %g", name.c_str(), px.mean[std::size_t(c)],
                    px.stdev[std::size_t(c)], px.min[std::size_t(c)], px.max[std::size_t(c)]);
        if (!px.unitMean.empty())
            std::printf("  in [0,1]: mean %.9g std %.9g", px.unitMean[std::size_t(c)], px.unitStdev[std::size_t(c)]);
        std::printf("\n");
    }
    std::printf("  %.2f s on %u thread(s), %.0f images/s\n", px.seconds, px.threads,
                px.seconds > 0 ? double(px.images) / px.seconds : 0.0);
}

int stats(const Args& args) {
    if (args.words.size() != 3) throw UsageError("data stats takes one manifest or folder");
    const bool pixels = !args.has("no-pixels");
    data::PixelStatsOptions options;
    if (auto t = args.integer("threads")) {
        if (*t < 1 || *t > 256) throw UsageError("--threads: expected 1 to 256");
        options.threads = unsigned(*t);
    }
    const auto splitName = args.value("split");
    // An angiography manifest (study_id, one row per video) counts studies and videos per split,
    // and its pixel statistics run over every frame of the videos (docs/angio.md).
    data::AngioManifest angio;
    data::Manifest manifest;
    data::LabelBalance balance;
    nlohmann::json counts;
    data::PixelStats px;
    const auto info = runWithProgress("data", "statistics", [&](jobs::JobContext& job) {
        manifest = data::loadManifestOrVideos(args.words[2], &angio);
        if (!angio.studies.empty()) counts = angioCounts(manifest, angio.labelledCount());
        else balance = data::labelBalance(manifest);
        if (pixels) {
            data::Manifest part = manifest;
            if (splitName) {
                part = manifest.filterSplit(*splitName);
                if (part.rows.empty()) throw std::runtime_error("no rows in split \"" + *splitName + "\"");
            }
            options.grey = !angio.studies.empty();  // as the angio_multiview trainer sees the frames
            px = data::computePixelStats(part, options, &job);
        }
        return std::string("ok");
    });
    if (const int code = finish(info, "stats")) return code;
    if (args.has("json")) {
        nlohmann::json j;
        j["manifest"] = args.words[2];
        j["rows"] = manifest.rows.size();
        if (!angio.studies.empty()) j["angio"] = counts;
        else j["label_balance"] = data::toJson(balance);
        if (pixels) {
            j["pixels"] = data::toJson(px);
            j["pixels"]["split"] = splitName ? nlohmann::json(*splitName) : nlohmann::json(nullptr);
        }
        std::cout << j.dump(2) << "\n";
        return kOk;
    }
    if (!angio.studies.empty()) printAngioCounts(counts);
    else printLabelBalance(balance);
    if (pixels) printPixelStats(px, splitName);
    return kOk;
}

}  // namespace

Command dataCommand() {
    Command c;
    c.name = "data";
    c.summary = "data import-nih|split|verify|stats: manifests, patient splits, statistics";
    c.usage = kUsage;
    c.valueOptions = {"out", "ratios", "names", "seed", "split", "threads"};
    c.flags = {"json", "keep-missing", "no-pixels"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() < 2) throw UsageError("data needs a subcommand: import-nih, split, verify or stats");
        const std::string& sub = args.words[1];
        if (sub == "import-nih") return importNih(args);
        if (sub == "split") return split(args);
        if (sub == "verify") return verify(args);
        if (sub == "stats") return stats(args);
        throw UsageError("data: unknown subcommand \"" + sub + "\" (import-nih, split, verify, stats)");
    };
    return c;
}

}  // namespace lumen::cli
