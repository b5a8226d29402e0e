#include "card_export.h"

#include "card_render.h"
#include "file_dialogs.h"

#include <QApplication>
#include <QFileInfo>
#include <QMessageBox>

namespace lumen::widgets {

QString exportCard(const std::function<report::CardDocument()>& build, const QString& file) {
    try {
        writeCard(build(), file.toStdString());
        return {};
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
}

QString exportCardInteractively(QWidget* parent, const QString& caption, const QString& suggestedName,
                                const std::function<report::CardDocument()>& build, bool pdfOnly) {
    const QString filter =
        pdfOnly ? QObject::tr("PDF (*.pdf)") : QObject::tr("PDF (*.pdf);;HTML (*.html);;Markdown (*.md)");
    QString file = saveFileDialog(parent, caption, suggestedName, filter);
    if (file.isEmpty()) return {};
    if (QFileInfo(file).suffix().isEmpty()) file += ".pdf";
    QApplication::setOverrideCursor(Qt::WaitCursor);
    const QString error = exportCard(build, file);
    QApplication::restoreOverrideCursor();
    if (!error.isEmpty()) {
        QMessageBox::warning(parent, caption, QObject::tr("Could not export %1:\n%2").arg(file, error));
        return {};
    }
    return file;
}

}  // namespace lumen::widgets
