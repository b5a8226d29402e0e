#include "coronary_tree.h"

#include "data/column_names.h"
#include "util/atomic_file.h"

#include <QBuffer>
#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QSvgGenerator>
#include <QToolTip>

#include <array>
#include <cmath>
#include <stdexcept>

namespace lumen::widgets {
namespace {

struct SegmentShape {
    const char* key;
    std::array<QPointF, 3> points;  // a quadratic curve in a 100 x 100 diagram
    double width;                   // stroke width in diagram units
    bool graft = false;
};

// Right coronary on the left of the diagram, the left system on the right, a graft dashed
// from the top right onto the mid LAD. Schematic, not any one patient's dominance.
const std::array<SegmentShape, 18> kShapes{{
    {"prox_rca", {{{34, 9}, {18, 12}, {12, 30}}}, 4.2},
    {"mid_rca", {{{12, 30}, {8, 47}, {14, 62}}}, 3.8},
    {"dist_rca", {{{14, 62}, {20, 77}, {34, 82}}}, 3.4},
    {"pda", {{{34, 82}, {46, 86}, {54, 96}}}, 2.4},
    {"posterolateral", {{{34, 82}, {30, 90}, {22, 97}}}, 2.4},
    {"lvp", {{{30, 90}, {38, 94}, {40, 99}}}, 1.8},
    {"left_main", {{{50, 9}, {55, 11}, {60, 15}}}, 4.6},
    {"prox_lad", {{{60, 15}, {70, 24}, {73, 36}}}, 4.0},
    {"mid_lad", {{{73, 36}, {78, 50}, {80, 64}}}, 3.4},
    {"dist_lad", {{{80, 64}, {83, 80}, {84, 95}}}, 2.6},
    {"D1", {{{73, 34}, {85, 36}, {94, 44}}}, 2.2},
    {"D2", {{{79, 58}, {89, 61}, {96, 70}}}, 2.0},
    {"lcx", {{{60, 15}, {62, 28}, {57, 40}}}, 3.6},
    {"dist_lcx", {{{57, 40}, {52, 55}, {51, 70}}}, 2.8},
    {"om1", {{{59, 33}, {65, 42}, {65, 54}}}, 2.2},
    {"om2", {{{54, 52}, {60, 62}, {60, 74}}}, 2.0},
    {"bx", {{{60, 15}, {66, 24}, {67, 31}}}, 2.0},
    {"lima_or_svg", {{{92, 6}, {88, 30}, {79, 52}}}, 2.2, true},
}};

const SegmentShape* shapeOf(const QString& key) {
    for (const auto& s : kShapes)
        if (key == QLatin1String(s.key)) return &s;
    return nullptr;
}

QPointF onCurve(const SegmentShape& s, double t) {
    const double u = 1 - t;
    return u * u * s.points[0] + 2 * u * t * s.points[1] + t * t * s.points[2];
}

QPointF mapPoint(const QRectF& r, QPointF p) {
    return {r.left() + p.x() / 100 * r.width(), r.top() + p.y() / 100 * r.height()};
}

QPainterPath curve(const SegmentShape& s, const QRectF& r) {
    QPainterPath path(mapPoint(r, s.points[0]));
    path.quadTo(mapPoint(r, s.points[1]), mapPoint(r, s.points[2]));
    return path;
}

// Writes `data` to `file` atomically; false with `error` naming the file.
bool writeAtomically(const QString& file, const QByteArray& data, QString* error) {
    try {
        util::writeFileAtomically(file.toStdString(), data.toStdString());
    } catch (const std::exception& e) {
        if (error) *error = QString::fromStdString(e.what());
        return false;
    }
    return true;
}

QColor mix(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * t),
                            float(a.greenF() + (b.greenF() - a.greenF()) * t),
                            float(a.blueF() + (b.blueF() - a.blueF()) * t));
}

// The markers, drawn alike on the tree and in its legend; `u` is the diagram's unit.
void drawCtoBar(QPainter& p, QPointF c, QPointF normal, double u) {  // a bar across the vessel
    p.setPen(QPen(Qt::black, 1.6 * u, Qt::SolidLine, Qt::FlatCap));
    p.drawLine(c - normal * 3.2 * u, c + normal * 3.2 * u);
}

const QColor kThrombusBlue(40, 90, 220);

void drawThrombusDot(QPainter& p, QPointF at, double u) {
    p.setPen(QPen(Qt::white, 0.4 * u));
    p.setBrush(kThrombusBlue);
    p.drawEllipse(at, 1.4 * u, 1.4 * u);
}

void drawCalciumRing(QPainter& p, QPointF at, double u) {  // white edged dark: seen on the vessel and off it
    p.setPen(QPen(QColor(40, 40, 40), 0.5 * u));
    p.setBrush(Qt::white);
    p.drawEllipse(at, 1.5 * u, 1.5 * u);
}

}  // namespace

