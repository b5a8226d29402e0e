#pragma once
// Cards (core/report) as files: Markdown, HTML with the plots drawn by QPainter and embedded as
// PNG data URIs, and PDF (QTextDocument printed by QPdfWriter, A4). Needs Qt Gui only (a
// QGuiApplication; lumen-cli creates one with the offscreen platform), no widgets, so lumen-cli
// links this library (lumen_card_render) without QtWidgets. docs/cards.md.

#include "report/card_document.h"

#include <QByteArray>
#include <QImage>
#include <QSize>

#include <filesystem>
#include <string>

namespace lumen::widgets {

/// The plot drawn on a white image of `size` pixels: axes with ticks, series, legend.
QImage drawPlot(const report::Plot& plot, QSize size = QSize(900, 560));

/// The card as a standalone HTML page with every plot as a PNG data URI.
std::string cardHtml(const report::CardDocument& card);

/// The card as PDF bytes (A4, plots embedded, as many pages as it needs).
QByteArray cardPdf(const report::CardDocument& card);

/// Writes the card to `file` by its extension: .md, .html/.htm or .pdf; atomically
/// (util::writeFileAtomically). Throws std::runtime_error naming the file for another
/// extension or a failed write.
void writeCard(const report::CardDocument& card, const std::filesystem::path& file);

/// True for the extensions writeCard knows (.md, .html, .htm, .pdf; case-insensitive).
bool isCardFormat(const std::filesystem::path& file);

}  // namespace lumen::widgets
