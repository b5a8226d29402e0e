#include "runs_panel.h"

#include "card_export.h"
#include "report/model_card.h"

#include "table_items.h"

#include "runs/run_store.h"
#include "slurm/slurm_run.h"
#include "slurm_monitor.h"

#include <QAction>
#include <QDateTime>
#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>
#include <QElapsedTimer>
#include <QDesktopServices>
#include <QFileInfo>
#include <QMenu>
#include <QUrl>
#include <QHeaderView>
#include <QTableWidget>
#include <QVBoxLayout>

namespace lumen::widgets {
namespace {

const QStringList kColumns = {QObject::tr("ID"),     QObject::tr("Task"),    QObject::tr("Name"),
                              QObject::tr("Status"), QObject::tr("Slurm"),   QObject::tr("Config"),
                              QObject::tr("Best"),   QObject::tr("Created"), QObject::tr("Duration"),
                              QObject::tr("Outcome")};
enum Column { kId, kTask, kName, kStatus, kSlurm, kConfig, kBest, kCreated, kDuration, kOutcome };

QColor statusColor(runs::RunStatus s) {
    switch (s) {
    case runs::RunStatus::Finished: return QColor(0x1b, 0x7f, 0x3b);
    case runs::RunStatus::Failed: return QColor(0xc0, 0x1c, 0x28);
    case runs::RunStatus::Cancelled: return QColor(0x9a, 0x67, 0x00);
    case runs::RunStatus::Interrupted: return QColor(0xb3, 0x4d, 0x00);
    default: return QColor(0x1c, 0x57, 0xa8);
    }
}

}  // namespace

RunsPanel::RunsPanel(QWidget* parent)
    : QWidget(parent), table_(new QTableWidget(this)), slurm_(new SlurmMonitor(this)) {
    connect(slurm_, &SlurmMonitor::statesChanged, this, &RunsPanel::showSlurmStates);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(table_);
    table_->setObjectName("runsTable");
    table_->setColumnCount(int(kColumns.size()));
    table_->setHorizontalHeaderLabels(kColumns);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setSortingEnabled(true);
    connect(table_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
        const qint64 id = table_->item(row, 0)->data(Qt::UserRole).toLongLong();
        emit runActivated(id);
        emit showCurvesRequested(id);
    });
    table_->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(table_, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
        if (table_->rowCount() == 0) return;
        QMenu* menu = makeContextMenu();
        menu->exec(table_->viewport()->mapToGlobal(pos));
        delete menu;
    });
}

QList<qint64> RunsPanel::selectedRunIds() const {
    QList<qint64> ids;
    for (int row = 0; row < table_->rowCount(); ++row) {
        QTableWidgetItem* item = table_->item(row, kId);
        if (item && item->isSelected()) ids << item->data(Qt::UserRole).toLongLong();
    }
    return ids;
}

void RunsPanel::selectRuns(const QList<qint64>& ids) {
    table_->clearSelection();
    const auto mode = table_->selectionMode();
    table_->setSelectionMode(QAbstractItemView::MultiSelection);
    for (int row = 0; row < table_->rowCount(); ++row) {
        QTableWidgetItem* item = table_->item(row, kId);
        if (item && ids.contains(item->data(Qt::UserRole).toLongLong())) table_->selectRow(row);
    }
    table_->setSelectionMode(mode);
}

QString RunsPanel::runFolder(qint64 run) const {
    if (!store_) return {};
    for (int row = 0; row < table_->rowCount(); ++row) {
        QTableWidgetItem* item = table_->item(row, kId);
        if (!item || item->data(Qt::UserRole).toLongLong() != run) continue;
        const auto folder =
            runs::Workspace{store_->file().parent_path()}.runDir(run, table_->item(row, kTask)->text().toStdString());
        return QString::fromStdString(folder.string());
    }
    return {};
}

QString RunsPanel::resumableCheckpoint(qint64 run) const {
    if (!store_) return {};
    const auto record = store_->run(run);
    if (!record || !runs::isTerminal(record->status) || record->status == runs::RunStatus::Finished) return {};
    const QString last = runFolder(run) + "/checkpoints/last.pt";
    return QFileInfo::exists(last) ? last : QString();
}

