#pragma once
// The Sweep page (docs/sweeps.md): a workspace's sweeps (sweeps/<name>/state.json, written by
// `lumen-cli sweep`), followed live: the trials table (parameters, value, status, run), a
// parallel-coordinates plot (one line per trial over every parameter and the metric, coloured
// by the metric), each parameter's importance (|Spearman rho| or the correlation ratio), the
// metric per epoch of the selected trials, and "Promote…" writing a trial's config for a full
// run. "Run sweep…" asks the main window to run a sweep file as a job.

#include "sweep/sweep.h"

#include <QWidget>

#include <filesystem>
#include <optional>
#include <vector>

class QComboBox;
class QCustomPlot;
class QLabel;
class QTableWidget;
class QTabWidget;
class QTimer;

namespace lumen::runs {
class RunStore;
}

namespace lumen::widgets {

class SweepPanel : public QWidget {
    Q_OBJECT
public:
    explicit SweepPanel(QWidget* parent = nullptr);

    /// Lists the workspace's sweeps and shows the first (or the one shown before, if still there).
    void setWorkspace(const std::filesystem::path& root);
    /// The store the curves come from (not owned; null: no curves).
    void setStore(runs::RunStore* store);
    /// Re-reads the sweeps' state files; errors are shown in the panel, not thrown.
    void refresh();
    bool showSweep(const QString& name);

    QStringList sweepNames() const;
    QString currentSweep() const;
    const std::optional<sweep::SweepState>& state() const { return state_; }
    const std::vector<sweep::Importance>& importance() const { return importance_; }
    QTableWidget* trialsTable() const { return table_; }
    QCustomPlot* parallelPlot() const { return parallel_; }
    QCustomPlot* curvesPlot() const { return curves_; }
    QTabWidget* views() const { return views_; }
    QString summaryText() const;
    /// Trial indices of the selected rows.
    std::vector<std::size_t> selectedTrials() const;
    void selectTrials(const std::vector<std::size_t>& trials);
    /// Writes the base config with trial `trial`'s parameters to `file` (atomically); "" on
    /// success, else the error naming the file.
    QString promote(std::size_t trial, const QString& file) const;

signals:
    void runSweepRequested(const QString& sweepFile);
    void runActivated(qint64 run);  ///< a trial's row double-clicked: show its run

private:
    void loadCurrent();
    void fillTable();
    void drawParallel();
    void drawCurves();
    void fillImportance();
    void promoteInteractively();
    void exportCurrentPlot();

    std::filesystem::path root_;
    runs::RunStore* store_ = nullptr;
    std::optional<sweep::SweepState> state_;
    std::vector<sweep::Importance> importance_;
    std::filesystem::file_time_type stamp_{};
    QComboBox* sweeps_;
    QLabel* summary_;
    QTableWidget* table_;
    QTabWidget* views_;
    QCustomPlot* parallel_;
    QTableWidget* importanceTable_;
    QCustomPlot* curves_;
    QTimer* poll_;
};

}  // namespace lumen::widgets