QColor stenosisColor(std::optional<double> percent) {
    if (!percent || !std::isfinite(*percent)) return QColor(150, 150, 150);
    const double s = std::clamp(*percent, 0.0, 100.0);
    const QColor green(46, 160, 67), amber(240, 190, 40), red(214, 39, 40), dark(110, 10, 20);
    if (s < 50) return mix(green, amber, s / 50);
    if (s < 70) return mix(amber, red, (s - 50) / 20);
    return mix(red, dark, (s - 70) / 30);
}

CoronaryTreeView::CoronaryTreeView(QWidget* parent) : QWidget(parent) {
    setObjectName("coronaryTree");
    setMouseTracking(true);
    setAttribute(Qt::WA_Hover);
}

void CoronaryTreeView::setPredictions(const std::map<std::string, double>& values) {
    values_ = values;
    update();
}

void CoronaryTreeView::setSelectedSegment(const QString& segment) {
    selected_ = segment;
    update();
}

void CoronaryTreeView::setUntrained(const std::set<std::string>& columns) {
    untrained_ = columns;
    update();
}

bool CoronaryTreeView::isUntrained(const QString& segment, const char* head) const {
    return untrained_.count(segment.toStdString() + "_" + head) > 0;
}

std::optional<double> CoronaryTreeView::value(const QString& segment, const char* head) const {
    if (isUntrained(segment, head)) return std::nullopt;
    const auto it = values_.find(segment.toStdString() + "_" + head);
    if (it == values_.end() || !std::isfinite(it->second)) return std::nullopt;
    return it->second;
}

QColor CoronaryTreeView::segmentColor(const QString& segment) const {
    return stenosisColor(value(segment, "stenosis"));
}

QStringList CoronaryTreeView::markers(const QString& segment) const {
    QStringList out;
    const auto at = [&](const char* head) { return value(segment, head).value_or(0) >= 0.5; };
    if (at("cto")) out << "cto";
    if (at("thrombus")) out << "thrombus";
    if (at("calcif_binary")) out << "calcification";
    return out;
}

QString CoronaryTreeView::describe(const QString& segment) const {
    QString text = QString::fromStdString(data::humanLabelName(segment.toStdString()));
    const auto part = [&](const char* head, const QString& name, bool percent) {
        const auto v = value(segment, head);
        text += QString(", %1 %2").arg(name,
                                       v ? (percent ? QString::number(*v, 'f', 0) + " %" : QString::number(*v, 'f', 2))
                                       : isUntrained(segment, head) ? tr("untrained")
                                                                    : QStringLiteral("–"));
    };
    part("stenosis", "stenosis", true);
    part("stenosis_binary", "P(≥70 %)", false);
    part("calcif_binary", "P(calcif.)", false);
    part("cto", "P(CTO)", false);
    part("thrombus", "P(thrombus)", false);
    return text;
}

QRectF CoronaryTreeView::diagramRect(const QRectF& area) const {
    // Square, above a legend strip of 34 pixels.
    const double legend = 46;
    const double side = std::max(10.0, std::min(area.width(), area.height() - legend) - 8);
    return {area.left() + (area.width() - side) / 2, area.top() + 4, side, side};
}

QString CoronaryTreeView::segmentAt(QPointF pos) const {
    const QRectF r = diagramRect(rect());
    QString best;
    double bestDistance = std::max(6.0, r.width() * 0.03);
    for (const auto& s : kShapes)
        for (int k = 0; k <= 40; ++k) {
            const QPointF p = mapPoint(r, onCurve(s, k / 40.0));
            const double d = std::hypot(p.x() - pos.x(), p.y() - pos.y());
            if (d < bestDistance) bestDistance = d, best = QString::fromLatin1(s.key);
        }
    return best;
}

QPointF CoronaryTreeView::segmentCentre(const QString& segment) const {
    const auto* s = shapeOf(segment);
    return s ? mapPoint(diagramRect(rect()), onCurve(*s, 0.5)) : QPointF();
}

