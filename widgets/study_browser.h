#pragma once
// The clinician's study view: a sortable, filterable table with one row per study (or image)
// of a predictions CSV, joined on the id with an optional baseline CSV, and the selected
// study beside it: its images (frame / slice slider for cines and volumes) with the CAM
// heatmap and the ROI mask on top (OverlayView), every prediction with the baseline value
// beside it, and its faithfulness; the faithfulness plot below the table. PageDown/PageUp
// (or J/K) step through the studies shown. Reading tables, images, masks and CAMs runs off
// the GUI thread.

#include "data/numeric_table.h"
#include "data/study_table.h"

#include <QFuture>
#include <QModelIndex>
#include <QString>
#include <QStringList>
#include <QDateTime>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QGridLayout;
class QHBoxLayout;
class QSplitter;
class QTableView;
class QTableWidget;

namespace lumen::data {
struct MediaIndex;
}
namespace lumen::explain {
struct BoxTable;
struct LocalisationReport;
}  // namespace lumen::explain

namespace lumen::widgets {

class FaithfulnessPlot;
class StudyFilterProxy;
class StudyTableModel;
class OverlayView;
class BoxEvaluationDialog;
struct StudyLoad;

/// What the table shows; unset parts do not filter. Missing values fail an active filter.
struct StudyFilter {
    std::optional<double> scoreMin, scoreMax;  ///< the chosen label's score (probability) in [min, max]
    std::optional<double> faithfulnessBelow;   ///< faithfulness < value
    std::optional<double> diffAbove;           ///< |new − baseline| > value
    bool diffAnyColumn = false;                ///< … in any column instead of the label's
    QString idContains;
};

class StudyBrowser : public QWidget {
    Q_OBJECT
public:
    explicit StudyBrowser(QWidget* parent = nullptr);
    ~StudyBrowser() override;

    /// Reads the predictions (and, if given, baseline) CSV off the GUI thread; tablesLoaded or
    /// loadFailed follows. An `roi_vis` folder beside the predictions becomes the mask folder.
    void openTables(const QString& predictions, const QString& baseline = {});
    /// Shows tables already read (e.g. the audit's); keeps the selection when the id is still there.
    void setTables(std::shared_ptr<const data::NumericTable> predictions,
                   std::shared_ptr<const data::NumericTable> baseline = nullptr);
    std::shared_ptr<const data::NumericTable> predictions() const { return new_; }
    std::shared_ptr<const data::NumericTable> baseline() const { return base_; }

    /// Where a study's images are found (scanned recursively off the GUI thread): a file
    /// named like the id (with or without its extension), else a folder named id or S<id>.
    void setMediaRoot(const QString& dir);
    /// Folder with the ROI-consistency masks `<stem>_mask.png` (its inference's roi_vis/).
    void setRoiFolder(const QString& dir);
    /// A CAM cache folder (cache/cam/<key>, docs/explain.md); empty: none.
    void setCamCache(const QString& dir);
    /// Media root = the workspace; CAM cache = the newest under <workspace>/cache/cam.
    void setWorkspace(const QString& dir);
    /// Switches to the workspace's newest CAM cache when one appeared or was rewritten since
    /// (lumen-cli explain in another process); the main window calls it when the store changed.
    void refreshCamCache();
    QString mediaRoot() const { return mediaRoot_; }
    QString roiFolder() const { return roiFolder_; }
    QString camCache() const { return camCache_; }
    /// Annotated boxes (image,finding,x,y,w,h or NIH's BBox_List_2017.csv) drawn over the study's
    /// image, the shown label's bright; setWorkspace picks <workspace>/chest_xray/boxes.csv when
    /// there is one. A bad file is reported in the status line. Empty: none.
    void setBoxesFile(const QString& file);
    QString boxesFile() const { return boxesFile_; }
    /// "Evaluate against boxes…": the CAM cache against `file` off the GUI thread (pointing
    /// game, IoU, AP, control; localisation.json/.csv into the cache), then the per-label table
    /// in boxDialog(); boxesEvaluated or boxesEvaluationFailed follows.
    void evaluateBoxes(const QString& file);
    BoxEvaluationDialog* boxDialog() const { return boxDialog_; }

