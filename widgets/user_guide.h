#pragma once
// Help → User guide: the guide's Markdown documents (docs/*.md, installed under
// share/lumen/docs) rendered in the app, a list of their titles beside the page; links
// between documents and their screenshots work. Nothing is fetched from the network.

#include <QDialog>

class QListWidget;
class QTextBrowser;

namespace lumen::widgets {

class UserGuideDialog : public QDialog {
    Q_OBJECT
public:
    /// `folder` holds the guide's .md files; `first` (a file name) is shown first when present.
    explicit UserGuideDialog(const QString& folder, const QString& first = "gui.md", QWidget* parent = nullptr);

    /// The documents listed, as (title from the first "# " line, file name), by file name.
    int documentCount() const;
    /// Shows a document of the folder by file name; false when there is no such file.
    bool openDocument(const QString& fileName);
    /// The file shown now ("" when none) and its rendered text (for tests and search).
    QString currentDocument() const;
    QString currentText() const;

private:
    QString folder_;
    QListWidget* list_;
    QTextBrowser* browser_;
};

}  // namespace lumen::widgets
