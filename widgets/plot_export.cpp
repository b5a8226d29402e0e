#include "plot_export.h"

#include "util/atomic_file.h"

#include <qcustomplot.h>

#include "file_dialogs.h"
#include <QFileInfo>
#include <QMessageBox>
#include <QSvgGenerator>

#include <stdexcept>

namespace lumen::widgets {

namespace {

/// Draws `plot` into `file` in the format `suffix` names; false when that fails.
bool drawPlot(QCustomPlot* plot, const QString& file, const QString& suffix, int w, int h) {
    if (suffix == "png") return plot->savePng(file, w, h, 2.0);
    if (suffix == "pdf") return plot->savePdf(file, w, h);
    QSvgGenerator svg;
    svg.setFileName(file);
    svg.setSize(QSize(w, h));
    svg.setViewBox(QRect(0, 0, w, h));
    svg.setTitle(plot->objectName());
    QCPPainter painter;
    if (!painter.begin(&svg)) return false;
    plot->toPainter(&painter, w, h);
    return painter.end();
}

}  // namespace

bool exportPlot(QCustomPlot* plot, const QString& file, QString* error, int width, int height) {
    const QString suffix = QFileInfo(file).suffix().toLower();
    if (suffix != "png" && suffix != "pdf" && suffix != "svg") {
        if (error) *error = QObject::tr("%1: unknown plot format \"%2\" (use .png, .svg or .pdf)").arg(file, suffix);
        return false;
    }
    const int w = width > 0 ? width : plot->width();
    const int h = height > 0 ? height : plot->height();
    try {
        // Drawn into a temporary file beside the target (same suffix), then synced and renamed.
        util::writeFileAtomically(file.toStdString(), [&](const std::filesystem::path& tmp) {
            const QString t = QString::fromStdString(tmp.string());
            if (!drawPlot(plot, t, suffix, w, h) || QFileInfo(t).size() <= 0)
                throw std::runtime_error(QObject::tr("%1: cannot write the plot").arg(file).toStdString());
        });
    } catch (const std::exception& e) {
        if (error) *error = QString::fromUtf8(e.what());
        return false;
    }
    return true;
}

void exportPlotInteractively(QCustomPlot* plot, QWidget* parent, const QString& suggestedName) {
    const QString file = saveFileDialog(parent, QObject::tr("Export plot"), suggestedName,
                                        QObject::tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"));
    if (file.isEmpty()) return;
    QString error;
    if (!exportPlot(plot, file, &error)) QMessageBox::warning(parent, QObject::tr("Export plot"), error);
}

}  // namespace lumen::widgets
