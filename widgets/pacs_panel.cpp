#include "pacs_panel.h"

#include "job_event_bridge.h"
#include "table_items.h"

#include "net/pacs_client.h"

#include <QComboBox>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace lumen::widgets {
namespace {

const QColor kErrorText(0xb0, 0x20, 0x20);
const QColor kOkText(0x1a, 0x7f, 0x37);

QString q(const std::string& s) { return QString::fromStdString(s); }

// "20240102" → "2024-01-02" for reading; other text as is.
QString showDate(const std::string& d) {
    if (d.size() != 8) return q(d);
    return q(d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2));
}

QString showCount(int n) { return n < 0 ? QString("?") : QString::number(n); }

QTableWidget* makeTable(const QStringList& headers, const QString& name) {
    auto* t = new QTableWidget(0, int(headers.size()));
    t->setObjectName(name);
    t->setHorizontalHeaderLabels(headers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setSelectionMode(QAbstractItemView::SingleSelection);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->verticalHeader()->setVisible(false);
    // The UID column takes the rest; resizeColumnsToContents() leaves a Stretch section alone.
    t->horizontalHeader()->setSectionResizeMode(int(headers.size()) - 1, QHeaderView::Stretch);
    t->setAlternatingRowColors(true);
    return t;
}

// Columns as wide as their contents, the last (UID) one taking the rest. Setting the
// Stretch mode again makes the header lay its sections out now; after
// resizeColumnsToContents() alone it keeps the old total width.
void fitColumns(QTableWidget* table) {
    table->resizeColumnsToContents();
    auto* header = table->horizontalHeader();
    const int last = header->count() - 1;
    header->setSectionResizeMode(last, QHeaderView::Interactive);
    header->setSectionResizeMode(last, QHeaderView::Stretch);
}

// Runs `work` on Qt's global pool and hands its result to `done` on the GUI thread.
template <typename Result, typename Work, typename Done>
void runInBackground(QObject* owner, Work work, Done done) {
    auto* watcher = new QFutureWatcher<Result>(owner);
    QObject::connect(watcher, &QFutureWatcher<Result>::finished, owner, [watcher, done] {
        done(watcher->result());
        watcher->deleteLater();
    });
    watcher->setFuture(QtConcurrent::run(std::move(work)));
}

template <typename T>
struct Outcome {
    bool ok = false;
    QString error;
    T value{};
};

}  // namespace

PacsPanel::PacsPanel(QWidget* parent) : QWidget(parent) { buildUi(); }

PacsPanel::~PacsPanel() = default;

void PacsPanel::buildUi() {
    setObjectName("pacsPanel");
    auto* top = new QHBoxLayout;
    top->addWidget(buildNodesBox(), 3);
    top->addWidget(buildQueryBox(), 2);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(buildResults(), 1);
    layout->addLayout(buildRetrieveRow());
    status_ = new QLabel;
    status_->setObjectName("pacsStatus");
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(status_);
    connectSignals();
    showNode(-1);
    setStatus(tr("Choose or add a PACS node, then Search."));
}

