#include "color_bar.h"

#include <QFontMetrics>
#include <QPainter>

#include <algorithm>
#include <cmath>

namespace lumen::widgets {

QImage colorBarImage(const std::function<QRgb(double)>& colour, double threshold, int height, const QFont& font) {
    const QFontMetrics metrics(font);
    const int strip = 14, gap = 4, margin = metrics.height() / 2 + 1;
    const int width = strip + gap + metrics.horizontalAdvance("0.00") + 4;
    QImage bar(width, std::max(height, 4 * metrics.height()), QImage::Format_ARGB32_Premultiplied);
    bar.fill(QColor(0, 0, 0, 170));
    QPainter p(&bar);
    p.setFont(font);
    const int top = margin, bottom = bar.height() - margin, span = std::max(1, bottom - top);
    for (int y = top; y <= bottom; ++y) {
        const double t = double(bottom - y) / span;
        p.setPen(t < threshold ? QColor(70, 70, 70) : QColor(colour(t)));
        p.drawLine(2, y, strip + 1, y);
    }
    p.setPen(QColor(230, 230, 230));
    const auto tick = [&](double t, const QString& text) {
        const int y = bottom - int(std::lround(t * span));
        p.drawLine(strip + 2, y, strip + gap, y);
        p.drawText(QRect(strip + gap + 2, y - metrics.height() / 2, width, metrics.height()), Qt::AlignVCenter, text);
    };
    tick(1, "1");
    tick(0, "0");
    if (threshold > 0.08 && threshold < 0.92) tick(threshold, QString::number(threshold, 'f', 2));
    return bar;
}

}  // namespace lumen::widgets
