#include "workspace_view.h"

#include "file_dialogs.h"

#include <QFileSystemModel>
#include <QHeaderView>
#include <QSplitter>
#include <QTextBrowser>
#include <QTreeView>
#include <QVBoxLayout>

namespace lumen::widgets {

WorkspaceView::WorkspaceView(QWidget* parent)
    : QWidget(parent), model_(new QFileSystemModel(this)), tree_(new QTreeView), summary_(new QTextBrowser) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* split = new QSplitter(Qt::Horizontal, this);
    layout->addWidget(split);
    // Icons and types from names only: sniffing lumen.db's bytes would drop this process's
    // SQLite locks on it (file_dialogs.h).
    model_->setIconProvider(nameOnlyIconProvider());
    tree_->setObjectName("workspaceFiles");
    tree_->setModel(model_);
    tree_->setHeaderHidden(false);
    tree_->setSortingEnabled(true);
    tree_->sortByColumn(0, Qt::AscendingOrder);
    tree_->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    tree_->hideColumn(2);  // file type
    summary_->setObjectName("workspaceSummary");
    summary_->setOpenExternalLinks(false);
    split->addWidget(summary_);
    split->addWidget(tree_);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    connect(tree_, &QTreeView::activated, this,
            [this](const QModelIndex& index) { emit fileActivated(model_->filePath(index)); });
    setSummary({});
}

void WorkspaceView::setSummary(const WorkspaceSummary& s) {
    QString html;
    if (s.path.isEmpty()) {
        html =
            tr("<h2>No workspace open</h2><p>A workspace is a folder holding your runs, "
               "predictions and reports. Use <b>File → Open workspace…</b> or "
               "<b>File → Open demo workspace</b>.</p>");
        tree_->setModel(nullptr);
    } else {
        tree_->setModel(model_);
        const QModelIndex root = model_->setRootPath(s.path);
        tree_->setRootIndex(root);
        html = tr("<h2>%1</h2><p><code>%2</code></p>")
                   .arg(s.isDemo ? tr("Demo workspace") : tr("Workspace"), s.path.toHtmlEscaped());
        html += tr("<p><b>%1</b> recorded in this workspace.</p>")
                    .arg(s.runs == 1 ? tr("1 run") : tr("%1 runs").arg(s.runs));
        if (s.isDemo)
            html +=
                tr("<p>Synthetic data to try every part of Lumen: chest X-rays with NIH "
                   "labels (<code>chest_xray/</code>), CT volumes (<code>ct/</code>), "
                   "angiography cines (<code>angio/</code>) and a baseline/new predictions "
                   "pair to audit (<code>predictions/</code>).</p>");
    }
    html += tr("<h3>Tasks</h3>");
    if (s.tasks.isEmpty()) html += tr("<p>No task plugin is loaded.</p>");
    else {
        html += "<ul>";
        for (const auto& t : s.tasks) html += "<li>" + t.toHtmlEscaped() + "</li>";
        html += "</ul>";
    }
    if (!s.refusedPlugins.isEmpty()) {
        html += tr("<h3>Plugins refused</h3><ul>");
        for (const auto& m : s.refusedPlugins) html += "<li>" + m.toHtmlEscaped() + "</li>";
        html += "</ul>";
    }
    summary_->setHtml(html);
}

QString WorkspaceView::summaryText() const { return summary_->toPlainText(); }

}  // namespace lumen::widgets
