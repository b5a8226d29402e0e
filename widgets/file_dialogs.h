#pragma once
// File choosers and file views that never read a file's bytes.
//
// Qt's default icon provider (QFileSystemModel, QFileDialog) and the desktop's native dialogs
// sniff each listed file's content to pick its icon and type. Sniffing the workspace's
// lumen.db opens and closes it, and closing any descriptor of a file drops every POSIX lock
// this process holds on it: a CLI that then closes its own connection believes it is the
// last one and deletes lumen.db-wal and -shm under the GUI's open connection ("database disk
// image is malformed"). Every file view and dialog of the app goes through these instead:
// icons and types come from the name alone, and the dialogs are Qt's own (not native) so the
// provider applies.

#include <QAbstractFileIconProvider>
#include <QString>

class QWidget;

namespace lumen::widgets {

/// Icons and type names from the file name and kind only (folder, file, suffix).
class NameOnlyIconProvider : public QAbstractFileIconProvider {
public:
    QIcon icon(IconType type) const override;
    QIcon icon(const QFileInfo& info) const override;
    QString type(const QFileInfo& info) const override;
};

/// The one provider the app's views share.
NameOnlyIconProvider* nameOnlyIconProvider();

/// Where the dialogs below start when given no folder: the main window sets the open
/// workspace. A relative `dir` (a suggested file name such as "metrics.csv") goes there too.
void setDialogStartFolder(const QString& folder);
QString dialogStartFolder();
/// The folder (or suggested file) a dialog given `dir` starts at.
QString dialogDirectory(const QString& dir);

/// QFileDialog::getOpenFileName / getSaveFileName / getExistingDirectory, with the name-only
/// provider, starting at dialogDirectory(dir). Empty when the user cancels.
QString openFileDialog(QWidget* parent, const QString& caption, const QString& dir = {}, const QString& filter = {});
QString saveFileDialog(QWidget* parent, const QString& caption, const QString& dir = {}, const QString& filter = {});
QString folderDialog(QWidget* parent, const QString& caption, const QString& dir = {});

}  // namespace lumen::widgets
