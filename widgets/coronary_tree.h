#pragma once
// A coronary tree diagram: the 18 segments of the angiography model (docs/angio.md) drawn as a
// dominance-agnostic schematic (right coronary on the left, left main with LAD, circumflex and
// their branches on the right, a dashed graft), each coloured by its predicted stenosis %, with
// markers where P(CTO), P(thrombus) or P(calcification) reaches 0.5. Click a segment to select
// it (segmentClicked); hover for its five predictions; export as SVG or PNG. A head that had
// no label in training (preds.json's untrained_columns) is drawn as no prediction: grey, no marker.

#include <QWidget>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace lumen::widgets {

/// The colour of a stenosis percentage: green (0) through amber (50) to red (>= 70) and dark
/// red (100); grey when there is no prediction.
QColor stenosisColor(std::optional<double> percent);

class CoronaryTreeView : public QWidget {
    Q_OBJECT
public:
    explicit CoronaryTreeView(QWidget* parent = nullptr);

    /// Predictions by column name ("prox_lad_stenosis", "prox_lad_cto", …); missing segments are grey.
    void setPredictions(const std::map<std::string, double>& values);
    const std::map<std::string, double>& predictions() const { return values_; }
    /// Columns whose heads never saw a label: drawn grey, without markers, "untrained" in the tooltip.
    void setUntrained(const std::set<std::string>& columns);
    bool isUntrained(const QString& segment, const char* head) const;
    void setSelectedSegment(const QString& segment);
    QString selectedSegment() const { return selected_; }

    /// The segment under `pos` (widget pixels), or "" when none is within a few pixels.
    QString segmentAt(QPointF pos) const;
    /// Where segment `segment`'s middle is drawn (widget pixels); for tests and tooltips.
    QPointF segmentCentre(const QString& segment) const;
    /// The colour segment `segment` is drawn in now.
    QColor segmentColor(const QString& segment) const;
    /// The markers drawn on a segment now: any of "cto", "thrombus", "calcification".
    QStringList markers(const QString& segment) const;
    /// A one-line description of a segment's predictions (its tooltip).
    QString describe(const QString& segment) const;

    /// Writes the diagram (size × size pixels' worth) as SVG / PNG; false with `error` naming the file.
    bool exportSvg(const QString& file, QString* error = nullptr, int size = 480) const;
    bool exportPng(const QString& file, QString* error = nullptr, int size = 480) const;

    QSize sizeHint() const override { return {320, 340}; }
    QSize minimumSizeHint() const override { return {180, 170}; }

signals:
    void segmentClicked(const QString& segment);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    bool event(QEvent* event) override;

private:
    /// Draws the diagram into `area` (the legend at its bottom).
    void paint(QPainter& p, const QRectF& area) const;
    QRectF diagramRect(const QRectF& area) const;
    std::optional<double> value(const QString& segment, const char* head) const;

    std::map<std::string, double> values_;
    std::set<std::string> untrained_;
    QString selected_;
};

}  // namespace lumen::widgets