QString RunsPanel::artifact(qint64 run, const QString& kind) const {
    if (!store_ || run <= 0) return {};
    const auto record = store_->run(run);
    if (!record || record->status != runs::RunStatus::Finished) return {};
    const auto all = store_->artifacts(run);
    for (auto it = all.rbegin(); it != all.rend(); ++it)
        if (it->kind == kind.toStdString() && QFileInfo::exists(QString::fromStdString(it->path)))
            return QString::fromStdString(it->path);
    return {};
}

// Infer (a trained model on a split), Explain (Grad-CAM of an inference's images) and Open in
// Study view (an inference's predictions with its images, masks and CAMs); each is enabled
// only on a run that has what it needs, and says why not in its tooltip.
void RunsPanel::addModelActions(QMenu* menu, qint64 run) {
    menu->addSeparator();
    const QString best = artifact(run, "best_checkpoint");
    const QString predictions = artifact(run, "predictions");
    QAction* infer = menu->addAction(tr("Infer…"));
    infer->setObjectName("runsInfer");
    infer->setEnabled(!best.isEmpty());
    infer->setToolTip(best.isEmpty() ? tr("A finished training run with a best checkpoint can infer") : best);
    QAction* explain = menu->addAction(tr("Explain (Grad-CAM)…"));
    explain->setObjectName("runsExplain");
    explain->setEnabled(!predictions.isEmpty());
    QAction* study = menu->addAction(tr("Open in Study view"));
    study->setObjectName("runsOpenStudy");
    study->setEnabled(!predictions.isEmpty());
    for (QAction* a : {explain, study})
        a->setToolTip(predictions.isEmpty() ? tr("A finished inference run (Infer…) has predictions") : predictions);
    connect(infer, &QAction::triggered, this, [this, run] { emit inferRequested(run); });
    connect(explain, &QAction::triggered, this, [this, run] { emit explainRequested(run); });
    connect(study, &QAction::triggered, this, [this, run] { emit openInStudyRequested(run); });
    const auto record = store_ ? store_->run(run) : std::nullopt;
    const bool scripted = !artifact(run, "torchscript").isEmpty() ||
                          (record && record->task == "torchscript" && record->status == runs::RunStatus::Finished);
    QAction* bench = menu->addAction(tr("Benchmark inference…"));
    bench->setObjectName("runsBenchmark");
    bench->setEnabled(scripted);
    bench->setToolTip(scripted ? tr("Latency p50/p95/p99 per batch size, throughput and peak memory")
                               : tr("A finished training run with a TorchScript export, or a torchscript-task run"));
    connect(bench, &QAction::triggered, this, [this, run] { emit benchmarkRequested(run); });
    QAction* card = menu->addAction(tr("Export model card…"));
    card->setObjectName("runsModelCard");
    card->setEnabled(run > 0 && (!best.isEmpty() || !predictions.isEmpty()));
    card->setToolTip(tr("Metrics with intervals, calibration, data, config and checksums as PDF, HTML or Markdown"));
    connect(card, &QAction::triggered, this, [this, run] {
        exportCardInteractively(this, tr("Export model card"), QString("model_card_run%1.pdf").arg(run),
                                [this, run] { return buildCard(run); });
    });
}

report::CardDocument RunsPanel::buildCard(qint64 run) const {
    if (!store_) throw std::runtime_error("no workspace open");
    const runs::Workspace ws{store_->file().parent_path()};
    return report::buildModelCard(*store_, ws, run).document;
}

QString RunsPanel::exportModelCard(qint64 run, const QString& file) {
    return exportCard([this, run] { return buildCard(run); }, file);
}

// Export… (config, model, reports, predictions into a folder) and Delete… (rows and folder,
// after a confirmation the main window asks for).
void RunsPanel::addFileActions(QMenu* menu, const QList<qint64>& ids) {
    menu->addSeparator();
    QAction* exportRun = menu->addAction(tr("Export…"));
    exportRun->setObjectName("runsExport");
    exportRun->setEnabled(ids.size() == 1);
    exportRun->setToolTip(
        tr("Copies the run's config.yaml, TorchScript model, best checkpoint, reports and "
           "predictions into a folder you choose"));
    QAction* remove = menu->addAction(ids.size() > 1 ? tr("Delete %1 runs…").arg(ids.size()) : tr("Delete…"));
    remove->setObjectName("runsDelete");
    remove->setEnabled(!ids.isEmpty());
    remove->setToolTip(tr("Deletes the run's rows and its folder (asks first; a running run is refused)"));
    connect(exportRun, &QAction::triggered, this, [this, ids] { emit exportRequested(ids.value(0)); });
    connect(remove, &QAction::triggered, this, [this, ids] { emit deleteRequested(ids); });
}