void CoronaryTreeView::paint(QPainter& p, const QRectF& area) const {
    p.setRenderHint(QPainter::Antialiasing);
    const QRectF r = diagramRect(area);
    const double unit = r.width() / 100;
    for (int pass = 0; pass < 2; ++pass)  // dark casing first, then the colours on top
        for (const auto& s : kShapes) {
            const QString key = QString::fromLatin1(s.key);
            const bool selected = key == selected_;
            QPen pen(pass == 0 ? (selected ? QColor(30, 120, 255) : QColor(40, 40, 40)) : segmentColor(key));
            pen.setWidthF((s.width + (pass == 0 ? (selected ? 2.6 : 0.9) : 0)) * unit);
            pen.setCapStyle(Qt::RoundCap);
            if (s.graft) pen.setStyle(pass == 0 ? Qt::SolidLine : Qt::DashLine);
            p.setPen(pen);
            p.setBrush(Qt::NoBrush);
            p.drawPath(curve(s, r));
        }
    for (const auto& s : kShapes) {
        const QString key = QString::fromLatin1(s.key);
        const auto m = markers(key);
        const QPointF c = mapPoint(r, onCurve(s, 0.5));
        const QPointF a = mapPoint(r, onCurve(s, 0.45)), b = mapPoint(r, onCurve(s, 0.55));
        const double len = std::max(1e-6, std::hypot(b.x() - a.x(), b.y() - a.y()));
        const QPointF normal((a.y() - b.y()) / len, (b.x() - a.x()) / len);
        if (m.contains("cto")) drawCtoBar(p, c, normal, unit);
        if (m.contains("thrombus")) drawThrombusDot(p, c + normal * 3.6 * unit, unit);
        if (m.contains("calcification")) drawCalciumRing(p, c - normal * 3.8 * unit, unit);
    }
    // Legend: the colour scale, then the markers.
    const double y = r.bottom() + 8;
    const QRectF bar(area.left() + 8, y, std::min(160.0, area.width() * 0.45), 8);
    for (int i = 0; i < int(bar.width()); ++i)
        p.fillRect(QRectF(bar.left() + i, bar.top(), 1.2, bar.height()), stenosisColor(100.0 * i / bar.width()));
    p.setPen(palette().color(QPalette::WindowText));
    QFont f = p.font();
    f.setPointSizeF(7.5);
    p.setFont(f);
    p.drawText(QPointF(bar.left(), bar.bottom() + 11), "0");
    p.drawText(QPointF(bar.left() + bar.width() * 0.7 - 6, bar.bottom() + 11), "70");
    p.drawText(QPointF(bar.right() - 16, bar.bottom() + 11), "100");
    p.drawText(QPointF(bar.right() + 8, bar.bottom()), "% stenosis");
    // The markers' key, each drawn as on the tree (a legend unit of at least 1.6 px).
    const double lu = std::max(1.6, unit), row = bar.bottom() + 20;
    double x = bar.left() + 2;
    const auto label = [&](const QString& text) {
        p.setPen(palette().color(QPalette::WindowText));
        p.drawText(QPointF(x, row + 4), text);
        x += p.fontMetrics().horizontalAdvance(text) + 12;
    };
    drawCtoBar(p, {x + lu, row}, {0, 1}, lu * 0.8);
    x += 2 * lu + 4;
    label("CTO");
    drawThrombusDot(p, {x + 1.5 * lu, row}, lu);
    x += 3 * lu + 4;
    label("thrombus");
    drawCalciumRing(p, {x + 1.5 * lu, row}, lu);
    x += 3 * lu + 4;
    label("calcification");
    label("- - graft");
    if (!untrained_.empty()) label("grey: untrained");
}

void CoronaryTreeView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().color(QPalette::Base).darker(values_.empty() ? 100 : 104));
    paint(p, rect());
    if (values_.empty()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect().adjusted(0, 0, 0, -40), Qt::AlignCenter, tr("No predictions for this study"));
    }
}

void CoronaryTreeView::mousePressEvent(QMouseEvent* event) {
    const QString s = segmentAt(event->position());
    if (s.isEmpty()) return QWidget::mousePressEvent(event);
    setSelectedSegment(s);
    emit segmentClicked(s);
}

bool CoronaryTreeView::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(e);
        const QString s = segmentAt(help->pos());
        if (s.isEmpty()) QToolTip::hideText();
        else QToolTip::showText(help->globalPos(), describe(s), this);
        return true;
    }
    return QWidget::event(e);
}

bool CoronaryTreeView::exportSvg(const QString& file, QString* error, int size) const {
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    QSvgGenerator svg;
    svg.setOutputDevice(&buffer);
    svg.setSize(QSize(size, size + 52));
    svg.setViewBox(QRect(0, 0, size, size + 52));
    svg.setTitle("Coronary tree");
    svg.setDescription("Predicted stenosis per coronary segment (Lumen)");
    {
        QPainter p(&svg);
        p.fillRect(QRectF(0, 0, size, size + 52), Qt::white);
        paint(p, QRectF(0, 0, size, size + 52));
    }
    return writeAtomically(file, buffer.data(), error);
}

bool CoronaryTreeView::exportPng(const QString& file, QString* error, int size) const {
    QImage img(size, size + 52, QImage::Format_ARGB32);
    img.fill(Qt::white);
    {
        QPainter p(&img);
        paint(p, QRectF(0, 0, size, size + 52));
    }
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    if (!img.save(&buffer, "PNG")) {
        if (error) *error = tr("cannot encode %1 as PNG").arg(file);
        return false;
    }
    return writeAtomically(file, buffer.data(), error);
}

}  // namespace lumen::widgets
