#include "card_render.h"

#include "util/atomic_file.h"

#include <QBuffer>
#include <QFontMetrics>
#include <QPageLayout>
#include <QPageSize>
#include <QPainter>
#include <QPainterPath>
#include <QPdfWriter>
#include <QTextDocument>
#include <QUrl>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lumen::widgets {
namespace {

const QColor kPalette[] = {QColor(31, 119, 180),  QColor(255, 127, 14), QColor(44, 160, 44),   QColor(214, 39, 40),
                           QColor(148, 103, 189), QColor(140, 86, 75),  QColor(227, 119, 194), QColor(127, 127, 127),
                           QColor(188, 189, 34),  QColor(23, 190, 207)};

struct Range {
    double lo = 0, hi = 1;
};

Range dataRange(const report::Plot& plot, bool x) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& s : plot.series)
        for (double v : x ? s.x : s.y)
            if (std::isfinite(v)) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
    if (!std::isfinite(lo)) return {0, 1};
    if (plot.kind == report::Plot::Kind::Bars && !x) lo = 0;
    if (hi <= lo) {
        lo -= 0.5;
        hi += 0.5;
    }
    const double pad = plot.kind == report::Plot::Kind::Bars && !x ? 0.0 : 0.03 * (hi - lo);
    return {lo - pad, hi + (plot.kind == report::Plot::Kind::Bars && !x ? 0.05 * (hi - lo) : pad)};
}

QString tickText(double v, double step) {
    const int decimals = step >= 1 ? 0 : std::min(6, int(std::ceil(-std::log10(step))));
    return QString::number(v, 'f', decimals);
}

double niceStep(double span) {
    const double raw = span / 5;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * p >= raw) return m * p;
    return 10 * p;
}

struct Frame {
    QRectF area;
    Range x, y;
    QPointF map(double vx, double vy) const {
        return {area.left() + (vx - x.lo) / (x.hi - x.lo) * area.width(),
                area.bottom() - (vy - y.lo) / (y.hi - y.lo) * area.height()};
    }
};

void drawAxes(QPainter& p, const report::Plot& plot, const Frame& f, QSize size) {
    const QFontMetrics fm(p.font());
    p.setPen(QPen(Qt::black, 1));
    p.drawRect(f.area);
    for (int axis = 0; axis < 2; ++axis) {
        const Range r = axis == 0 ? f.x : f.y;
        const double step = niceStep(r.hi - r.lo);
        for (double v = std::ceil(r.lo / step) * step; v <= r.hi + 1e-12 * step; v += step) {
            const QString text = tickText(std::abs(v) < 1e-12 * step ? 0.0 : v, step);
            if (axis == 0) {
                const QPointF at = f.map(v, f.y.lo);
                p.setPen(QPen(QColor(225, 225, 225), 1));
                p.drawLine(QPointF(at.x(), f.area.top()), at);
                p.setPen(Qt::black);
                p.drawText(QRectF(at.x() - 40, at.y() + 4, 80, fm.height()), Qt::AlignHCenter, text);
            } else {
                const QPointF at = f.map(f.x.lo, v);
                p.setPen(QPen(QColor(225, 225, 225), 1));
                p.drawLine(at, QPointF(f.area.right(), at.y()));
                p.setPen(Qt::black);
                p.drawText(QRectF(0, at.y() - fm.height() / 2.0, f.area.left() - 6, fm.height()),
                           Qt::AlignRight | Qt::AlignVCenter, text);
            }
        }
    }
    p.setPen(Qt::black);
    p.drawRect(f.area);
    p.drawText(QRectF(f.area.left(), size.height() - fm.height() - 6, f.area.width(), fm.height()), Qt::AlignHCenter,
               QString::fromStdString(plot.xLabel));
    p.save();
    p.translate(fm.height() * 0.2, f.area.center().y());
    p.rotate(-90);
    p.drawText(QRectF(-f.area.height() / 2, 0, f.area.height(), fm.height() + 2), Qt::AlignHCenter,
               QString::fromStdString(plot.yLabel));
    p.restore();
    QFont bold = p.font();
    bold.setBold(true);
    p.setFont(bold);
    p.drawText(QRectF(0, 6, size.width(), fm.height() + 4), Qt::AlignHCenter, QString::fromStdString(plot.title));
}

void drawSeries(QPainter& p, const report::Plot& plot, const Frame& f) {
    p.setClipRect(f.area);
    if (plot.diagonal) {
        p.setPen(QPen(QColor(120, 120, 120), 1, Qt::DashLine));
        const double lo = std::max(f.x.lo, f.y.lo), hi = std::min(f.x.hi, f.y.hi);
        if (hi > lo) p.drawLine(f.map(lo, lo), f.map(hi, hi));
    }
    for (std::size_t i = 0; i < plot.series.size(); ++i) {
        const auto& s = plot.series[i];
        const QColor c = kPalette[i % std::size(kPalette)];
        const std::size_t n = std::min(s.x.size(), s.y.size());
        if (plot.kind == report::Plot::Kind::Line) {
            QPainterPath path;
            for (std::size_t k = 0; k < n; ++k) {
                const QPointF at = f.map(s.x[k], s.y[k]);
                k == 0 ? path.moveTo(at) : path.lineTo(at);
            }
            p.setPen(QPen(c, 2));
            p.setBrush(Qt::NoBrush);
            p.drawPath(path);
        } else if (plot.kind == report::Plot::Kind::Scatter) {
            QColor fill = c;
            fill.setAlpha(110);
            p.setPen(Qt::NoPen);
            p.setBrush(fill);
            for (std::size_t k = 0; k < n; ++k) p.drawEllipse(f.map(s.x[k], s.y[k]), 2.5, 2.5);
        } else {
            const double width = n > 1 ? (s.x[1] - s.x[0]) : (f.x.hi - f.x.lo) / 10;
            p.setPen(QPen(c.darker(130), 1));
            p.setBrush(c);
            for (std::size_t k = 0; k < n; ++k)
                p.drawRect(QRectF(f.map(s.x[k] - width / 2, s.y[k]), f.map(s.x[k] + width / 2, 0.0)).normalized());
        }
    }
    p.setClipping(false);
}

