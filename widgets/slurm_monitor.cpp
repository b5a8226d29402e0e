#include "slurm_monitor.h"

#include <QDialogButtonBox>
#include <QFile>
#include <QFileInfo>
#include <QFontDatabase>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProcess>
#include <QScrollBar>
#include <QVBoxLayout>

namespace lumen::widgets {
namespace {

QStringList toQt(const std::vector<std::string>& argv) {
    QStringList out;
    for (const auto& a : argv) out << QString::fromStdString(a);
    return out;
}

bool sameState(const slurm::JobState& a, const slurm::JobState& b) {
    return a.state == b.state && a.reason == b.reason && a.source == b.source && a.problems == b.problems;
}

/// lumen-cli rewrites its progress line with '\r': of each line keep what was written last.
QString lastRewrites(const QString& text) {
    QStringList lines = text.split('\n');
    for (QString& line : lines) {
        QStringList parts = line.split('\r', Qt::SkipEmptyParts);
        line = parts.isEmpty() ? QString() : parts.back();
    }
    return lines.join('\n');
}

constexpr int kCommandTimeoutMs = 20000;  // a Slurm controller that does not answer

}  // namespace

SlurmMonitor::SlurmMonitor(QObject* parent, int intervalMs) : QObject(parent) {
    timer_.setInterval(intervalMs);
    connect(&timer_, &QTimer::timeout, this, &SlurmMonitor::pollNow);
}

SlurmMonitor::~SlurmMonitor() {
    if (process_) {
        process_->disconnect(this);
        process_->kill();
        process_->waitForFinished(1000);
    }
}

void SlurmMonitor::setJobs(const QList<qint64>& jobs) {
    bool fresh = false;
    for (qint64 job : jobs) fresh = fresh || !jobs_.contains(job);
    jobs_ = jobs;
    if (jobs_.isEmpty()) {
        timer_.stop();
        return;
    }
    if (!timer_.isActive()) timer_.start();
    if (fresh) pollNow();
}

void SlurmMonitor::pollNow() {
    if (process_ || jobs_.isEmpty()) return;
    std::vector<std::int64_t> ids(jobs_.begin(), jobs_.end());
    steps_ = {toQt(slurm::squeueJobsCommand(ids))};
    stepJobs_ = {0};
    answers_.clear();
    problems_.clear();
    runNext();
}

void SlurmMonitor::runNext() {
    if (steps_.isEmpty()) {
        finishPoll();
        return;
    }
    const QStringList argv = steps_.front();
    process_ = new QProcess(this);
    auto* p = process_;
    auto done = std::make_shared<bool>(false);
    const auto finish = [this, done](int code, bool started) {
        if (*done) return;
        *done = true;
        finishStep(code, started);
    };
    connect(p, &QProcess::finished, this, [finish, p](int code, QProcess::ExitStatus status) {
        finish(status == QProcess::NormalExit ? code : -1, true);
    });
    connect(p, &QProcess::errorOccurred, this, [finish](QProcess::ProcessError e) {
        if (e == QProcess::FailedToStart) finish(-1, false);
    });
    QTimer::singleShot(kCommandTimeoutMs, p, [p] { p->kill(); });
    p->start(argv.front(), argv.mid(1));
}

void SlurmMonitor::finishStep(int exitCode, bool started) {
    QProcess* p = process_;
    process_ = nullptr;
    p->deleteLater();
    const QStringList argv = steps_.takeFirst();
    const qint64 job = stepJobs_.takeFirst();
    const std::string out = p->readAllStandardOutput().toStdString();
    const QString err = QString::fromUtf8(p->readAllStandardError()).trimmed();
    const QString problem =
        !started ? tr("%1: could not be started (%2)").arg(argv.front(), p->errorString())
                 : tr("%1 exited with %2%3").arg(argv.join(' ')).arg(exitCode).arg(err.isEmpty() ? "" : ": " + err);
    const auto noteProblem = [this](qint64 j, const QString& text) { problems_[j] += text + "\n"; };
    const QString tool = argv.front();
    if (job == 0) {  // squeue for every job
        if (started && exitCode == 0)
            for (const auto& [id, state] : slurm::parseSqueueJobs(out)) answers_.insert(id, state);
        for (qint64 j : jobs_) {
            if (answers_.contains(j)) continue;
            noteProblem(j, started && exitCode == 0 ? tr("squeue: no state for job %1").arg(j) : problem);
            steps_ << toQt(slurm::scontrolCommand(j));
            stepJobs_ << j;
        }
    } else {
        const auto parsed = !(started && exitCode == 0) ? std::nullopt
                            : tool == "scontrol"        ? slurm::parseScontrol(out)
                                                        : slurm::parseSacct(out);
        if (parsed) {
            answers_.insert(job, *parsed);
        } else {
            noteProblem(job, started && exitCode == 0 ? tr("%1: no state for job %2").arg(tool).arg(job) : problem);
            if (tool == "scontrol") {
                steps_ << toQt(slurm::sacctCommand(job));
                stepJobs_ << job;
            }
        }
    }
    runNext();
}

void SlurmMonitor::finishPoll() {
    bool changed = false;
    for (qint64 job : jobs_) {
        slurm::JobState now = answers_.value(job);
        if (!now.known()) now.problems = problems_.value(job).toStdString();
        asked_.insert(job);
        if (!states_.contains(job) || !sameState(states_.value(job), now)) changed = true;
        states_.insert(job, now);
    }
    if (changed) emit statesChanged();
}

SlurmLogDialog::SlurmLogDialog(const QString& file, qint64 job, QWidget* parent)
    : QDialog(parent), file_(file), where_(new QLabel), text_(new QPlainTextEdit) {
    setObjectName("slurmLogDialog");
    setWindowTitle(tr("Slurm job %1: output").arg(job));
    text_->setObjectName("slurmLogText");
    text_->setReadOnly(true);
    text_->setLineWrapMode(QPlainTextEdit::NoWrap);
    text_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    where_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(where_);
    layout->addWidget(text_, 1);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::close);
    layout->addWidget(buttons);
    resize(900, 520);
    reload();
    timer_.setInterval(2000);
    connect(&timer_, &QTimer::timeout, this, &SlurmLogDialog::reload);
    timer_.start();
}

QString SlurmLogDialog::text() const { return text_->toPlainText(); }

void SlurmLogDialog::reload() {
    QFile f(file_);
    if (!f.open(QIODevice::ReadOnly)) {
        where_->setText(tr("%1 (not written yet: the job has not started)").arg(file_));
        return;
    }
    where_->setText(file_);
    if (f.size() < offset_) {  // rewritten: start again
        offset_ = 0;
        text_->clear();
    }
    if (f.size() == offset_ || !f.seek(offset_)) return;
    const QByteArray more = f.readAll();
    offset_ += more.size();
    QScrollBar* bar = text_->verticalScrollBar();
    const bool atEnd = bar->value() == bar->maximum();
    text_->moveCursor(QTextCursor::End);
    text_->insertPlainText(lastRewrites(QString::fromUtf8(more)));
    if (atEnd) bar->setValue(bar->maximum());
}

}  // namespace lumen::widgets
