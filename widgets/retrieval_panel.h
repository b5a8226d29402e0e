#pragma once
// The Retrieval page (docs/contrastive.md): what a clip_contrastive model has learned, from an
// inference folder's retrieval.json (image and report embeddings, captions). Pick an image: its
// top-k reports with scores, its generated caption beside its reference; type a report: the
// best-matching images with thumbnails and scores (the query runs `lumen-cli retrieve` as a job,
// asked of the main window through queryRequested); the similarity matrix of the first images and
// their reports as a heatmap (exportable); every caption beside its reference.

#include <QString>
#include <QWidget>

#include <filesystem>
#include <string>
#include <vector>

class QComboBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QListWidget;
class QTableWidget;
class QTabWidget;

namespace lumen::widgets {

struct RetrievalItem {
    std::string id, path, report, caption;
    std::vector<float> embedding;  ///< L2-normalised
};

struct RetrievalIndex {
    std::filesystem::path dir;
    std::vector<RetrievalItem> items;
    std::vector<std::string> reports;               ///< distinct reports
    std::vector<std::vector<float>> reportVectors;  ///< their embeddings
};

/// Reads DIR/retrieval.json; throws std::runtime_error naming the file and what is wrong.
RetrievalIndex readRetrievalIndex(const std::filesystem::path& dir);

class RetrievalPanel : public QWidget {
    Q_OBJECT
public:
    explicit RetrievalPanel(QWidget* parent = nullptr);

    /// Lists the workspace's inference folders holding a retrieval.json and loads the newest.
    void setWorkspace(const std::filesystem::path& root);
    /// Loads DIR/retrieval.json; "" on success, else the error (also shown in the panel).
    QString loadIndex(const QString& dir);
    /// Shows DIR/query.json (written by lumen-cli retrieve): the matching images.
    QString showQueryResult(const QString& dir);
    void selectItem(int row);
    /// The k best reports of item `row` as (report, cosine), best first.
    std::vector<std::pair<std::string, double>> topReports(int row, int k) const;

    const RetrievalIndex& index() const { return index_; }
    QStringList indexFolders() const;
    QTableWidget* itemsTable() const { return items_; }
    QTableWidget* matchesTable() const { return matches_; }
    QListWidget* queryResults() const { return queryResults_; }
    QTableWidget* captionsTable() const { return captions_; }
    QCustomPlot* similarityPlot() const { return heatmap_; }
    QTabWidget* views() const { return views_; }
    QLineEdit* queryEdit() const { return query_; }
    QString statusText() const;
    /// The heatmap's images x reports (at most 24 of each), row-major.
    const std::vector<std::vector<double>>& heatmapValues() const { return heatmapValues_; }

signals:
    /// "Search" pressed with a report typed: run `lumen-cli retrieve --index DIR --text TEXT`.
    void queryRequested(const QString& indexDir, const QString& text);

private:
    void showItem(int row);
    void fillItems();
    void drawHeatmap();
    void requestQuery();

    std::filesystem::path root_;
    RetrievalIndex index_;
    QComboBox* folders_;
    QLabel* status_;
    QTableWidget* items_;
    QTabWidget* views_;
    QLabel* image_;
    QLabel* captionText_;
    QTableWidget* matches_;
    QLineEdit* query_;
    QListWidget* queryResults_;
    QCustomPlot* heatmap_;
    QTableWidget* captions_;
    std::vector<std::vector<double>> heatmapValues_;
};

}  // namespace lumen::widgets
