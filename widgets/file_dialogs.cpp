#include "file_dialogs.h"

#include <QApplication>
#include <QFileDialog>
#include <QDir>
#include <QFileInfo>
#include <QStyle>

namespace lumen::widgets {

QIcon NameOnlyIconProvider::icon(IconType type) const {
    QStyle* style = QApplication::style();
    switch (type) {
    case Computer: return style->standardIcon(QStyle::SP_ComputerIcon);
    case Desktop: return style->standardIcon(QStyle::SP_DesktopIcon);
    case Trashcan: return style->standardIcon(QStyle::SP_TrashIcon);
    case Network: return style->standardIcon(QStyle::SP_DriveNetIcon);
    case Drive: return style->standardIcon(QStyle::SP_DriveHDIcon);
    case Folder: return style->standardIcon(QStyle::SP_DirIcon);
    case File: break;
    }
    return style->standardIcon(QStyle::SP_FileIcon);
}

QIcon NameOnlyIconProvider::icon(const QFileInfo& info) const {
    if (info.isRoot()) return icon(Drive);
    if (info.isDir()) return icon(Folder);
    return icon(File);
}

QString NameOnlyIconProvider::type(const QFileInfo& info) const {
    if (info.isRoot()) return QApplication::translate("NameOnlyIconProvider", "Drive");
    if (info.isDir()) return QApplication::translate("NameOnlyIconProvider", "Folder");
    const QString suffix = info.suffix();
    if (suffix.isEmpty()) return QApplication::translate("NameOnlyIconProvider", "File");
    return QApplication::translate("NameOnlyIconProvider", "%1 file").arg(suffix.toUpper());
}

NameOnlyIconProvider* nameOnlyIconProvider() {
    static NameOnlyIconProvider provider;
    return &provider;
}

namespace {
QString& startFolder() {
    static QString folder;
    return folder;
}

QString runDialog(QWidget* parent, const QString& caption, const QString& dir, const QString& filter,
                  QFileDialog::AcceptMode mode, QFileDialog::FileMode fileMode) {
    QFileDialog dialog(parent, caption, dialogDirectory(dir), filter);
    dialog.setObjectName("fileDialog");
    dialog.setOption(QFileDialog::DontUseNativeDialog);  // native dialogs sniff file contents
    dialog.setIconProvider(nameOnlyIconProvider());
    dialog.setAcceptMode(mode);
    dialog.setFileMode(fileMode);
    if (fileMode == QFileDialog::Directory) dialog.setOption(QFileDialog::ShowDirsOnly);
    if (dialog.exec() != QDialog::Accepted || dialog.selectedFiles().isEmpty()) return {};
    return dialog.selectedFiles().first();
}
}  // namespace

void setDialogStartFolder(const QString& folder) { startFolder() = folder; }

QString dialogStartFolder() { return startFolder(); }

QString dialogDirectory(const QString& dir) {
    if (startFolder().isEmpty() || QFileInfo(dir).isAbsolute()) return dir;
    if (dir.isEmpty()) return startFolder();
    return QDir(startFolder()).filePath(dir);  // a suggested file name: in the start folder
}

QString openFileDialog(QWidget* parent, const QString& caption, const QString& dir, const QString& filter) {
    return runDialog(parent, caption, dir, filter, QFileDialog::AcceptOpen, QFileDialog::ExistingFile);
}

QString saveFileDialog(QWidget* parent, const QString& caption, const QString& dir, const QString& filter) {
    return runDialog(parent, caption, dir, filter, QFileDialog::AcceptSave, QFileDialog::AnyFile);
}

QString folderDialog(QWidget* parent, const QString& caption, const QString& dir) {
    return runDialog(parent, caption, dir, {}, QFileDialog::AcceptOpen, QFileDialog::Directory);
}

}  // namespace lumen::widgets
