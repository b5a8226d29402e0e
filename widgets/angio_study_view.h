#pragma once
// The Study view for angiography (docs/angio.md, "The angiography study view"): an
// angio_multiview inference's preds.json, one study at a time — every view of the study in a
// grid playing in sync (each at its own Frame Time) with a shared time slider, play/pause and
// window/level, and the model's attention weight on each view ("which view drove it"); beside
// it the coronary tree coloured by predicted stenosis, and for the clicked segment its five
// predictions, new beside an optional baseline CSV, and the views ranked by attention.
// Cines are read off the GUI thread.

#include "io/image_volume.h"

#include <QFutureWatcher>
#include <QString>
#include <QStringList>
#include <QWidget>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

class QComboBox;
class QDoubleSpinBox;
class QGridLayout;
class QLabel;
class QListWidget;
class QPushButton;
class QSlider;
class QTableWidget;
class QTimer;

namespace lumen::data {
struct NumericTable;
}

namespace lumen::widgets {

class CoronaryTreeView;

struct AngioViewRecord {
    QString path;        ///< as in the manifest
    QString file;        ///< absolute
    QString projection;  ///< "LAO 30 CRA 20"
    double attention = 0;
    double frameTimeMs = 0;  ///< 0: unknown (the cine's own header is used)
};

/// A video Grad-CAM of one study and output column (docs/angio.md, "Video Grad-CAM").
struct AngioCamRecord {
    QString file;                 ///< absolute path of the (views, t, h, w) .npy
    std::vector<int> viewSlots;   ///< the view (tile) of each of the array's rows
    std::vector<int> clipStarts;  ///< per row: the clip's first frame
    int frames = 0, stride = 1;   ///< the clip: frames, stride apart
};

struct AngioStudyRecord {
    QString id;
    std::vector<AngioViewRecord> views;
    std::map<std::string, AngioCamRecord> cams;  ///< column -> its CAM
    std::map<std::string, double> predictions;   ///< column -> value
};

/// An angio_multiview inference's preds.json as the page shows it.
struct AngioPredictions {
    std::vector<AngioStudyRecord> studies;
    /// untrained_columns: heads that had no label in training (one list for the file; empty
    /// when the file does not say — checkpoints before 2026-12-07).
    std::set<std::string> untrained;
};

/// Reads an angio_multiview inference's preds.json; throws std::runtime_error naming the file
/// and what is wrong (not JSON, another task, a study without an id, a view without a file,
/// untrained_columns not a list of names).
AngioPredictions readAngioPredictions(const QString& file);

/// One view of the study: its cine at the shared time, windowed, with its title and attention.
class CineTile : public QWidget {
    Q_OBJECT
public:
    explicit CineTile(const AngioViewRecord& view, int number, QWidget* parent = nullptr);
    void setVolume(std::shared_ptr<const io::ImageVolume> volume);
    void setError(const QString& error);
    void setTimeMs(double ms);
    void setWindow(double center, double width);
    void setTopAttention(bool top);
    /// The view's CAM (t, h, w) in 0..1 over the clip's frames (start, stride apart); drawn
    /// over the frames it covers. Empty values clear it.
    void setCam(std::vector<float> values, int t, int h, int w, int clipStart, int stride, int frames);
    bool hasCam() const { return !cam_.empty(); }
    /// The CAM time index shown at `frame`, -1 when the clip does not cover it.
    int camIndexAt(int frame) const;
    int frame() const { return frame_; }
    int frameCount() const;
    double frameTimeMs() const;  ///< the header's, else preds.json's, else 66.7 (15 frames/s)
    double durationMs() const { return frameCount() * frameTimeMs(); }
    const AngioViewRecord& view() const { return view_; }
    const io::ImageVolume* volume() const { return volume_.get(); }
    QSize sizeHint() const override { return {240, 220}; }

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    AngioViewRecord view_;
    int number_;
    std::shared_ptr<const io::ImageVolume> volume_;
    QString error_;
    int frame_ = 0;
    double center_ = 128, width_ = 256;
    bool top_ = false;
    std::vector<float> cam_;
    int camT_ = 0, camH_ = 0, camW_ = 0, camStart_ = 0, camStride_ = 1, camFrames_ = 0;
};

class AngioStudyView : public QWidget {
    Q_OBJECT
public:
    explicit AngioStudyView(QWidget* parent = nullptr);
    ~AngioStudyView() override;

    /// Reads preds.json and shows its first study; false with the error in the status line.
    bool openPredictions(const QString& file);
    /// A predictions CSV (study_id + the 90 columns) shown beside the new values; "" clears it.
    bool openBaseline(const QString& file);
    void setBaseline(std::shared_ptr<const data::NumericTable> table);
    QString predictionsFile() const { return file_; }

    QStringList studies() const;
    bool hasStudy(const QString& id) const;
    bool selectStudy(const QString& id);
    QString currentStudy() const;
    void selectSegment(const QString& segment);
    /// Overlays the study's CAM of `column` on its views ("" = none); false (status says why)
    /// when the study has no such CAM or its file cannot be read.
    bool showCam(const QString& column);
    QComboBox* camBox() const { return camBox_; }

    void play();
    void pause();
    bool isPlaying() const;
    void setTimeMs(double ms);
    double timeMs() const { return timeMs_; }
    double durationMs() const;
    void setWindow(double center, double width);

    const std::vector<CineTile*>& tiles() const { return tiles_; }
    CoronaryTreeView* tree() const { return tree_; }
    QTableWidget* segmentTable() const { return segmentTable_; }
    QListWidget* viewRanking() const { return ranking_; }
    QString statusText() const;

signals:
    /// Every view of the study is loaded (or failed with its error shown on the tile).
    void studyShown(const QString& id);

private:
    void buildUi();
    QWidget* buildControls();
    QWidget* buildSide();
    void showStudy(int index);
    void fillSegment();
    void fillRanking();
    void tick();
    void setStatus(const QString& text, bool error = false);

    QString file_;
    std::vector<AngioStudyRecord> records_;
    std::set<std::string> untrained_;  ///< the file's untrained columns (AngioPredictions::untrained)
    std::shared_ptr<const data::NumericTable> baseline_;
    int current_ = -1;
    quint64 generation_ = 0;
    int pendingLoads_ = 0;
    double timeMs_ = 0;
    qint64 lastTick_ = 0;

    QComboBox* studyBox_;
    QComboBox* camBox_ = nullptr;
    QLabel* fileLabel_;
    QLabel* status_;
    QGridLayout* grid_;
    QWidget* gridHost_;
    std::vector<CineTile*> tiles_;
    QPushButton* playButton_;
    QSlider* timeSlider_;
    QLabel* timeLabel_;
    QDoubleSpinBox* center_;
    QDoubleSpinBox* width_;
    CoronaryTreeView* tree_;
    QLabel* segmentTitle_;
    QTableWidget* segmentTable_;
    QListWidget* ranking_;
    QTimer* timer_;
    bool syncing_ = false;
};

}  // namespace lumen::widgets
