#include "metrics/regression.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lumen::metrics {

RegressionReport evaluateRegression(std::span<const double> truth, std::span<const double> prediction) {
    RegressionReport r;
    std::vector<double> t, p;
    const std::size_t n = std::min(truth.size(), prediction.size());
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(truth[i]) || std::isnan(prediction[i])) {
            ++r.dropped;
            continue;
        }
        t.push_back(truth[i]);
        p.push_back(prediction[i]);
    }
    r.n = t.size();
    if (r.n == 0) {
        r.mae = r.rmse = r.pearson = MetricValue::missing("no labelled pairs");
        return r;
    }
    double abs = 0, sq = 0, mt = 0, mp = 0;
    for (std::size_t i = 0; i < r.n; ++i) {
        abs += std::fabs(p[i] - t[i]);
        sq += (p[i] - t[i]) * (p[i] - t[i]);
        mt += t[i];
        mp += p[i];
    }
    const double count = static_cast<double>(r.n);
    r.mae = MetricValue::of(abs / count);
    r.rmse = MetricValue::of(std::sqrt(sq / count));
    mt /= count;
    mp /= count;
    double stt = 0, spp = 0, stp = 0;
    for (std::size_t i = 0; i < r.n; ++i) {
        stt += (t[i] - mt) * (t[i] - mt);
        spp += (p[i] - mp) * (p[i] - mp);
        stp += (t[i] - mt) * (p[i] - mp);
    }
    if (r.n < 2) r.pearson = MetricValue::missing("Pearson r needs two pairs");
    else if (stt == 0 || spp == 0) r.pearson = MetricValue::missing("Pearson r of a constant series");
    else r.pearson = MetricValue::of(std::clamp(stp / std::sqrt(stt * spp), -1.0, 1.0));
    return r;
}

}  // namespace lumen::metrics
