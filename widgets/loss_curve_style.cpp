#include "loss_curve_style.h"

#include <cmath>

namespace lumen::widgets {

const QList<QColor>& curveColors() {
    static const QList<QColor> colors = {QColor(0x1f, 0x77, 0xb4), QColor(0xd6, 0x27, 0x28), QColor(0x2c, 0xa0, 0x2c),
                                         QColor(0xff, 0x7f, 0x0e), QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                                         QColor(0xe3, 0x77, 0xc2), QColor(0x17, 0xbe, 0xcf), QColor(0xbc, 0xbd, 0x22),
                                         QColor(0x7f, 0x7f, 0x7f)};
    return colors;
}

Qt::PenStyle runPenStyle(int runIndex) {
    static const Qt::PenStyle styles[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine,
                                          Qt::DashDotDotLine};
    return styles[runIndex % 5];
}

QCPScatterStyle::ScatterShape runShape(int runIndex) {
    static const QCPScatterStyle::ScatterShape shapes[] = {QCPScatterStyle::ssDisc, QCPScatterStyle::ssSquare,
                                                           QCPScatterStyle::ssTriangle, QCPScatterStyle::ssDiamond,
                                                           QCPScatterStyle::ssCross};
    return shapes[runIndex % 5];
}

QString formatValue(double v) {
    if (!std::isfinite(v)) return QString::number(v);
    const double a = std::abs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e5)) return QString::number(v, 'e', 3);
    return QString::number(v, 'g', 4);
}

bool boundedMetric(const QString& key) {
    static const QStringList kBounded = {"auroc",     "auprc",  "acc",         "f1",          "dice", "iou",
                                         "precision", "recall", "sensitivity", "specificity", "map"};
    const QString name = key.mid(key.indexOf('.') + 1);
    for (const QString& b : kBounded)
        if (name.startsWith(b)) return true;
    return false;
}

}  // namespace lumen::widgets
