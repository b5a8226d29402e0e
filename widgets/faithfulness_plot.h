#pragma once
// The faithfulness plot of an ROI-consistency predictions table: P(full) on x against
// P(drop) (the probability with the mask's region removed) on y, one dot per study, for one
// label at a time. Dots below the identity line lost probability when the region was dropped:
// the mask held what the classifier used. A click on a dot selects that study.

#include "data/numeric_table.h"

#include <QString>
#include <QStringList>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

class QComboBox;
class QCustomPlot;
class QLabel;

namespace lumen::widgets {

class FaithfulnessPlot : public QWidget {
    Q_OBJECT
public:
    explicit FaithfulnessPlot(QWidget* parent = nullptr);
    ~FaithfulnessPlot() override;

    /// Uses `table`'s `<Label>.prob_full` / `<Label>.prob_drop` pairs; the label chooser lists
    /// the labels that have both. Null clears.
    void setTable(std::shared_ptr<const data::NumericTable> table);
    QStringList labels() const;
    /// Shows `label` (as written in the columns); false if the table has no such pair.
    bool setLabel(const QString& label);
    QString label() const;

    int pointCount() const { return int(points_.size()); }
    /// The study drawn within a few pixels of `pixel` (plot widget coordinates), nearest first.
    std::optional<QString> studyAt(const QPoint& pixel) const;
    /// Plot-widget pixel of the dot of `id` (nullopt when it has no dot).
    std::optional<QPoint> pixelOf(const QString& id) const;
    /// Rings the dot of `id` (empty: none).
    void setHighlighted(const QString& id);
    QString highlighted() const { return highlighted_; }

    QCustomPlot* plot() const { return plot_; }
    QComboBox* labelBox() const { return labelBox_; }

signals:
    void studyClicked(const QString& id);
    void labelChanged(const QString& label);

private:
    struct Point {
        QString id;
        double full = 0, drop = 0;
    };
    void rebuild();

    QComboBox* labelBox_;
    QLabel* info_;
    QCustomPlot* plot_;
    std::shared_ptr<const data::NumericTable> table_;
    std::vector<Point> points_;
    QString highlighted_;
    QPoint pressedAt_;
};

}  // namespace lumen::widgets