QMenu* RunsPanel::makeContextMenu() {
    auto* menu = new QMenu(this);
    const QList<qint64> ids = selectedRunIds();
    QAction* open = menu->addAction(tr("Open run folder"));
    open->setObjectName("runsOpenFolder");
    QAction* show = menu->addAction(tr("Show curves"));
    show->setObjectName("runsShowCurves");
    QAction* compare = menu->addAction(tr("Compare selected runs (%1)").arg(ids.size()));
    compare->setObjectName("runsCompare");
    QAction* resume = menu->addAction(tr("Resume from last checkpoint"));
    resume->setObjectName("runsResume");
    open->setEnabled(ids.size() == 1);
    show->setEnabled(ids.size() == 1);
    compare->setEnabled(ids.size() >= 2);
    const QString lastCheckpoint = ids.size() == 1 ? resumableCheckpoint(ids.value(0)) : QString();
    resume->setEnabled(!lastCheckpoint.isEmpty());
    resume->setToolTip(lastCheckpoint.isEmpty()
                           ? tr("Only an interrupted, failed or cancelled run with checkpoints/last.pt can be resumed")
                           : lastCheckpoint);
    connect(resume, &QAction::triggered, this, [this, ids] { emit resumeRequested(ids.value(0)); });
    if (ids.size() == 1) addSlurmActions(menu, ids.value(0));
    addModelActions(menu, ids.size() == 1 ? ids.value(0) : 0);
    addFileActions(menu, ids);
    connect(open, &QAction::triggered, this, [this, ids] {
        QString folder = runFolder(ids.value(0));
        if (!QFileInfo::exists(folder)) folder = QFileInfo(folder).absolutePath();  // runs/ itself
        QDesktopServices::openUrl(QUrl::fromLocalFile(folder));
    });
    connect(show, &QAction::triggered, this, [this, ids] { emit showCurvesRequested(ids.value(0)); });
    connect(compare, &QAction::triggered, this, [this, ids] { emit compareRequested(ids); });
    return menu;
}

QString RunsPanel::bestMetricText(runs::RunStore& store, qint64 run) {
    const auto summaries = store.metricSummaries(run);
    const runs::MetricSummary* best = nullptr;
    bool higher = true;
    auto pick = [&](auto predicate, bool higherIsBetter) {
        if (best) return;
        for (const auto& s : summaries)
            if (predicate(s.key)) {
                best = &s;
                higher = higherIsBetter;
                return;
            }
    };
    auto starts = [](const char* prefix) { return [prefix](const std::string& k) { return k.rfind(prefix, 0) == 0; }; };
    // A macro mean over labels before any one label's (val.auroc.<label> sorts before it).
    pick([](const std::string& k) { return k == "val.auroc_macro"; }, true);
    pick(starts("val.auroc"), true);
    pick(starts("val.acc"), true);
    pick(starts("val.f1"), true);
    pick(starts("val.dice"), true);
    pick([](const std::string& k) { return k == "val.loss"; }, false);
    pick([](const std::string& k) { return k == "loss"; }, false);
    if (!best) return {};
    return QString("%1 %2").arg(QString::fromStdString(best->key)).arg(higher ? best->max : best->min, 0, 'g', 4);
}

void RunsPanel::setStore(runs::RunStore* store) {
    store_ = store;
    bestCache_.clear();
    refresh();
}

