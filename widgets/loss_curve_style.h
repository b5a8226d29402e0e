#pragma once
// How the loss-curve panel draws and labels: a colour per metric key, a pen style and marker
// per run, numbers in the read-out, and which validation metrics live on a 0–1 scale.

#include <qcustomplot.h>

#include <QColor>
#include <QList>
#include <QString>

namespace lumen::widgets {

/// The palette keys take their colours from, in order of first appearance.
const QList<QColor>& curveColors();
/// Line style and marker of the run at `runIndex` (five of each, then again).
Qt::PenStyle runPenStyle(int runIndex);
QCPScatterStyle::ScatterShape runShape(int runIndex);
/// A value as the read-out shows it: 4 significant digits, exponent form when tiny or huge.
QString formatValue(double v);
/// Validation keys whose values lie in [0, 1] by definition (AUROC, AUPRC, accuracy, F1,
/// Dice, IoU, precision, recall, sensitivity, specificity, mAP): their axis is 0–1, not fitted.
bool boundedMetric(const QString& key);

}  // namespace lumen::widgets
