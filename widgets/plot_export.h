#pragma once
// Export of a QCustomPlot to PNG, SVG or PDF (by file extension), shared by every plot panel.

#include <QString>

class QCustomPlot;
class QWidget;

namespace lumen::widgets {

/// Writes `plot` to `file`; the format follows the extension (.png, .svg, .pdf). Returns
/// false with `error` set (naming the file) on an unknown extension or a write failure.
bool exportPlot(QCustomPlot* plot, const QString& file, QString* error = nullptr, int width = 0, int height = 0);

/// Asks for a file name (PNG/SVG/PDF filter) and exports; shows a message box on failure.
void exportPlotInteractively(QCustomPlot* plot, QWidget* parent, const QString& suggestedName);

}  // namespace lumen::widgets