// Nodes: list + editor + buttons.
QGroupBox* PacsPanel::buildNodesBox() {
    nodeList_ = new QListWidget;
    nodeList_->setObjectName("pacsNodeList");
    nodeList_->setMaximumWidth(200);
    nameEdit_ = new QLineEdit;
    nameEdit_->setObjectName("pacsNodeName");
    aeEdit_ = new QLineEdit;
    aeEdit_->setObjectName("pacsAeTitle");
    aeEdit_->setMaxLength(16);
    hostEdit_ = new QLineEdit;
    hostEdit_->setObjectName("pacsHost");
    portSpin_ = new QSpinBox;
    portSpin_->setObjectName("pacsPort");
    portSpin_->setRange(1, 65535);
    portSpin_->setValue(104);
    callingEdit_ = new QLineEdit("LUMEN");
    callingEdit_->setObjectName("pacsCallingAe");
    callingEdit_->setMaxLength(16);
    timeoutSpin_ = new QSpinBox;
    timeoutSpin_->setObjectName("pacsTimeout");
    timeoutSpin_->setRange(1, 3600);
    timeoutSpin_->setValue(30);
    timeoutSpin_->setSuffix(" s");
    addButton_ = new QPushButton(tr("Add"));
    addButton_->setObjectName("pacsAddNode");
    removeButton_ = new QPushButton(tr("Remove"));
    removeButton_->setObjectName("pacsRemoveNode");
    saveButton_ = new QPushButton(tr("Save"));
    saveButton_->setObjectName("pacsSaveNodes");
    saveButton_->setToolTip(tr("Write the nodes to the workspace's pacs_nodes.yaml"));
    echoButton_ = new QPushButton(tr("Echo"));
    echoButton_->setObjectName("pacsEcho");
    echoButton_->setToolTip(tr("C-ECHO: is the node there and does it accept us?"));
    echoLabel_ = new QLabel;
    echoLabel_->setObjectName("pacsEchoResult");
    echoLabel_->setWordWrap(true);

    auto* form = new QFormLayout;
    form->addRow(tr("Name"), nameEdit_);
    form->addRow(tr("AE title"), aeEdit_);
    form->addRow(tr("Host"), hostEdit_);
    form->addRow(tr("Port"), portSpin_);
    form->addRow(tr("Our AE title"), callingEdit_);
    form->addRow(tr("Timeout"), timeoutSpin_);
    auto* nodeButtons = new QHBoxLayout;
    for (auto* b : {addButton_, removeButton_, saveButton_, echoButton_}) nodeButtons->addWidget(b);
    auto* editor = new QVBoxLayout;
    editor->addLayout(form);
    editor->addLayout(nodeButtons);
    editor->addWidget(echoLabel_);
    editor->addStretch(1);
    auto* nodesBox = new QGroupBox(tr("PACS nodes"));
    auto* nodesLayout = new QHBoxLayout(nodesBox);
    nodesLayout->addWidget(nodeList_);
    nodesLayout->addLayout(editor, 1);
    return nodesBox;
}

// Query form.
QGroupBox* PacsPanel::buildQueryBox() {
    patientIdEdit_ = new QLineEdit;
    patientIdEdit_->setObjectName("pacsPatientId");
    patientIdEdit_->setPlaceholderText(tr("any (wildcards * ?)"));
    patientNameEdit_ = new QLineEdit;
    patientNameEdit_->setObjectName("pacsPatientName");
    patientNameEdit_->setPlaceholderText(tr("any, e.g. Doe^J*"));
    auto* dateValidator = new QRegularExpressionValidator(QRegularExpression("\\d{0,8}"), this);
    dateFromEdit_ = new QLineEdit;
    dateFromEdit_->setObjectName("pacsDateFrom");
    dateFromEdit_->setPlaceholderText(tr("YYYYMMDD"));
    dateFromEdit_->setValidator(dateValidator);
    dateToEdit_ = new QLineEdit;
    dateToEdit_->setObjectName("pacsDateTo");
    dateToEdit_->setPlaceholderText(tr("YYYYMMDD"));
    dateToEdit_->setValidator(dateValidator);
    modalityBox_ = new QComboBox;
    modalityBox_->setObjectName("pacsModality");
    modalityBox_->setEditable(true);
    modalityBox_->addItems({"", "CT", "MR", "XA", "CR", "DX", "US", "NM", "PT", "MG", "OT"});
    searchButton_ = new QPushButton(tr("Search"));
    searchButton_->setObjectName("pacsSearch");
    searchButton_->setDefault(true);
    auto* queryBox = new QGroupBox(tr("Query (C-FIND)"));
    auto* queryForm = new QFormLayout(queryBox);
    queryForm->addRow(tr("Patient ID"), patientIdEdit_);
    queryForm->addRow(tr("Patient name"), patientNameEdit_);
    auto* dates = new QHBoxLayout;
    dates->addWidget(dateFromEdit_);
    dates->addWidget(new QLabel(tr("to")));
    dates->addWidget(dateToEdit_);
    queryForm->addRow(tr("Study date"), dates);
    queryForm->addRow(tr("Modality"), modalityBox_);
    queryForm->addRow(QString(), searchButton_);
    return queryBox;
}

