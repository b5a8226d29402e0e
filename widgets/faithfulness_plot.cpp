#include "faithfulness_plot.h"

#include "data/column_names.h"
#include "plot_export.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QToolButton>
#include <QVBoxLayout>

#include <cmath>
#include <limits>

namespace lumen::widgets {

FaithfulnessPlot::FaithfulnessPlot(QWidget* parent)
    : QWidget(parent), labelBox_(new QComboBox), info_(new QLabel), plot_(new QCustomPlot) {
    setObjectName("faithfulnessPlot");
    labelBox_->setObjectName("faithfulnessLabel");
    plot_->setObjectName("faithfulnessCustomPlot");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Faithfulness of")));
    bar->addWidget(labelBox_, 1);
    auto* exportButton = new QToolButton;
    exportButton->setText(tr("Export…"));
    bar->addWidget(exportButton);
    layout->addLayout(bar);
    layout->addWidget(plot_, 1);
    info_->setObjectName("faithfulnessInfo");
    info_->setWordWrap(true);
    layout->addWidget(info_);

    plot_->setMinimumHeight(180);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->xAxis->setLabel(tr("P(full)"));
    plot_->yAxis->setLabel(tr("P(drop) — region removed"));
    auto* identity = plot_->addGraph();
    identity->setPen(QPen(QColor(150, 150, 150), 1, Qt::DashLine));
    identity->setData({0, 1}, {0, 1});
    auto* dots = plot_->addGraph();
    dots->setLineStyle(QCPGraph::lsNone);
    dots->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(31, 119, 180, 170), 6));
    auto* ring = plot_->addGraph();
    ring->setLineStyle(QCPGraph::lsNone);
    ring->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(214, 39, 40), 2), Qt::NoBrush, 14));
    plot_->xAxis->setRange(-0.02, 1.02);
    plot_->yAxis->setRange(-0.02, 1.02);

    connect(labelBox_, &QComboBox::currentIndexChanged, this, [this] {
        rebuild();
        emit labelChanged(label());
    });
    connect(exportButton, &QToolButton::clicked, this,
            [this] { exportPlotInteractively(plot_, this, "faithfulness_" + label() + ".png"); });
    connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) { pressedAt_ = e->position().toPoint(); });
    connect(plot_, &QCustomPlot::mouseRelease, this, [this](QMouseEvent* e) {
        // A click, not the end of a drag.
        if (e->button() != Qt::LeftButton || (e->position().toPoint() - pressedAt_).manhattanLength() >= 4) return;
        if (const auto id = studyAt(e->position().toPoint())) {
            setHighlighted(*id);
            emit studyClicked(*id);
        }
    });
    connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this] {
        plot_->xAxis->setRange(-0.02, 1.02);
        plot_->yAxis->setRange(-0.02, 1.02);
        plot_->replot();
    });
}

FaithfulnessPlot::~FaithfulnessPlot() = default;

void FaithfulnessPlot::setTable(std::shared_ptr<const data::NumericTable> table) {
    table_ = std::move(table);
    const QString previous = label();
    QSignalBlocker block(labelBox_);
    labelBox_->clear();
    if (table_) {
        for (const auto& c : table_->columns) {
            const auto parts = data::splitColumn(c);
            if (parts.measure != "prob_full" || table_->columnIndex(parts.label + ".prob_drop") < 0) continue;
            labelBox_->addItem(QString::fromStdString(data::humanLabelName(parts.label)),
                               QString::fromStdString(parts.label));
        }
    }
    const int keep = labelBox_->findData(previous);
    labelBox_->setCurrentIndex(keep >= 0 ? keep : 0);
    rebuild();
}

QStringList FaithfulnessPlot::labels() const {
    QStringList out;
    for (int i = 0; i < labelBox_->count(); ++i) out << labelBox_->itemData(i).toString();
    return out;
}

bool FaithfulnessPlot::setLabel(const QString& label) {
    const int i = labelBox_->findData(label);
    if (i < 0) return false;
    labelBox_->setCurrentIndex(i);
    return true;
}

QString FaithfulnessPlot::label() const { return labelBox_->currentData().toString(); }

void FaithfulnessPlot::rebuild() {
    points_.clear();
    QVector<double> xs, ys;
    const QString l = label();
    if (table_ && !l.isEmpty()) {
        const int f = table_->columnIndex(l.toStdString() + ".prob_full");
        const int d = table_->columnIndex(l.toStdString() + ".prob_drop");
        if (f >= 0 && d >= 0) {
            for (std::size_t r = 0; r < table_->rowCount(); ++r) {
                const double x = table_->values[std::size_t(f)][r], y = table_->values[std::size_t(d)][r];
                if (std::isnan(x) || std::isnan(y)) continue;
                points_.push_back({QString::fromStdString(table_->ids[r]), x, y});
            }
        }
    }
    // QCPGraph sorts by key; the points_ vector keeps (id, x, y) for the look-up.
    for (const auto& p : points_) {
        xs << p.full;
        ys << p.drop;
    }
    plot_->graph(1)->setData(xs, ys);
    int below = 0;
    double meanFaith = 0;
    for (const auto& p : points_) {
        below += p.drop < p.full;
        meanFaith += p.full - p.drop;
    }
    if (points_.empty())
        info_->setText(table_ ? tr("No <label>.prob_full / .prob_drop columns in this table.") : QString());
    else
        info_->setText(tr("%1 studies; %2 below the line (dropping the region lowered P); mean faithfulness %3")
                           .arg(points_.size())
                           .arg(below)
                           .arg(meanFaith / double(points_.size()), 0, 'f', 3));
    setHighlighted(highlighted_);
}

void FaithfulnessPlot::setHighlighted(const QString& id) {
    highlighted_ = id;
    QVector<double> xs, ys;
    for (const auto& p : points_)
        if (p.id == id) {
            xs << p.full;
            ys << p.drop;
        }
    plot_->graph(2)->setData(xs, ys);
    plot_->replot();
}

std::optional<QString> FaithfulnessPlot::studyAt(const QPoint& pixel) const {
    double best = 7.0 * 7.0;
    std::optional<QString> found;
    for (const auto& p : points_) {
        const double dx = plot_->xAxis->coordToPixel(p.full) - pixel.x();
        const double dy = plot_->yAxis->coordToPixel(p.drop) - pixel.y();
        if (dx * dx + dy * dy <= best) {
            best = dx * dx + dy * dy;
            found = p.id;
        }
    }
    return found;
}

std::optional<QPoint> FaithfulnessPlot::pixelOf(const QString& id) const {
    for (const auto& p : points_)
        if (p.id == id)
            return QPoint(int(std::lround(plot_->xAxis->coordToPixel(p.full))),
                          int(std::lround(plot_->yAxis->coordToPixel(p.drop))));
    return std::nullopt;
}

}  // namespace lumen::widgets
