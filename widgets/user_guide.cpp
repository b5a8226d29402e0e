#include "user_guide.h"

#include <QDialogButtonBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QListWidget>
#include <QSplitter>
#include <QTextBrowser>
#include <QUrl>
#include <QVBoxLayout>

namespace lumen::widgets {
namespace {

// The first "# Title" line of a Markdown file, else its name.
QString titleOf(const QString& file) {
    QFile f(file);
    if (f.open(QIODevice::ReadOnly))
        for (int i = 0; i < 20 && !f.atEnd(); ++i) {
            const QString line = QString::fromUtf8(f.readLine()).trimmed();
            if (line.startsWith("# ")) return line.mid(2).remove('`');
        }
    return QFileInfo(file).completeBaseName();
}

}  // namespace

UserGuideDialog::UserGuideDialog(const QString& folder, const QString& first, QWidget* parent)
    : QDialog(parent), folder_(folder), list_(new QListWidget), browser_(new QTextBrowser) {
    setObjectName("userGuide");
    setWindowTitle(tr("Lumen user guide"));
    resize(1100, 700);
    list_->setObjectName("userGuideContents");
    browser_->setObjectName("userGuidePage");
    browser_->setOpenExternalLinks(true);  // http(s) links go to the desktop's browser
    for (const QFileInfo& info : QDir(folder).entryInfoList({"*.md"}, QDir::Files, QDir::Name)) {
        auto* item = new QListWidgetItem(titleOf(info.absoluteFilePath()), list_);
        item->setData(Qt::UserRole, info.fileName());
        item->setToolTip(info.fileName());
    }
    auto* split = new QSplitter;
    split->addWidget(list_);
    split->addWidget(browser_);
    split->setStretchFactor(1, 3);
    split->setSizes({260, 840});
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split, 1);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(list_, &QListWidget::currentItemChanged, this, [this](QListWidgetItem* item) {
        if (item) openDocument(item->data(Qt::UserRole).toString());
    });
    // A link to another document of the guide selects it in the list too.
    connect(browser_, &QTextBrowser::sourceChanged, this, [this](const QUrl& url) {
        const QString name = QFileInfo(url.toLocalFile()).fileName();
        for (int i = 0; i < list_->count(); ++i)
            if (list_->item(i)->data(Qt::UserRole).toString() == name && list_->currentRow() != i) {
                const QSignalBlocker block(list_);
                list_->setCurrentRow(i);
            }
    });
    if (list_->count() == 0)
        browser_->setPlainText(tr("The user guide is not installed: no .md files in %1").arg(folder));
    else if (!openDocument(first)) list_->setCurrentRow(0);
}

int UserGuideDialog::documentCount() const { return list_->count(); }

bool UserGuideDialog::openDocument(const QString& fileName) {
    const QString file = QDir(folder_).filePath(fileName);
    if (!QFileInfo(file).isFile()) return false;
    if (currentDocument() != fileName) browser_->setSource(QUrl::fromLocalFile(file), QTextDocument::MarkdownResource);
    for (int i = 0; i < list_->count(); ++i)
        if (list_->item(i)->data(Qt::UserRole).toString() == fileName && list_->currentRow() != i) {
            const QSignalBlocker block(list_);
            list_->setCurrentRow(i);
        }
    return true;
}

QString UserGuideDialog::currentDocument() const { return QFileInfo(browser_->source().toLocalFile()).fileName(); }

QString UserGuideDialog::currentText() const { return browser_->toPlainText(); }

}  // namespace lumen::widgets