void drawLegend(QPainter& p, const report::Plot& plot, const Frame& f) {
    if (plot.series.size() < 2) return;
    const QFontMetrics fm(p.font());
    const int rowHeight = fm.height() + 2;
    int width = 0;
    for (const auto& s : plot.series) width = std::max(width, fm.horizontalAdvance(QString::fromStdString(s.name)));
    const QRectF box(f.area.right() + 10, f.area.top(), width + 34, rowHeight * double(plot.series.size()) + 8);
    p.setPen(QPen(QColor(160, 160, 160), 1));
    p.setBrush(Qt::white);
    p.drawRect(box);
    for (std::size_t i = 0; i < plot.series.size(); ++i) {
        const double y = box.top() + 4 + rowHeight * double(i);
        p.fillRect(QRectF(box.left() + 6, y + rowHeight / 2.0 - 3, 16, 6), kPalette[i % std::size(kPalette)]);
        p.setPen(Qt::black);
        p.drawText(QRectF(box.left() + 28, y, width + 4, rowHeight), Qt::AlignVCenter,
                   QString::fromStdString(plot.series[i].name));
    }
}

}  // namespace

QImage drawPlot(const report::Plot& plot, QSize size) {
    QImage image(size, QImage::Format_ARGB32);
    image.fill(Qt::white);
    QPainter p(&image);
    p.setRenderHint(QPainter::Antialiasing);
    QFont font = p.font();
    font.setPixelSize(15);
    p.setFont(font);
    const QFontMetrics fm(font);
    int legend = 0;
    if (plot.series.size() >= 2)
        for (const auto& s : plot.series)
            legend = std::max(legend, fm.horizontalAdvance(QString::fromStdString(s.name)) + 50);
    Frame f;
    f.area = QRectF(70, fm.height() + 20, size.width() - 70 - 20 - legend, size.height() - fm.height() * 3 - 40);
    f.x = plot.unitSquare ? Range{0, 1} : dataRange(plot, true);
    f.y = plot.unitSquare ? Range{0, 1} : dataRange(plot, false);
    drawAxes(p, plot, f, size);
    p.setFont(font);
    drawSeries(p, plot, f);
    drawLegend(p, plot, f);
    p.end();
    return image;
}

namespace {

QByteArray pngBytes(const QImage& image) {
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, "PNG");
    return bytes;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

}  // namespace

std::string cardHtml(const report::CardDocument& card) {
    return report::toHtml(card, [](const report::Plot& plot, std::size_t) {
        return "data:image/png;base64," + pngBytes(drawPlot(plot)).toBase64().toStdString();
    });
}

QByteArray cardPdf(const report::CardDocument& card) {
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    QPdfWriter writer(&buffer);
    writer.setPageSize(QPageSize(QPageSize::A4));
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout::Millimeter);
    writer.setResolution(96);
    writer.setTitle(QString::fromStdString(card.title));
    writer.setCreator("Lumen");
    QTextDocument doc;
    std::vector<QImage> images;
    const std::string html = report::toHtml(card, [&](const report::Plot& plot, std::size_t index) {
        const std::string name = "plot" + std::to_string(index) + ".png";
        doc.addResource(QTextDocument::ImageResource, QUrl(QString::fromStdString(name)),
                        drawPlot(plot).scaledToWidth(620, Qt::SmoothTransformation));
        return name;
    });
    doc.setHtml(QString::fromStdString(html));
    doc.setPageSize(writer.pageLayout().paintRectPixels(writer.resolution()).size());
    doc.print(&writer);
    return bytes;
}

bool isCardFormat(const std::filesystem::path& file) {
    const std::string ext = lower(file.extension().string());
    return ext == ".md" || ext == ".html" || ext == ".htm" || ext == ".pdf";
}

void writeCard(const report::CardDocument& card, const std::filesystem::path& file) {
    const std::string ext = lower(file.extension().string());
    if (ext == ".md") util::writeFileAtomically(file, report::toMarkdown(card));
    else if (ext == ".html" || ext == ".htm") util::writeFileAtomically(file, cardHtml(card));
    else if (ext == ".pdf") {
        const QByteArray pdf = cardPdf(card);
        if (pdf.isEmpty()) throw std::runtime_error(file.string() + ": the PDF could not be rendered");
        util::writeFileAtomically(file, std::string_view(pdf.constData(), std::size_t(pdf.size())));
    } else
        throw std::runtime_error(file.string() + ": unknown card format \"" + file.extension().string() +
                                 "\" (use .md, .html or .pdf)");
}

}  // namespace lumen::widgets
