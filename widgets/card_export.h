#pragma once
// The GUI's Export actions for cards (Runs panel: model card; Data panel: dataset card; Audit
// panel: PDF report): a save dialog for .pdf/.html/.md, then the card built and written
// atomically (widgets/card_render.h), with a message box naming the file on failure.

#include "report/card_document.h"

#include <QString>

#include <functional>

class QWidget;

namespace lumen::widgets {

/// Builds the card and writes it to `file`; "" on success, else the error (naming the file).
QString exportCard(const std::function<report::CardDocument()>& build, const QString& file);

/// Asks for a file (PDF first; `pdfOnly` offers only PDF), then exportCard with a wait cursor;
/// a message box on failure. Returns the file written ("" when cancelled or failed).
QString exportCardInteractively(QWidget* parent, const QString& caption, const QString& suggestedName,
                                const std::function<report::CardDocument()>& build, bool pdfOnly = false);

}  // namespace lumen::widgets
