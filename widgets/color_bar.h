#pragma once
// The colour bar drawn beside every heatmap (Study view, volume viewer, exported views): the
// colour map from 0 (bottom) to 1 (top) of the normalised heatmap, the part under the
// threshold greyed (it is not drawn), ticks at 0, the threshold and 1.

#include <QFont>
#include <QImage>

#include <functional>

namespace lumen::widgets {

/// `colour(t)` gives the map's colour at t in [0, 1]. The image is `height` pixels tall (at
/// least four text lines), on a translucent dark background, about 50 px wide.
QImage colorBarImage(const std::function<QRgb(double)>& colour, double threshold, int height, const QFont& font);

}  // namespace lumen::widgets
