// Audit panel responsiveness with every point of a 4828-study × 90-column audit shown
// (434,520 points): time to show a category, replot, pan, and answer a hover.
// Run under a display: `xvfb-run -a build/bench/audit_panel_bench`.
#include "audit_panel.h"

#include "audit/audit.h"

#include <qcustomplot.h>

#include <QApplication>
#include <QElapsedTimer>

#include <cstdio>
#include <random>

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    constexpr int kStudies = 4828, kColumns = 90;
    auto makeTable = [](bool perturb) {
        auto t = std::make_shared<lumen::data::NumericTable>();
        t->path = perturb ? "new.csv" : "baseline.csv";
        t->idName = "study_id";
        std::mt19937_64 rng(1);
        std::normal_distribution<double> noise(0, 0.01);
        std::uniform_real_distribution<double> u(0, 1);
        for (int r = 0; r < kStudies; ++r) t->ids.push_back(std::to_string(1000000 + r));
        for (int c = 0; c < kColumns; ++c) {
            t->columns.push_back("col" + std::to_string(c));
            std::vector<double> v(kStudies);
            for (auto& x : v) x = (c < 18 ? 100 : 1) * u(rng);
            t->values.push_back(v);
        }
        if (perturb)
            for (auto& col : t->values)
                for (auto& x : col) x += noise(rng);
        t->reindex();
        return t;
    };
    QElapsedTimer clock;
    clock.start();
    lumen::audit::AuditOptions options;
    options.categories = {{"all columns", "."}};  // one category of every column: every point on show
    auto result = std::make_shared<lumen::audit::AuditResult>(
        lumen::audit::compareTables(makeTable(false), makeTable(true), options));
    const double compareMs = clock.nsecsElapsed() / 1e6;

    lumen::widgets::AuditPanel panel;
    panel.resize(1400, 900);
    panel.show();
    QApplication::processEvents();
    clock.restart();
    panel.setResult(result);  // shows the one category: every point
    QApplication::processEvents();
    const double showMs = clock.nsecsElapsed() / 1e6;

    QCustomPlot* plot = panel.scatterPlot();
    constexpr int kReplots = 20;
    clock.restart();
    for (int i = 0; i < kReplots; ++i) plot->replot(QCustomPlot::rpImmediateRefresh);
    const double replotMs = clock.nsecsElapsed() / 1e6 / kReplots;

    clock.restart();
    for (int i = 0; i < kReplots; ++i) {
        plot->xAxis->moveRange(0.5);
        plot->replot(QCustomPlot::rpImmediateRefresh);
    }
    const double panMs = clock.nsecsElapsed() / 1e6 / kReplots;
    plot->rescaleAxes();
    plot->replot();

    std::mt19937 rng(3);
    const QRect area = plot->axisRect()->rect();
    std::uniform_int_distribution<int> px(area.left(), area.right()), py(area.top(), area.bottom());
    constexpr int kHovers = 2000;
    int hits = 0;
    clock.restart();
    for (int i = 0; i < kHovers; ++i) hits += panel.pointAt(QPoint(px(rng), py(rng))).has_value();
    const double hoverUs = clock.nsecsElapsed() / 1e3 / kHovers;
    // Hovering right on the dense diagonal, where the most candidates are.
    clock.restart();
    for (int i = 0; i < kHovers; ++i) {
        const double v = 100.0 * i / kHovers;
        hits += panel.pointAt(panel.pixelOf(v, v)).has_value();
    }
    const double denseHoverUs = clock.nsecsElapsed() / 1e3 / kHovers;

    std::printf("Audit panel with %d points (%d studies x %d columns), %dx%d plot\n", panel.pointCount(), kStudies,
                kColumns, plot->width(), plot->height());
    std::printf("| step | time |\n|------|-----:|\n");
    std::printf("| compare the tables (engine) | %.1f ms |\n", compareMs);
    std::printf("| show the result (summary, scatter, histogram, first paint) | %.1f ms |\n", showMs);
    std::printf("| replot, all points | %.1f ms |\n", replotMs);
    std::printf("| pan + replot | %.1f ms |\n", panMs);
    std::printf("| hover lookup, random pixel | %.1f us |\n", hoverUs);
    std::printf("| hover lookup, on the diagonal | %.1f us |\n", denseHoverUs);
    std::printf("(%d hovers found a point)\n", hits);
    return 0;
}
