#pragma once
// The PACS panel: edit the workspace's PACS nodes (AE title, host, port; add, remove, save
// to pacs_nodes.yaml) and C-ECHO one; query it for studies (patient id, name, date range,
// modality), list a study's series, and retrieve a study or a series into the workspace
// (<workspace>/pacs/<study>/<series>/) as a job with progress and cancel. Echo and queries
// run on a worker thread (QtConcurrent): the GUI thread never waits on the network.

#include "job_event_bridge.h"
#include "jobs/job_pool.h"
#include "net/pacs_nodes.h"

#include <QWidget>

#include <functional>
#include <vector>

class QComboBox;
class QGroupBox;
class QHBoxLayout;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QSplitter;
class QTableWidget;

namespace lumen::widgets {

class JobEventBridge;

class PacsPanel : public QWidget {
    Q_OBJECT
public:
    using Submit = JobSubmitter;
    using Cancel = std::function<bool(jobs::JobId)>;

    explicit PacsPanel(QWidget* parent = nullptr);
    ~PacsPanel() override;

    /// How retrievals run: `submit` queues a job (the main window's), `cancel` cancels one,
    /// `bridge` reports its progress and end.
    void setJobRunner(Submit submit, Cancel cancel, JobEventBridge* bridge);
    /// Loads the workspace's nodes; retrievals go to <dir>/pacs. "" = no workspace.
    void setWorkspace(const QString& dir);
    QString workspace() const { return workspace_; }

    const std::vector<net::NamedPacsNode>& nodes() const { return nodes_; }
    /// The node selected in the list (with the editor's values), if any.
    bool currentNode(net::PacsNode* node) const;
    void selectNode(int index);
    /// Writes the nodes to the workspace's pacs_nodes.yaml; false (reason shown) on error.
    bool saveNodes();

    void echo();
    void search();
    /// Lists the series of the study in `row` of the study table.
    void showSeries(int row);
    /// Retrieves the selected series (if one is selected) or else the selected study.
    bool retrieve();
    void cancelRetrieve();
    bool retrieving() const { return job_ != 0; }

    QString statusText() const;

signals:
    void echoFinished(bool ok, const QString& message);
    void searchFinished(bool ok, int studies);
    void seriesLoaded(bool ok, int series);
    /// state: "finished", "failed" or "cancelled"; message: the outcome shown.
    void retrieveFinished(const QString& state, const QString& message);
    void nodesSaved();

private:
    void buildUi();
    QGroupBox* buildNodesBox();
    QGroupBox* buildQueryBox();
    QSplitter* buildResults();
    QHBoxLayout* buildRetrieveRow();
    void connectSignals();
    void addNode();
    void removeNode();
    void showNode(int index);
    void editorChanged();
    void refreshNodeList();
    void setStatus(const QString& text, bool error = false);
    void updateButtons();

    QListWidget* nodeList_;
    QLineEdit* nameEdit_;
    QLineEdit* aeEdit_;
    QLineEdit* hostEdit_;
    QSpinBox* portSpin_;
    QLineEdit* callingEdit_;
    QSpinBox* timeoutSpin_;
    QPushButton* addButton_;
    QPushButton* removeButton_;
    QPushButton* saveButton_;
    QPushButton* echoButton_;
    QLabel* echoLabel_;
    QLineEdit* patientIdEdit_;
    QLineEdit* patientNameEdit_;
    QLineEdit* dateFromEdit_;
    QLineEdit* dateToEdit_;
    QComboBox* modalityBox_;
    QPushButton* searchButton_;
    QTableWidget* studyTable_;
    QTableWidget* seriesTable_;
    QPushButton* retrieveButton_;
    QPushButton* cancelButton_;
    QProgressBar* progress_;
    QLabel* status_;

    Submit submit_;
    Cancel cancel_;
    JobEventBridge* bridge_ = nullptr;
    QString workspace_;
    std::vector<net::NamedPacsNode> nodes_;
    std::vector<net::StudyRecord> studies_;
    std::vector<net::SeriesRecord> series_;
    net::PacsNode queriedNode_;  ///< the node the study table came from
    bool loadingEditor_ = false;
    int busy_ = 0;  ///< echo/query calls in flight
    jobs::JobId job_ = 0;
    QString jobTarget_;
};

}  // namespace lumen::widgets
