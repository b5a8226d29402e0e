#include "jobs_panel.h"

#include "job_event_bridge.h"

#include <QHeaderView>
#include <QProgressBar>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <cmath>

namespace lumen::widgets {

QString formatDuration(double seconds) {
    if (seconds < 0 || !std::isfinite(seconds)) return QStringLiteral("—");
    const qint64 s = qint64(std::llround(seconds));
    if (s < 60) return QStringLiteral("%1 s").arg(s);
    if (s < 3600) return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
    return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QChar('0'));
}

JobsPanel::JobsPanel(QWidget* parent) : QWidget(parent), view_(new QTreeWidget(this)) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(view_);
    view_->setObjectName("jobsView");
    view_->setRootIsDecorated(false);
    view_->setUniformRowHeights(true);
    view_->setColumnCount(ColumnCount);
    view_->setHeaderLabels(
        {tr("Job"), tr("Kind"), tr("Status"), tr("Progress"), tr("ETA"), tr("GPU memory"), tr("Message"), QString()});
    view_->headerItem()->setToolTip(Gpu, tr("CUDA memory the job's tensors hold (training on a GPU; "
                                            "docs/distributed.md)"));
    view_->header()->setSectionResizeMode(Title, QHeaderView::Interactive);
    view_->header()->setSectionResizeMode(Message, QHeaderView::Stretch);
    view_->header()->setStretchLastSection(false);
    view_->setColumnWidth(Title, 220);
    view_->setColumnWidth(Kind, 70);
    view_->setColumnWidth(Status, 80);
    view_->setColumnWidth(Progress, 140);
    view_->setColumnWidth(Eta, 90);
    view_->setColumnWidth(Gpu, 90);
    view_->setColumnWidth(Cancel, 70);
}

void JobsPanel::attach(JobEventBridge* bridge) {
    connect(bridge, &JobEventBridge::started, this, &JobsPanel::onStarted);
    connect(bridge, &JobEventBridge::progress, this, &JobsPanel::onProgress);
    connect(bridge, &JobEventBridge::metric, this, [this](quint64 job, const QString& key, qint64, double value) {
        if (key != QLatin1String("gpu_memory_mb")) return;
        auto it = rows_.find(job);
        if (it != rows_.end()) it->item->setText(Gpu, QStringLiteral("%1 MB").arg(value, 0, 'f', 0));
    });
    connect(bridge, &JobEventBridge::finished, this, [this](quint64 job, const QString& result) {
        onEnded(job, tr("finished"), result, QColor(0x1b, 0x7f, 0x3b), true);
    });
    connect(bridge, &JobEventBridge::failed, this, [this](quint64 job, const QString& error) {
        onEnded(job, tr("failed"), error, QColor(0xc0, 0x1c, 0x28), false);
    });
    connect(bridge, &JobEventBridge::cancelled, this,
            [this](quint64 job) { onEnded(job, tr("cancelled"), tr("cancelled"), QColor(0x9a, 0x67, 0x00), false); });
}

void JobsPanel::addJob(quint64 job, const QString& kind, const QString& title) {
    if (rows_.contains(job)) return;
    Row row;
    row.item = new QTreeWidgetItem(view_);
    row.item->setText(Title, title);
    row.item->setToolTip(Title, tr("Job %1: %2").arg(job).arg(title));
    row.item->setText(Kind, kind);
    row.item->setText(Status, tr("queued"));
    row.item->setText(Eta, QStringLiteral("—"));
    row.item->setText(Gpu, QStringLiteral("—"));
    row.bar = new QProgressBar;
    row.bar->setRange(0, 1000);
    row.bar->setValue(0);
    row.bar->setFormat(QStringLiteral("%p%"));
    view_->setItemWidget(row.item, Progress, row.bar);
    auto* cancel = new QToolButton;
    cancel->setText(tr("Cancel"));
    cancel->setToolTip(tr("Stop this job"));
    cancel->setAutoRaise(true);
    connect(cancel, &QToolButton::clicked, this, [this, job, cancel] {
        cancel->setEnabled(false);
        cancel->setText(tr("Stopping"));
        emit cancelRequested(job);
    });
    row.cancel = cancel;
    view_->setItemWidget(row.item, Cancel, cancel);
    rows_.insert(job, row);
    emit runningCountChanged(runningCount());
}

void JobsPanel::onStarted(quint64 job) {
    auto it = rows_.find(job);
    if (it == rows_.end()) return;
    it->item->setText(Status, tr("running"));
}

void JobsPanel::onProgress(quint64 job, double fraction, const QString& message, double eta) {
    auto it = rows_.find(job);
    if (it == rows_.end() || it->ended) return;
    it->bar->setValue(int(std::lround(fraction * 1000)));
    it->item->setText(Eta, formatDuration(eta));
    if (!message.isEmpty()) {
        it->item->setText(Message, message);
        it->item->setToolTip(Message, message);
    }
}

void JobsPanel::onEnded(quint64 job, const QString& status, const QString& detail, const QColor& color, bool complete) {
    auto it = rows_.find(job);
    if (it == rows_.end() || it->ended) return;
    it->ended = true;
    it->item->setText(Status, status);
    it->item->setForeground(Status, color);
    it->item->setText(Eta, QString());
    it->item->setText(Message, detail);
    it->item->setToolTip(Message, detail);
    if (complete) it->bar->setValue(it->bar->maximum());
    it->cancel->setEnabled(false);
    it->cancel->setText(QString());
    emit runningCountChanged(runningCount());
}

int JobsPanel::jobCount() const { return int(rows_.size()); }

int JobsPanel::runningCount() const {
    int n = 0;
    for (const auto& row : rows_) n += row.ended ? 0 : 1;
    return n;
}

QString JobsPanel::statusText(quint64 job) const {
    auto it = rows_.find(job);
    return it == rows_.end() ? QString() : it->item->text(Status);
}

int JobsPanel::progressPercent(quint64 job) const {
    auto it = rows_.find(job);
    return it == rows_.end() ? -1 : it->bar->value() / 10;
}

QString JobsPanel::gpuMemoryText(quint64 job) const {
    auto it = rows_.find(job);
    return it == rows_.end() ? QString() : it->item->text(Gpu);
}

QString JobsPanel::etaText(quint64 job) const {
    auto it = rows_.find(job);
    return it == rows_.end() ? QString() : it->item->text(Eta);
}

QString JobsPanel::messageText(quint64 job) const {
    auto it = rows_.find(job);
    return it == rows_.end() ? QString() : it->item->text(Message);
}

QAbstractButton* JobsPanel::cancelButton(quint64 job) const {
    auto it = rows_.find(job);
    return it == rows_.end() ? nullptr : it->cancel;
}

}  // namespace lumen::widgets
