#include "study_boxes.h"

#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <filesystem>

namespace lumen::widgets {

std::vector<OverlayBox> studyBoxes(const explain::BoxTable& table, const std::string& id, const std::string& label) {
    const std::string name = std::filesystem::path(id).filename().string();
    bool exact = false;
    for (const auto& b : table.boxes) exact = exact || b.image == id;
    std::vector<OverlayBox> out;
    for (const auto& b : table.boxes)
        if (b.image == (exact ? id : name))
            out.push_back({QRectF(b.x, b.y, b.w, b.h), QString::fromStdString(b.label), b.label == label});
    return out;
}

BoxEvaluationDialog::BoxEvaluationDialog(QWidget* parent) : QDialog(parent) {
    setObjectName("boxEvaluationDialog");
    setWindowTitle(tr("CAMs against annotated boxes"));
    auto* layout = new QVBoxLayout(this);
    table_ = new QTableWidget(0, 11);
    table_->setObjectName("boxEvaluationTable");
    table_->setHorizontalHeaderLabels({tr("label"), tr("CAMs"), tr("boxes"), tr("pointing"), tr("mean IoU"),
                                       tr("AP@0.5"), tr("AP@0.75"), tr("control\npointing"), tr("control\nIoU"),
                                       tr("control\nAP@0.5"), tr("control\nAP@0.75")});
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->setVisible(false);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    note_ = new QLabel;
    note_->setObjectName("boxEvaluationNote");
    note_->setWordWrap(true);
    note_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(table_, 1);
    layout->addWidget(note_);
    resize(900, 420);
}

void BoxEvaluationDialog::setReport(const explain::LocalisationReport& r) {
    std::vector<explain::LabelResult> rows = r.labels;
    rows.push_back(r.overall);
    table_->setRowCount(int(rows.size()));
    QFont bold = table_->font();
    bold.setBold(true);
    for (int i = 0; i < int(rows.size()); ++i) {
        const auto& l = rows[std::size_t(i)];
        const auto num = [](double v) { return QString::number(v, 'f', 3); };
        QStringList cells{QString::fromStdString(l.label),
                          QString::number(l.real.cams),
                          QString::number(l.real.boxes),
                          num(l.real.pointing),
                          num(l.real.meanIou),
                          num(l.real.ap50),
                          num(l.real.ap75)};
        if (l.control)
            cells << num(l.control->pointing) << num(l.control->meanIou) << num(l.control->ap50)
                  << num(l.control->ap75);
        else cells << QStringLiteral("—") << QStringLiteral("—") << QStringLiteral("—") << QStringLiteral("—");
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            if (c > 0) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            if (c >= 7) item->setForeground(QColor(120, 120, 120));
            if (i + 1 == int(rows.size())) item->setFont(bold);
            table_->setItem(i, c, item);
        }
    }
    // Tall enough for every row (up to 15 labels) and the note, so "all" shows without scrolling.
    const int rowsShown = std::min(int(rows.size()), 16);
    resize(std::max(width(), 900), table_->horizontalHeader()->sizeHint().height() +
                                       rowsShown * table_->verticalHeader()->defaultSectionSize() + 110);
    note_->setText(tr("%1 CAMs with boxes, %2 CAMs without, %3 boxes without a CAM. Pointing game: the CAM's "
                      "hottest pixel inside a box; IoU: box around the largest region ≥ %4 of the normalised CAM; "
                      "AP over images (one box per CAM, scored by its probability). Control: each CAM against "
                      "another image's boxes of the same label. Boxes: %5. Written: %6")
                       .arg(r.pairs.size())
                       .arg(r.camsWithoutBoxes)
                       .arg(r.boxesWithoutCam)
                       .arg(r.threshold)
                       .arg(QString::fromStdString(r.boxesFile.string()),
                            QString::fromStdString((r.cacheDir / "localisation.json").string())));
}

QString BoxEvaluationDialog::noteText() const { return note_->text(); }

}  // namespace lumen::widgets
