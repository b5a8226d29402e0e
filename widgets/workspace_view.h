#pragma once
// The central workspace overview: the workspace's files beside a summary of what it holds
// (runs, tasks available, demo data).

#include <QWidget>

class QFileSystemModel;
class QTextBrowser;
class QTreeView;

namespace lumen::widgets {

struct WorkspaceSummary {
    QString path;  ///< empty: no workspace open
    int runs = 0;
    QStringList tasks;           ///< task ids available from loaded plugins
    QStringList refusedPlugins;  ///< messages for plugins that were refused
    bool isDemo = false;
};

class WorkspaceView : public QWidget {
    Q_OBJECT
public:
    explicit WorkspaceView(QWidget* parent = nullptr);
    void setSummary(const WorkspaceSummary& summary);
    QString summaryText() const;
    QTreeView* fileTree() const { return tree_; }

signals:
    void fileActivated(const QString& path);

private:
    QFileSystemModel* model_;
    QTreeView* tree_;
    QTextBrowser* summary_;
};

}  // namespace lumen::widgets
