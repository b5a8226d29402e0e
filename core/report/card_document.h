#pragma once
// A card (model card, dataset card, audit report) as a document: a title and sections of
// paragraphs, placeholders the user fills, bullet lists, tables, code and plots. Built by the
// torch-free card builders (model_card.h, dataset_card.h, audit_card.h) and rendered here to
// Markdown and HTML; the widgets layer draws the plots and renders PDF (widgets/card_render.h).
// Every number in a card is formatted by formatNumber, so tests can look for the engine's values.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace lumen::report {

/// The data of one plot; drawn by widgets/card_render.h (never in Markdown).
struct Plot {
    enum class Kind { Line, Scatter, Bars };
    struct Series {
        std::string name;
        std::vector<double> x, y;  ///< Bars: x = bin centres, y = counts
    };
    Kind kind = Kind::Line;
    std::string title, xLabel, yLabel;
    std::vector<Series> series;
    bool diagonal = false;    ///< draw y = x (reliability diagrams, ROC chance line, scatter of equal values)
    bool unitSquare = false;  ///< both axes fixed to [0, 1]
};

struct Table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
};

struct Block {
    enum class Kind { Paragraph, Placeholder, Bullets, Table, Code, Plot };
    Kind kind = Kind::Paragraph;
    std::string text;                ///< Paragraph, Placeholder, Code
    std::vector<std::string> items;  ///< Bullets
    report::Table table;
    report::Plot plot;
};

struct Section {
    std::string heading;
    std::vector<Block> blocks;

    Section& paragraph(std::string text);
    /// A part the user writes (intended use, limitations): marked "TO BE COMPLETED".
    Section& placeholder(std::string text);
    Section& bullets(std::vector<std::string> items);
    Section& table(Table table);
    Section& code(std::string text);
    Section& plot(Plot plot);
};

struct CardDocument {
    std::string title;
    std::string subtitle;
    std::vector<Section> sections;

    Section& add(std::string heading);
    /// The section with this heading, or null.
    const Section* find(const std::string& heading) const;
    /// Every plot, in document order (the order ImageSource is called in).
    std::vector<const Plot*> plots() const;
};

/// The marker every placeholder carries (tests and users search for it).
inline constexpr const char* kPlaceholderMarker = "TO BE COMPLETED";

/// `v` with `decimals` decimals; "n/a" for NaN; "inf"/"-inf".
std::string formatNumber(double v, int decimals = 4);

std::string toMarkdown(const CardDocument& card);

/// The `src` of plot number `index` (a data: URI, a resource name), or empty to leave it out.
using ImageSource = std::function<std::string(const Plot& plot, std::size_t index)>;
/// A standalone HTML page (inline CSS); plots become <img> with the sources `images` gives.
std::string toHtml(const CardDocument& card, const ImageSource& images = {});

/// Text escaped for HTML.
std::string escapeHtml(const std::string& text);

}  // namespace lumen::report
