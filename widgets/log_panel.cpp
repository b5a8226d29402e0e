#include "log_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace lumen::widgets {
namespace {
const char* kLevelNames[] = {"debug", "info", "warning", "error"};
}

LogPanel::LogPanel(QWidget* parent) : QWidget(parent), levelBox_(new QComboBox(this)), text_(new QPlainTextEdit(this)) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Show from level:"), this));
    levelBox_->setObjectName("logLevel");
    for (const char* name : kLevelNames) levelBox_->addItem(tr(name));
    levelBox_->setCurrentIndex(minimumLevel_);
    bar->addWidget(levelBox_);
    bar->addStretch();
    auto* clearButton = new QPushButton(tr("Clear"), this);
    bar->addWidget(clearButton);
    layout->addLayout(bar);
    text_->setObjectName("logText");
    text_->setReadOnly(true);
    text_->setMaximumBlockCount(kMaxEntries);
    text_->setLineWrapMode(QPlainTextEdit::NoWrap);
    QFont mono(QStringLiteral("Monospace"));
    mono.setStyleHint(QFont::TypeWriter);
    text_->setFont(mono);
    layout->addWidget(text_);
    connect(levelBox_, &QComboBox::currentIndexChanged, this, &LogPanel::setMinimumLevel);
    connect(clearButton, &QPushButton::clicked, this, &LogPanel::clear);
}

QString LogPanel::format(const Entry& e) const {
    return QStringLiteral("%1 %2 [%3] %4")
        .arg(e.time.toString("HH:mm:ss"), QString(kLevelNames[std::clamp(e.level, 0, 3)]).leftJustified(7), e.source,
             e.message);
}

void LogPanel::append(jobs::LogLevel logLevel, const QString& source, const QString& message) {
    const int level = static_cast<int>(logLevel);
    Entry e{QDateTime::currentDateTime(), level, source, message};
    entries_.push_back(e);
    if (entries_.size() > kMaxEntries) entries_.remove(0, entries_.size() - kMaxEntries);
    if (level >= minimumLevel_) text_->appendPlainText(format(e));
}

void LogPanel::setMinimumLevel(int level) {
    minimumLevel_ = std::clamp(level, 0, 3);
    if (levelBox_->currentIndex() != minimumLevel_) levelBox_->setCurrentIndex(minimumLevel_);
    rebuild();
}

void LogPanel::rebuild() {
    text_->clear();
    QStringList lines;
    for (const auto& e : entries_)
        if (e.level >= minimumLevel_) lines << format(e);
    if (!lines.isEmpty()) text_->setPlainText(lines.join('\n'));
}

QString LogPanel::visibleText() const { return text_->toPlainText(); }

void LogPanel::clear() {
    entries_.clear();
    text_->clear();
}

}  // namespace lumen::widgets
