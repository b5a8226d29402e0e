#include "plot_export.h"

#include <qcustomplot.h>

#include "file_dialogs.h"
#include <QFileInfo>
#include <QMessageBox>
#include <QSvgGenerator>

namespace lumen::widgets {

bool exportPlot(QCustomPlot* plot, const QString& file, QString* error, int width, int height) {
    const QString suffix = QFileInfo(file).suffix().toLower();
    const int w = width > 0 ? width : plot->width();
    const int h = height > 0 ? height : plot->height();
    bool ok = false;
    if (suffix == "png") {
        ok = plot->savePng(file, w, h, 2.0);
    } else if (suffix == "pdf") {
        ok = plot->savePdf(file, w, h);
    } else if (suffix == "svg") {
        QSvgGenerator svg;
        svg.setFileName(file);
        svg.setSize(QSize(w, h));
        svg.setViewBox(QRect(0, 0, w, h));
        svg.setTitle(plot->objectName());
        QCPPainter painter;
        if (painter.begin(&svg)) {
            plot->toPainter(&painter, w, h);
            ok = painter.end();
        }
        ok = ok && QFileInfo(file).size() > 0;
    } else {
        if (error) *error = QObject::tr("%1: unknown plot format \"%2\" (use .png, .svg or .pdf)")
                                .arg(file, suffix);
        return false;
    }
    if (!ok && error) *error = QObject::tr("%1: cannot write the plot").arg(file);
    return ok;
}

void exportPlotInteractively(QCustomPlot* plot, QWidget* parent, const QString& suggestedName) {
    const QString file = saveFileDialog(
        parent, QObject::tr("Export plot"), suggestedName,
        QObject::tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"));
    if (file.isEmpty()) return;
    QString error;
    if (!exportPlot(plot, file, &error)) QMessageBox::warning(parent, QObject::tr("Export plot"), error);
}

}  // namespace lumen::widgets