void RunsPanel::refresh() {
    const QList<qint64> selected = selectedRunIds();
    table_->setSortingEnabled(false);
    table_->clearContents();
    table_->setRowCount(0);
    if (!store_) {
        slurmJobs_.clear();
        slurm_->setJobs({});
        return;
    }
    std::vector<runs::RunRecord> records;
    try {
        records = store_->runs();
    } catch (const std::exception& e) {
        table_->setRowCount(1);
        table_->setItem(0, kOutcome, new QTableWidgetItem(tr("Cannot read runs: %1").arg(e.what())));
        return;
    }
    table_->setRowCount(int(records.size()));
    std::vector<std::pair<qint64, bool>> toRead;  // run, finished
    for (int row = 0; row < int(records.size()); ++row) {
        const auto& r = records[size_t(row)];
        table_->setItem(row, kId, new SortKeyItem(QString::number(r.id), double(r.id)));
        table_->setItem(row, kTask, new QTableWidgetItem(QString::fromStdString(r.task)));
        table_->setItem(row, kName, new QTableWidgetItem(QString::fromStdString(r.name)));
        auto* status = new QTableWidgetItem(QString::fromStdString(runs::runStatusName(r.status)));
        status->setForeground(statusColor(r.status));
        table_->setItem(row, kStatus, status);
        table_->setItem(row, kSlurm, new QTableWidgetItem);
        auto* hash = new QTableWidgetItem(QString::fromStdString(r.configHash.substr(0, 12)));
        hash->setToolTip(QString::fromStdString(r.configHash));
        table_->setItem(row, kConfig, hash);
        const QDateTime created = QDateTime::fromMSecsSinceEpoch(r.createdAtMs);
        // The best metric aggregates every point of a run (a long run: 100k+ rows, hundreds
        // of ms): read off the GUI thread, cached once the run is over.
        const QString best = bestCache_.value(r.id);
        if (best.isNull()) {
            const bool done = runs::isTerminal(r.status);
            if (done || r.status == runs::RunStatus::Running) toRead.push_back({r.id, done});
        }
        table_->setItem(row, kBest, new QTableWidgetItem(best));
        table_->setItem(row, kCreated, new SortKeyItem(created.toString("yyyy-MM-dd HH:mm:ss"), double(r.createdAtMs)));
        const double seconds = r.finishedAtMs > 0 ? (r.finishedAtMs - r.createdAtMs) / 1000.0 : -1;
        table_->setItem(row, kDuration,
                        new SortKeyItem(seconds < 0 ? QString() : QString::number(seconds, 'f', 1) + " s", seconds));
        auto* outcome = new QTableWidgetItem(QString::fromStdString(r.outcome));
        outcome->setToolTip(QString::fromStdString(r.outcome));
        table_->setItem(row, kOutcome, outcome);
        table_->item(row, 0)->setData(Qt::UserRole, qlonglong(r.id));
    }
    followSlurmJobs(records);
    table_->setSortingEnabled(true);
    table_->resizeColumnsToContents();
    if (!selected.isEmpty()) selectRuns(selected);
    if (toRead.empty()) return;
    const std::filesystem::path database = store_->file();
    auto* watcher = new QFutureWatcher<QList<QPair<qint64, QString>>>(this);
    const runs::RunStore* asked = store_;
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, toRead, asked] {
        watcher->deleteLater();
        if (store_ != asked) return;  // another workspace by now
        const auto results = watcher->result();
        for (const auto& [id, text] : results) {
            for (const auto& [run, done] : toRead)
                if (run == id && done) bestCache_.insert(id, text);
            for (int row = 0; row < table_->rowCount(); ++row) {
                QTableWidgetItem* item = table_->item(row, kId);
                if (item && item->data(Qt::UserRole).toLongLong() == id && table_->item(row, kBest))
                    table_->item(row, kBest)->setText(text);
            }
        }
        // The values arrive after the table was sized: widen the column to them (else "val.a…").
        if (!results.isEmpty()) table_->resizeColumnToContents(kBest);
        emit bestMetricsRead();
    });
    watcher->setFuture(QtConcurrent::run([database, toRead] {
        QList<QPair<qint64, QString>> out;
        try {
            runs::RunStore store(database);  // this thread's own connection
            for (const auto& [run, done] : toRead) out.append({run, bestMetricText(store, run)});
        } catch (const std::exception&) {
            // The table shows no best value; the error surfaces when the runs are read again.
        }
        return out;
    }));
}

int RunsPanel::rowCount() const { return table_->rowCount(); }

QString RunsPanel::cellText(int row, const QString& column) const {
    const int col = int(kColumns.indexOf(column));
    if (col < 0 || row < 0 || row >= table_->rowCount() || !table_->item(row, col)) return {};
    return table_->item(row, col)->text();
}

}  // namespace lumen::widgets