// Results: studies above, the chosen study's series below.
QSplitter* PacsPanel::buildResults() {
    studyTable_ = makeTable({tr("Date"), tr("Patient ID"), tr("Patient name"), tr("Modalities"), tr("Description"),
                             tr("Series"), tr("Instances"), tr("Accession"), tr("Study UID")},
                            "pacsStudies");
    seriesTable_ =
        makeTable({tr("#"), tr("Modality"), tr("Description"), tr("Instances"), tr("Series UID")}, "pacsSeries");
    auto* split = new QSplitter(Qt::Vertical);
    studyTable_->horizontalHeader()->setSortIndicator(0, Qt::AscendingOrder);  // oldest first, as found
    split->addWidget(studyTable_);
    split->addWidget(seriesTable_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    return split;
}

QHBoxLayout* PacsPanel::buildRetrieveRow() {
    retrieveButton_ = new QPushButton(tr("Retrieve"));
    retrieveButton_->setObjectName("pacsRetrieve");
    retrieveButton_->setToolTip(
        tr("C-GET the selected series, or the whole study if no series is selected, "
           "into <workspace>/pacs"));
    cancelButton_ = new QPushButton(tr("Cancel"));
    cancelButton_->setObjectName("pacsCancel");
    progress_ = new QProgressBar;
    progress_->setObjectName("pacsProgress");
    progress_->setRange(0, 1000);
    progress_->setValue(0);
    progress_->setTextVisible(true);
    progress_->setFormat("");
    auto* bottom = new QHBoxLayout;
    bottom->addWidget(retrieveButton_);
    bottom->addWidget(cancelButton_);
    bottom->addWidget(progress_, 1);
    return bottom;
}

void PacsPanel::connectSignals() {
    connect(nodeList_, &QListWidget::currentRowChanged, this, &PacsPanel::showNode);
    for (auto* e : {nameEdit_, aeEdit_, hostEdit_, callingEdit_})
        connect(e, &QLineEdit::textEdited, this, &PacsPanel::editorChanged);
    connect(portSpin_, &QSpinBox::valueChanged, this, &PacsPanel::editorChanged);
    connect(timeoutSpin_, &QSpinBox::valueChanged, this, &PacsPanel::editorChanged);
    connect(addButton_, &QPushButton::clicked, this, &PacsPanel::addNode);
    connect(removeButton_, &QPushButton::clicked, this, &PacsPanel::removeNode);
    connect(saveButton_, &QPushButton::clicked, this, &PacsPanel::saveNodes);
    connect(echoButton_, &QPushButton::clicked, this, &PacsPanel::echo);
    connect(searchButton_, &QPushButton::clicked, this, &PacsPanel::search);
    for (auto* e : {patientIdEdit_, patientNameEdit_, dateFromEdit_, dateToEdit_})
        connect(e, &QLineEdit::returnPressed, this, &PacsPanel::search);
    connect(studyTable_, &QTableWidget::itemSelectionChanged, this, [this] {
        const auto rows = studyTable_->selectionModel()->selectedRows();
        if (!rows.isEmpty()) showSeries(rows.first().row());
        updateButtons();
    });
    connect(seriesTable_, &QTableWidget::itemSelectionChanged, this, &PacsPanel::updateButtons);
    connect(retrieveButton_, &QPushButton::clicked, this, &PacsPanel::retrieve);
    connect(cancelButton_, &QPushButton::clicked, this, &PacsPanel::cancelRetrieve);
}

void PacsPanel::addNode() {
    net::NamedPacsNode n;
    int k = int(nodes_.size()) + 1;
    auto taken = [&](const std::string& name) {
        return std::any_of(nodes_.begin(), nodes_.end(), [&](const auto& x) { return x.name == name; });
    };
    while (taken("node" + std::to_string(k))) ++k;
    n.name = "node" + std::to_string(k);
    n.node.aeTitle = "PACS";
    n.node.host = "127.0.0.1";
    nodes_.push_back(n);
    refreshNodeList();
    nodeList_->setCurrentRow(int(nodes_.size()) - 1);
    nameEdit_->setFocus();
    nameEdit_->selectAll();
    setStatus(tr("New node: fill in its AE title, host and port, then Save."));
}

void PacsPanel::removeNode() {
    const int row = nodeList_->currentRow();
    if (row < 0 || row >= int(nodes_.size())) return;
    nodes_.erase(nodes_.begin() + row);
    refreshNodeList();
    nodeList_->setCurrentRow(std::min(row, int(nodes_.size()) - 1));
    setStatus(tr("Node removed (Save to keep the change)."));
}

void PacsPanel::setJobRunner(Submit submit, Cancel cancel, JobEventBridge* bridge) {
    submit_ = std::move(submit);
    cancel_ = std::move(cancel);
    bridge_ = bridge;
    connect(bridge_, &JobEventBridge::progress, this, [this](quint64 job, double f, const QString& m, double) {
        if (job != job_) return;
        progress_->setValue(int(f * 1000));
        progress_->setFormat(m);
    });
    connect(bridge_, &JobEventBridge::finished, this, [this](quint64 job, const QString& result) {
        if (job != job_) return;
        job_ = 0;
        progress_->setValue(1000);
        const QString message = tr("Retrieved %1 into %2").arg(result, jobTarget_);
        setStatus(message);
        updateButtons();
        emit retrieveFinished("finished", message);
    });
    connect(bridge_, &JobEventBridge::failed, this, [this](quint64 job, const QString& error) {
        if (job != job_) return;
        job_ = 0;
        const QString message = tr("Retrieve failed: %1").arg(error);
        setStatus(message, true);
        updateButtons();
        emit retrieveFinished("failed", message);
    });
    connect(bridge_, &JobEventBridge::cancelled, this, [this](quint64 job) {
        if (job != job_) return;
        job_ = 0;
        const QString message = tr("Retrieve cancelled; the complete files received so far stay in %1").arg(jobTarget_);
        setStatus(message);
        updateButtons();
        emit retrieveFinished("cancelled", message);
    });
    updateButtons();
}

void PacsPanel::setWorkspace(const QString& dir) {
    workspace_ = dir;
    nodes_.clear();
    if (!dir.isEmpty()) {
        try {
            nodes_ = net::loadPacsNodes(dir.toStdString());
            setStatus(nodes_.empty() ? tr("No PACS nodes in this workspace yet: Add one.")
                                     : tr("%n PACS node(s) loaded.", nullptr, int(nodes_.size())));
        } catch (const std::exception& e) {
            setStatus(QString::fromUtf8(e.what()), true);
        }
    }
    refreshNodeList();
    if (!nodes_.empty()) nodeList_->setCurrentRow(0);
    updateButtons();
}

void PacsPanel::refreshNodeList() {
    const QSignalBlocker block(nodeList_);
    nodeList_->clear();
    for (const auto& n : nodes_) nodeList_->addItem(q(n.name));
    showNode(nodeList_->currentRow());
}

void PacsPanel::selectNode(int index) { nodeList_->setCurrentRow(index); }

void PacsPanel::showNode(int index) {
    loadingEditor_ = true;
    const bool valid = index >= 0 && index < int(nodes_.size());
    const net::NamedPacsNode n = valid ? nodes_[std::size_t(index)] : net::NamedPacsNode{};
    nameEdit_->setText(q(n.name));
    aeEdit_->setText(q(n.node.aeTitle));
    hostEdit_->setText(q(n.node.host));
    portSpin_->setValue(n.node.port);
    callingEdit_->setText(q(n.node.callingAeTitle));
    timeoutSpin_->setValue(n.node.timeoutSeconds);
    for (QWidget* w :
         std::initializer_list<QWidget*>{nameEdit_, aeEdit_, hostEdit_, portSpin_, callingEdit_, timeoutSpin_})
        w->setEnabled(valid);
    echoLabel_->clear();
    loadingEditor_ = false;
    updateButtons();
}

void PacsPanel::editorChanged() {
    if (loadingEditor_) return;
    const int row = nodeList_->currentRow();
    if (row < 0 || row >= int(nodes_.size())) return;
    auto& n = nodes_[std::size_t(row)];
    n.name = nameEdit_->text().trimmed().toStdString();
    n.node.aeTitle = aeEdit_->text().trimmed().toStdString();
    n.node.host = hostEdit_->text().trimmed().toStdString();
    n.node.port = portSpin_->value();
    n.node.callingAeTitle = callingEdit_->text().trimmed().toStdString();
    n.node.timeoutSeconds = timeoutSpin_->value();
    if (auto* item = nodeList_->item(row)) item->setText(q(n.name));
    updateButtons();
}

bool PacsPanel::currentNode(net::PacsNode* node) const {
    const int row = nodeList_->currentRow();
    if (row < 0 || row >= int(nodes_.size())) return false;
    if (node) *node = nodes_[std::size_t(row)].node;
    return true;
}

bool PacsPanel::saveNodes() {
    if (workspace_.isEmpty()) {
        setStatus(tr("Open a workspace first: the nodes are stored in it."), true);
        return false;
    }
    try {
        net::savePacsNodes(workspace_.toStdString(), nodes_);
    } catch (const std::exception& e) {
        setStatus(tr("Not saved: %1").arg(QString::fromUtf8(e.what())), true);
        return false;
    }
    setStatus(tr("Saved %n node(s) to %1", nullptr, int(nodes_.size()))
                  .arg(QString::fromStdString(net::pacsNodesFile(workspace_.toStdString()).string())));
    emit nodesSaved();
    return true;
}

void PacsPanel::echo() {
    net::PacsNode node;
    if (!currentNode(&node)) return;
    echoLabel_->setText(tr("Echoing %1 …").arg(q(node.address())));
    echoLabel_->setStyleSheet({});
    ++busy_;
    updateButtons();
    runInBackground<Outcome<double>>(
        this,
        [node] {
            Outcome<double> o;
            try {
                o.value = net::echo(node).milliseconds;
                o.ok = true;
            } catch (const std::exception& e) {
                o.error = QString::fromUtf8(e.what());
            }
            return o;
        },
        [this, node](const Outcome<double>& o) {
            --busy_;
            const QString message =
                o.ok ? tr("✔ %1 answered C-ECHO in %2 ms").arg(q(node.address())).arg(o.value, 0, 'f', 1)
                     : tr("✘ %1").arg(o.error);
            echoLabel_->setText(message);
            echoLabel_->setStyleSheet(QString("color: %1").arg((o.ok ? kOkText : kErrorText).name()));
            updateButtons();
            emit echoFinished(o.ok, message);
        });
}

void PacsPanel::search() {
    net::PacsNode node;
    if (!currentNode(&node)) {
        setStatus(tr("Choose a PACS node first."), true);
        return;
    }
    net::StudyQuery query;
    query.patientId = patientIdEdit_->text().trimmed().toStdString();
    query.patientName = patientNameEdit_->text().trimmed().toStdString();
    query.modality = modalityBox_->currentText().trimmed().toUpper().toStdString();
    const QString from = dateFromEdit_->text().trimmed(), to = dateToEdit_->text().trimmed();
    if (!from.isEmpty() || !to.isEmpty()) {
        try {
            net::setDateRange(query, (from + "-" + to).toStdString());
        } catch (const std::exception& e) {
            setStatus(QString::fromUtf8(e.what()), true);
            emit searchFinished(false, 0);
            return;
        }
    }
    setStatus(tr("Searching %1 …").arg(q(node.address())));
    ++busy_;
    updateButtons();
    runInBackground<Outcome<std::vector<net::StudyRecord>>>(
        this,
        [node, query] {
            Outcome<std::vector<net::StudyRecord>> o;
            try {
                o.value = net::findStudies(node, query);
                o.ok = true;
            } catch (const std::exception& e) {
                o.error = QString::fromUtf8(e.what());
            }
            return o;
        },
        [this, node](const Outcome<std::vector<net::StudyRecord>>& o) {
            --busy_;
            if (!o.ok) {
                setStatus(o.error, true);
                updateButtons();
                emit searchFinished(false, 0);
                return;
            }
            queriedNode_ = node;
            studies_ = o.value;
            series_.clear();
            seriesTable_->setRowCount(0);
            const QSignalBlocker block(studyTable_);
            studyTable_->setSortingEnabled(false);
            studyTable_->clearContents();
            studyTable_->setRowCount(int(studies_.size()));
            for (int r = 0; r < int(studies_.size()); ++r) {
                const auto& s = studies_[std::size_t(r)];
                const QStringList cells = {
                    showDate(s.studyDate), q(s.patientId),           q(s.patientName),           q(s.modalities),
                    q(s.studyDescription), showCount(s.seriesCount), showCount(s.instanceCount), q(s.accessionNumber),
                    q(s.studyInstanceUid)};
                for (int c = 0; c < int(cells.size()); ++c) {
                    auto* item = (c == 5 || c == 6)
                                     ? new SortKeyItem(cells[c], c == 5 ? s.seriesCount : s.instanceCount)
                                     : new QTableWidgetItem(cells[c]);
                    item->setData(Qt::UserRole + 1, r);  // index into studies_, kept when sorting
                    studyTable_->setItem(r, c, item);
                }
            }
            fitColumns(studyTable_);
            studyTable_->setSortingEnabled(true);
            setStatus(tr("%n study(ies) on %1", nullptr, int(studies_.size())).arg(q(node.address())));
            updateButtons();
            emit searchFinished(true, int(studies_.size()));
        });
}

void PacsPanel::showSeries(int row) {
    auto* item = studyTable_->item(row, 0);
    if (!item) return;
    const auto& study = studies_.at(std::size_t(item->data(Qt::UserRole + 1).toInt()));
    const net::PacsNode node = queriedNode_;
    const std::string uid = study.studyInstanceUid;
    ++busy_;
    updateButtons();
    runInBackground<Outcome<std::vector<net::SeriesRecord>>>(
        this,
        [node, uid] {
            Outcome<std::vector<net::SeriesRecord>> o;
            try {
                o.value = net::findSeries(node, uid);
                o.ok = true;
            } catch (const std::exception& e) {
                o.error = QString::fromUtf8(e.what());
            }
            return o;
        },
        [this, uid](const Outcome<std::vector<net::SeriesRecord>>& o) {
            --busy_;
            if (!o.ok) {
                setStatus(o.error, true);
                updateButtons();
                emit seriesLoaded(false, 0);
                return;
            }
            series_ = o.value;
            seriesTable_->clearContents();
            seriesTable_->setRowCount(int(series_.size()));
            for (int r = 0; r < int(series_.size()); ++r) {
                const auto& s = series_[std::size_t(r)];
                const QStringList cells = {q(s.seriesNumber), q(s.modality), q(s.seriesDescription),
                                           showCount(s.instanceCount), q(s.seriesInstanceUid)};
                for (int c = 0; c < int(cells.size()); ++c) seriesTable_->setItem(r, c, new QTableWidgetItem(cells[c]));
            }
            fitColumns(seriesTable_);
            setStatus(tr("Study %1: %n series", nullptr, int(series_.size())).arg(q(uid)));
            updateButtons();
            emit seriesLoaded(true, int(series_.size()));
        });
}

bool PacsPanel::retrieve() {
    const auto rows = studyTable_->selectionModel()->selectedRows();
    if (rows.isEmpty() || job_ != 0) return false;
    if (workspace_.isEmpty() || !submit_) {
        setStatus(tr("Open a workspace first: retrieved studies are stored in it."), true);
        return false;
    }
    const auto& study =
        studies_.at(std::size_t(studyTable_->item(rows.first().row(), 0)->data(Qt::UserRole + 1).toInt()));
    net::RetrieveRequest request{study.studyInstanceUid, {}};
    const auto seriesRows = seriesTable_->selectionModel()->selectedRows();
    if (!seriesRows.isEmpty() && seriesRows.first().row() < int(series_.size()))
        request.seriesInstanceUid = series_[std::size_t(seriesRows.first().row())].seriesInstanceUid;
    const net::PacsNode node = queriedNode_;
    const std::filesystem::path destination = std::filesystem::path(workspace_.toStdString()) / "pacs";
    jobTarget_ = QString::fromStdString((destination / request.studyInstanceUid).string());
    const QString what = request.seriesInstanceUid.empty()
                             ? tr("study %1 (%2)").arg(q(study.patientId), q(study.studyDescription))
                             : tr("series %1 of %2").arg(q(request.seriesInstanceUid), q(study.patientId));
    progress_->setValue(0);
    progress_->setFormat(tr("waiting…"));
    job_ = submit_(
        "pacs", tr("Retrieve %1 from %2").arg(what, q(node.aeTitle)),
        [node, request, destination](jobs::JobContext& job) {
            job.info("C-GET " + request.studyInstanceUid +
                     (request.seriesInstanceUid.empty() ? "" : " / " + request.seriesInstanceUid) + " from " +
                     node.address() + " into " + destination.string());
            const auto result = net::retrieve(node, request, destination, [&job](const net::RetrieveProgress& p) {
                const double f = p.fraction();
                job.progress(f < 0 ? 0.0 : f,
                             std::to_string(p.received) + " instances received" +
                                 (p.remaining >= 0 ? ", " + std::to_string(p.remaining) + " to go" : ""));
                return !job.isCancelled();
            });
            if (result.failed > 0) job.warning(std::to_string(result.failed) + " sub-operations failed on the PACS");
            return std::to_string(result.received) + (result.received == 1 ? " instance" : " instances");
        });
    setStatus(tr("Retrieving %1 …").arg(what));
    updateButtons();
    return true;
}

void PacsPanel::cancelRetrieve() {
    if (job_ != 0 && cancel_) {
        cancel_(job_);
        setStatus(tr("Cancelling…"));
    }
}

void PacsPanel::setStatus(const QString& text, bool error) {
    status_->setText(text);
    status_->setStyleSheet(error ? QString("color: %1").arg(kErrorText.name()) : QString());
}

QString PacsPanel::statusText() const { return status_->text(); }

void PacsPanel::updateButtons() {
    const bool hasNode = currentNode(nullptr);
    removeButton_->setEnabled(hasNode);
    echoButton_->setEnabled(hasNode);
    searchButton_->setEnabled(hasNode);
    saveButton_->setEnabled(!workspace_.isEmpty());
    const bool studySelected = !studyTable_->selectionModel()->selectedRows().isEmpty();
    retrieveButton_->setEnabled(studySelected && job_ == 0 && !workspace_.isEmpty() && bool(submit_));
    retrieveButton_->setText(!seriesTable_->selectionModel()->selectedRows().isEmpty() ? tr("Retrieve series")
                                                                                       : tr("Retrieve study"));
    cancelButton_->setEnabled(job_ != 0);
}

}  // namespace lumen::widgets
