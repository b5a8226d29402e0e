// The dataset card of a manifest (docs/cards.md).
#include "report/dataset_card.h"

#include "util/sha256.h"

namespace lumen::report {
namespace {

namespace fs = std::filesystem;

std::string percent(std::size_t part, std::size_t whole) {
    return whole ? formatNumber(100.0 * double(part) / double(whole), 1) + " %" : "n/a";
}

std::string splitName(const std::string& s) { return s.empty() ? "(none)" : s; }

void summarySection(CardDocument& doc, const DatasetCard& card) {
    auto& s = doc.add("Summary");
    s.table({{"item", "value"},
             {{"manifest", card.manifestFile.filename().string()},
              {"manifest SHA-256", card.sha256},
              {"rows (images or studies)", std::to_string(card.rows)},
              {"patients", std::to_string(card.splits.patients)},
              {"rows without a patient id (each counted as its own patient)",
               std::to_string(card.splits.rowsWithoutPatient)},
              {"labels in the vocabulary", std::to_string(card.labels)},
              {"files missing on disk", std::to_string(card.missingFiles)}}});
}

void userSections(CardDocument& doc) {
    doc.add("Source and collection")
        .placeholder(
            "Describe where the images come from (sites, devices, period), how they were selected, how "
            "the labels were obtained (reports, NLP, expert reading) and their expected error.");
    doc.add("Intended use")
        .placeholder("Describe what the data set may be used for, and what it must not be used for.");
    doc.add("Known biases and limitations")
        .placeholder(
            "Describe populations or findings that are under-represented, label noise, and any "
            "de-identification or consent restrictions.");
}

void splitSection(CardDocument& doc, const DatasetCard& card, const DatasetCardOptions& options) {
    auto& s = doc.add("Splits");
    Table t{{"split", "images", "patients", "images %", "patients %"}, {}};
    for (const auto& c : card.splits.splits)
        t.rows.push_back({splitName(c.name), std::to_string(c.images), std::to_string(c.patients),
                          formatNumber(100 * c.imageFraction, 1), formatNumber(100 * c.patientFraction, 1)});
    s.table(std::move(t));
    s.paragraph(std::string("**Patient-level split proof** (computed from the manifest's rows): ") +
                (card.splits.disjoint() ? "no patient and no image is in two splits."
                                        : "SPLITS OVERLAP: a patient or an image is in two splits."));
    if (card.splits.overlaps.empty()) return;
    Table proof{{"splits", "patients in both", "images in both"}, {}};
    for (const auto& o : card.splits.overlaps) {
        std::string shared = std::to_string(o.patients);
        if (options.includeIds && !o.firstPatients.empty()) {
            shared += " (";
            for (std::size_t i = 0; i < o.firstPatients.size(); ++i) shared += (i ? ", " : "") + o.firstPatients[i];
            shared += ")";
        }
        proof.rows.push_back({splitName(o.a) + " / " + splitName(o.b), shared, std::to_string(o.images)});
    }
    s.table(std::move(proof));
}

void balanceSection(CardDocument& doc, const DatasetCard& card) {
    const auto& b = card.balance;
    auto& s = doc.add("Label balance");
    Table t{{"label"}, {}};
    for (const auto& sp : b.splits) t.header.push_back(splitName(sp) + " positives");
    t.header.push_back("all positives");
    Plot plot{Plot::Kind::Bars,
              "Positives per label (all splits)",
              "label number (order of the table)",
              "positive rows",
              {{"positives", {}, {}}},
              false,
              false};
    for (std::size_t l = 0; l < b.labels.size(); ++l) {
        std::vector<std::string> row{b.labels[l]};
        std::size_t total = 0;
        for (std::size_t sp = 0; sp < b.splits.size(); ++sp) {
            row.push_back(std::to_string(b.positives[sp][l]) + " (" + percent(b.positives[sp][l], b.images[sp]) + ")");
            total += b.positives[sp][l];
        }
        row.push_back(std::to_string(total) + " (" + percent(total, card.rows) + ")");
        t.rows.push_back(std::move(row));
        plot.series[0].x.push_back(double(l + 1));
        plot.series[0].y.push_back(double(total));
    }
    std::vector<std::string> unlabelled{"(no label)"};
    std::size_t none = 0;
    for (std::size_t sp = 0; sp < b.splits.size(); ++sp) {
        unlabelled.push_back(std::to_string(b.unlabelled[sp]) + " (" + percent(b.unlabelled[sp], b.images[sp]) + ")");
        none += b.unlabelled[sp];
    }
    unlabelled.push_back(std::to_string(none) + " (" + percent(none, card.rows) + ")");
    t.rows.push_back(std::move(unlabelled));
    s.paragraph("Positive rows per label and split (percent of the split's rows); a row may have several labels.");
    s.table(std::move(t));
    if (!b.labels.empty()) s.plot(std::move(plot));
}

void pixelSection(CardDocument& doc, const DatasetCard& card) {
    auto& s = doc.add("Pixel statistics");
    if (!card.pixels) {
        s.paragraph("Not computed (`lumen-cli card dataset … --pixel-stats` reads every image for them).");
        return;
    }
    const auto& p = *card.pixels;
    s.paragraph(std::to_string(p.images) + " images, " + std::to_string(p.channels) + " channel(s), stored as " +
                p.storedType + ", " + std::to_string(p.pixelsPerChannel) + " pixels per channel in all (mean " +
                formatNumber(p.images ? double(p.pixelsPerChannel) / double(p.images) : 0.0, 1) + " per image); " +
                (p.exact ? "exact integer sums." : "floating-point sums."));
    Table t{{"channel", "mean", "std", "min", "max", "mean (0-1 scale)", "std (0-1 scale)"}, {}};
    for (std::size_t c = 0; c < p.mean.size(); ++c)
        t.rows.push_back({std::to_string(c), formatNumber(p.mean[c]), formatNumber(p.stdev[c]), formatNumber(p.min[c]),
                          formatNumber(p.max[c]), c < p.unitMean.size() ? formatNumber(p.unitMean[c]) : "n/a",
                          c < p.unitStdev.size() ? formatNumber(p.unitStdev[c]) : "n/a"});
    s.table(std::move(t));
}

}  // namespace

DatasetCard buildDatasetCard(const fs::path& manifest, const DatasetCardOptions& options) {
    return datasetCardOf(data::loadManifestOrFolder(manifest), manifest, options);
}

DatasetCard datasetCardOf(const data::Manifest& m, const fs::path& source, const DatasetCardOptions& options,
                          const data::PixelStats* pixels) {
    DatasetCard card;
    card.manifestFile = m.file.empty() ? source : m.file;
    card.sha256 = fs::is_regular_file(card.manifestFile) ? util::sha256File(card.manifestFile)
                                                         : util::sha256Hex(data::manifestCsv(m));
    card.rows = m.rows.size();
    card.labels = m.labelNames.size();
    card.missingFiles = m.missingFiles().size();
    card.splits = data::splitReport(m);
    card.balance = data::labelBalance(m);
    if (pixels) {
        card.pixels = *pixels;
    } else if (options.pixelStats) {
        data::PixelStatsOptions o;
        o.threads = options.threads;
        card.pixels = data::computePixelStats(m, o);
    }
    auto& doc = card.document;
    doc.title = "Dataset card: " + card.manifestFile.filename().string();
    doc.subtitle = "Generated by Lumen from the manifest; every count is computed from its rows. Sections marked " +
                   std::string(kPlaceholderMarker) + " are for the data set's curators to write.";
    summarySection(doc, card);
    userSections(doc);
    splitSection(doc, card, options);
    balanceSection(doc, card);
    pixelSection(doc, card);
    doc.add("De-identification")
        .paragraph(options.includeIds ? "This card was exported with patient ids included (`--include-ids`)."
                                      : "This card holds no patient or image id and no image: counts only.");
    return card;
}

}  // namespace lumen::report