    /// The labels the chooser offers (as written in the columns), e.g. "Effusion" for an
    /// ROI table (score = Effusion.prob_full) or each column of a table without groups.
    QStringList labels() const;
    bool setLabel(const QString& label);
    QString label() const;
    void setFilter(const StudyFilter& filter);  ///< also updates the filter controls
    StudyFilter filter() const;
    int visibleRowCount() const;
    QStringList visibleStudies() const;  ///< in table order

    /// Selects and shows `id` (once the tables are loaded if they are still being read).
    bool selectStudy(const QString& id);
    QString currentStudy() const { return current_; }
    /// The next / previous study shown in the table (after sorting and filtering).
    void nextStudy();
    void previousStudy();

    QString statusText() const;

signals:
    void tablesLoaded(int rows);
    void loadFailed(const QString& error);
    /// A study was selected (table, plot, keyboard or selectStudy).
    void studySelected(const QString& id);
    /// Its images, mask and heatmap are on screen.
    void studyShown(const QString& id);
    void boxesEvaluated(int cams);
    void boxesEvaluationFailed(const QString& error);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void buildUi();
    QHBoxLayout* buildFileRow();
    QGridLayout* buildFilters();
    QSplitter* buildStudyList();
    QSplitter* buildStudyView();
    void connectControls();
    void fitScoreBounds(const data::StudyTable::Choice& c);
    QModelIndex proxyIndexOf(const QString& id) const;
    void rebuildChoices();
    void fillTable();
    void applyFilter();
    void onCurrentRowChanged();
    void showStudy(const QString& id);
    void fillPredictions(int row);
    void startLoad(const QString& id);
    void applyLoad(const StudyLoad& load);
    void showView(int index);
    void setStatus(const QString& text, bool error = false);
    void showBoxReport(std::shared_ptr<const explain::LocalisationReport> report, const QString& error);
    const data::StudyTable::Choice* choice() const;

    // Tables and the join.
    std::shared_ptr<const data::NumericTable> new_, base_;
    data::StudyTable study_;  ///< the join, the choices and the filter (core)
    QString pendingSelection_;
    QString tableStatus_;
    QString current_;

    // Where media come from.
    QString mediaRoot_, roiFolder_, camCache_;
    QString workspace_;
    QString boxesFile_;
    std::shared_ptr<const explain::BoxTable> boxes_;
    BoxEvaluationDialog* boxDialog_ = nullptr;
    QDateTime camCacheTime_;                                       // index.csv's time when camCache_ was chosen
    QFuture<std::shared_ptr<const data::MediaIndex>> mediaIndex_;  ///< the scan of mediaRoot_
    quint64 loadGeneration_ = 0;
    std::shared_ptr<const StudyLoad> loaded_;

    QComboBox* labelBox_;
    QCheckBox* scoreBox_;
    QDoubleSpinBox* scoreMin_;
    QDoubleSpinBox* scoreMax_;
    QCheckBox* faithBox_;
    QDoubleSpinBox* faithSpin_;
    QCheckBox* diffBox_;
    QDoubleSpinBox* diffSpin_;
    QComboBox* diffScope_;
    QLineEdit* idFilter_;
    QLabel* count_;
    QLabel* status_;
    StudyTableModel* model_;
    StudyFilterProxy* proxy_;
    QTableView* table_;
    FaithfulnessPlot* plot_;
    QLabel* title_;
    QComboBox* viewBox_;
    OverlayView* overlay_;
    QLabel* faith_;
    QLabel* camInfo_;
    QTableWidget* predictionsTable_;
    bool updating_ = false;
};

}  // namespace lumen::widgets
