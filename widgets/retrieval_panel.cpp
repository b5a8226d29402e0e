#include "retrieval_panel.h"

#include "plot_export.h"

#include <nlohmann/json.hpp>
#include <qcustomplot.h>

#include <QComboBox>
#include <QDir>
#include <QDirIterator>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPixmap>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QTabWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <stdexcept>

namespace lumen::widgets {

namespace fs = std::filesystem;

namespace {

constexpr int kHeatmapSide = 24;
constexpr int kTopK = 5;

double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) s += double(a[i]) * double(b[i]);
    return s;
}

QTableWidgetItem* textItem(const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setFlags(item->flags() & ~Qt::ItemIsEditable);
    item->setToolTip(text);
    return item;
}

QPixmap thumbnail(const std::string& path, int side) {
    QPixmap p(QString::fromStdString(path));
    return p.isNull() ? QPixmap() : p.scaled(side, side, Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

}  // namespace

RetrievalIndex readRetrievalIndex(const fs::path& dir) {
    const fs::path file = dir / "retrieval.json";
    std::ifstream in(file);
    if (!in) throw std::runtime_error(file.string() + ": no such file");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        throw std::runtime_error(file.string() + ": not JSON (" + e.what() + ")");
    }
    if (j.value("format", "") != "lumen-retrieval")
        throw std::runtime_error(file.string() + ": not a retrieval index (format is not lumen-retrieval)");
    RetrievalIndex index;
    index.dir = dir;
    try {
        for (const auto& it : j.at("items")) {
            RetrievalItem item;
            item.id = it.at("id").get<std::string>();
            item.path = it.value("path", "");
            item.report = it.value("report", "");
            item.caption = it.value("caption", "");
            item.embedding = it.at("embedding").get<std::vector<float>>();
            index.items.push_back(std::move(item));
        }
        for (const auto& r : j.at("reports")) {
            index.reports.push_back(r.at("text").get<std::string>());
            index.reportVectors.push_back(r.at("embedding").get<std::vector<float>>());
        }
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(file.string() + ": " + e.what());
    }
    return index;
}

RetrievalPanel::RetrievalPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* top = new QHBoxLayout;
    folders_ = new QComboBox;
    folders_->setObjectName("retrievalFolders");
    folders_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    folders_->setMinimumContentsLength(30);
    auto* open = new QPushButton(tr("Open…"));
    status_ = new QLabel(tr("No retrieval index: run a clip_contrastive inference (lumen-cli infer --out DIR)."));
    status_->setWordWrap(true);
    top->addWidget(new QLabel(tr("Inference:")));
    top->addWidget(folders_, 1);
    top->addWidget(open);
    layout->addLayout(top);
    layout->addWidget(status_);

    auto* search = new QHBoxLayout;
    query_ = new QLineEdit;
    query_->setPlaceholderText(tr("Type a report, e.g. \"Right pleural effusion.\""));
    auto* go = new QPushButton(tr("Search images"));
    search->addWidget(query_, 1);
    search->addWidget(go);
    layout->addLayout(search);

    auto* split = new QSplitter(Qt::Horizontal);
    items_ = new QTableWidget(0, 3);
    items_->setHorizontalHeaderLabels({tr("Image"), tr("Report"), tr("Caption")});
    items_->setSelectionBehavior(QAbstractItemView::SelectRows);
    items_->setSelectionMode(QAbstractItemView::SingleSelection);
    items_->horizontalHeader()->setStretchLastSection(true);
    items_->verticalHeader()->hide();
    split->addWidget(items_);

    views_ = new QTabWidget;
    auto* matchesPage = new QWidget;
    auto* ml = new QVBoxLayout(matchesPage);
    auto* head = new QHBoxLayout;
    image_ = new QLabel;
    image_->setFixedSize(160, 160);
    image_->setAlignment(Qt::AlignCenter);
    captionText_ = new QLabel;
    captionText_->setWordWrap(true);
    captionText_->setTextFormat(Qt::RichText);
    head->addWidget(image_);
    head->addWidget(captionText_, 1);
    ml->addLayout(head);
    matches_ = new QTableWidget(0, 2);
    matches_->setHorizontalHeaderLabels({tr("Score"), tr("Report")});
    matches_->horizontalHeader()->setStretchLastSection(true);
    matches_->verticalHeader()->hide();
    ml->addWidget(matches_, 1);
    views_->addTab(matchesPage, tr("Image → reports"));

    queryResults_ = new QListWidget;
    queryResults_->setViewMode(QListView::IconMode);
    queryResults_->setIconSize(QSize(128, 128));
    queryResults_->setResizeMode(QListView::Adjust);
    queryResults_->setWordWrap(true);
    views_->addTab(queryResults_, tr("Report → images"));

    auto* heatPage = new QWidget;
    auto* hl = new QVBoxLayout(heatPage);
    heatmap_ = new QCustomPlot;
    heatmap_->setMinimumHeight(240);
    auto* exportButton = new QPushButton(tr("Export plot…"));
    hl->addWidget(heatmap_, 1);
    hl->addWidget(exportButton, 0, Qt::AlignRight);
    views_->addTab(heatPage, tr("Similarity"));

    captions_ = new QTableWidget(0, 3);
    captions_->setHorizontalHeaderLabels({tr("Image"), tr("Generated caption"), tr("Reference report")});
    captions_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    captions_->verticalHeader()->hide();
    views_->addTab(captions_, tr("Captions"));
    split->addWidget(views_);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    layout->addWidget(split, 1);

    connect(items_, &QTableWidget::currentCellChanged, this, [this](int row, int, int, int) { showItem(row); });
    connect(folders_, &QComboBox::activated, this, [this](int i) { loadIndex(folders_->itemData(i).toString()); });
    connect(open, &QPushButton::clicked, this, [this] {
        const auto dir = QFileDialog::getExistingDirectory(this, tr("Inference folder (retrieval.json)"),
                                                           QString::fromStdString(root_.string()));
        if (!dir.isEmpty()) loadIndex(dir);
    });
    connect(go, &QPushButton::clicked, this, [this] { requestQuery(); });
    connect(query_, &QLineEdit::returnPressed, this, [this] { requestQuery(); });
    connect(exportButton, &QPushButton::clicked, this,
            [this] { exportPlotInteractively(heatmap_, this, "similarity"); });
}

void RetrievalPanel::setWorkspace(const fs::path& root) {
    root_ = root;
    folders_->clear();
    if (root.empty()) return;
    std::vector<std::pair<QDateTime, QString>> found;
    QDirIterator it(QString::fromStdString(root.string()), {"retrieval.json"}, QDir::Files,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QFileInfo f(it.next());
        found.emplace_back(f.lastModified(), f.absolutePath());
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    const QDir base(QString::fromStdString(root.string()));
    for (const auto& [when, dir] : found) folders_->addItem(base.relativeFilePath(dir), dir);
    if (!found.empty()) loadIndex(found.front().second);
}

QStringList RetrievalPanel::indexFolders() const {
    QStringList out;
    for (int i = 0; i < folders_->count(); ++i) out << folders_->itemData(i).toString();
    return out;
}

QString RetrievalPanel::loadIndex(const QString& dir) {
    try {
        index_ = readRetrievalIndex(dir.toStdString());
    } catch (const std::exception& e) {
        index_ = {};
        status_->setText(QString::fromStdString(e.what()));
        fillItems();
        return status_->text();
    }
    if (folders_->findData(dir) < 0) folders_->addItem(dir, dir);
    folders_->setCurrentIndex(folders_->findData(dir));
    status_->setText(tr("%1 images, %2 distinct reports — %3")
                         .arg(index_.items.size())
                         .arg(index_.reports.size())
                         .arg(QString::fromStdString(index_.dir.string())));
    fillItems();
    drawHeatmap();
    queryResults_->clear();
    if (!index_.items.empty()) selectItem(0);
    views_->setCurrentIndex(0);
    // The last search of this inference (query.json, written by lumen-cli retrieve) is shown again.
    if (fs::exists(index_.dir / "query.json")) showQueryResult(dir);
    return {};
}

QString RetrievalPanel::statusText() const { return status_->text(); }

void RetrievalPanel::fillItems() {
    items_->setRowCount(0);
    captions_->setRowCount(0);
    items_->setRowCount(static_cast<int>(index_.items.size()));
    captions_->setRowCount(static_cast<int>(index_.items.size()));
    for (std::size_t i = 0; i < index_.items.size(); ++i) {
        const auto& it = index_.items[i];
        const int r = static_cast<int>(i);
        items_->setItem(r, 0, textItem(QString::fromStdString(it.id)));
        items_->setItem(r, 1, textItem(QString::fromStdString(it.report)));
        items_->setItem(r, 2, textItem(QString::fromStdString(it.caption)));
        captions_->setItem(r, 0, textItem(QString::fromStdString(it.id)));
        captions_->setItem(r, 1, textItem(QString::fromStdString(it.caption)));
        captions_->setItem(r, 2, textItem(QString::fromStdString(it.report)));
    }
    items_->resizeColumnToContents(0);
}

std::vector<std::pair<std::string, double>> RetrievalPanel::topReports(int row, int k) const {
    std::vector<std::pair<std::string, double>> out;
    if (row < 0 || row >= static_cast<int>(index_.items.size())) return out;
    const auto& e = index_.items[static_cast<std::size_t>(row)].embedding;
    for (std::size_t t = 0; t < index_.reports.size(); ++t)
        out.emplace_back(index_.reports[t], dot(e, index_.reportVectors[t]));
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (static_cast<int>(out.size()) > k) out.resize(static_cast<std::size_t>(k));
    return out;
}

void RetrievalPanel::selectItem(int row) { items_->setCurrentCell(row, 0); }

void RetrievalPanel::showItem(int row) {
    matches_->setRowCount(0);
    if (row < 0 || row >= static_cast<int>(index_.items.size())) return;
    const auto& it = index_.items[static_cast<std::size_t>(row)];
    image_->setPixmap(thumbnail(it.path, 160));
    captionText_->setText(tr("<b>%1</b><br><b>Generated:</b> %2<br><b>Reference:</b> %3")
                              .arg(QString::fromStdString(it.id).toHtmlEscaped(),
                                   QString::fromStdString(it.caption.empty() ? "—" : it.caption).toHtmlEscaped(),
                                   QString::fromStdString(it.report.empty() ? "—" : it.report).toHtmlEscaped()));
    const auto top = topReports(row, kTopK);
    matches_->setRowCount(static_cast<int>(top.size()));
    for (std::size_t i = 0; i < top.size(); ++i) {
        auto* score = textItem(QString::number(top[i].second, 'f', 3));
        auto* report = textItem(QString::fromStdString(top[i].first));
        if (top[i].first == it.report) {  // the image's own report
            QFont bold = report->font();
            bold.setBold(true);
            report->setFont(bold);
            score->setFont(bold);
        }
        matches_->setItem(static_cast<int>(i), 0, score);
        matches_->setItem(static_cast<int>(i), 1, report);
    }
    matches_->resizeColumnToContents(0);
}

void RetrievalPanel::drawHeatmap() {
    heatmap_->clearPlottables();
    heatmap_->plotLayout()->clear();
    heatmapValues_.clear();
    auto* rect = new QCPAxisRect(heatmap_);
    heatmap_->plotLayout()->addElement(0, 0, rect);
    if (index_.items.empty() || index_.reports.empty()) {
        heatmap_->replot();
        return;
    }
    // The first images and, in the same order, their reports: a batch's similarity matrix,
    // matched pairs on the diagonal.
    std::vector<std::size_t> rows;
    std::vector<std::size_t> cols;
    for (std::size_t i = 0; i < index_.items.size() && rows.size() < kHeatmapSide; ++i) {
        const auto t = std::find(index_.reports.begin(), index_.reports.end(), index_.items[i].report);
        if (t == index_.reports.end()) continue;
        const auto col = static_cast<std::size_t>(t - index_.reports.begin());
        if (std::find(cols.begin(), cols.end(), col) != cols.end()) continue;  // one image per report
        rows.push_back(i);
        cols.push_back(col);
    }
    const int n = static_cast<int>(rows.size());
    auto* map = new QCPColorMap(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    map->data()->setSize(n, n);
    map->data()->setRange(QCPRange(0, n - 1), QCPRange(0, n - 1));
    heatmapValues_.assign(static_cast<std::size_t>(n), std::vector<double>(static_cast<std::size_t>(n)));
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            const double v = dot(index_.items[rows[static_cast<std::size_t>(i)]].embedding,
                                 index_.reportVectors[cols[static_cast<std::size_t>(j)]]);
            heatmapValues_[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = v;
            map->data()->setCell(j, n - 1 - i, v);  // image i as row i from the top
        }
    auto* scale = new QCPColorScale(heatmap_);
    heatmap_->plotLayout()->addElement(0, 1, scale);
    scale->axis()->setLabel(tr("cosine similarity"));
    map->setColorScale(scale);
    map->setGradient(QCPColorGradient::gpThermal);
    map->rescaleDataRange(true);
    rect->axis(QCPAxis::atBottom)->setLabel(tr("report (of image j)"));
    rect->axis(QCPAxis::atLeft)->setLabel(tr("image i"));
    rect->axis(QCPAxis::atBottom)->setRange(-0.5, n - 0.5);
    rect->axis(QCPAxis::atLeft)->setRange(-0.5, n - 0.5);
    auto* margins = new QCPMarginGroup(heatmap_);
    rect->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    heatmap_->replot();
}

void RetrievalPanel::requestQuery() {
    const QString text = query_->text().trimmed();
    if (text.isEmpty() || index_.dir.empty()) return;
    status_->setText(tr("Searching for \"%1\"…").arg(text));
    emit queryRequested(QString::fromStdString(index_.dir.string()), text);
}

QString RetrievalPanel::showQueryResult(const QString& dir) {
    const fs::path file = fs::path(dir.toStdString()) / "query.json";
    std::ifstream in(file);
    nlohmann::json j;
    try {
        if (!in) throw std::runtime_error("no such file");
        j = nlohmann::json::parse(in);
        queryResults_->clear();
        for (const auto& r : j.at("results")) {
            const auto path = r.value("path", "");
            auto* item = new QListWidgetItem(QIcon(thumbnail(path, 128)),
                                             QString("%1\n%2")
                                                 .arg(QString::fromStdString(r.at("id").get<std::string>()))
                                                 .arg(r.at("score").get<double>(), 0, 'f', 3));
            item->setToolTip(QString::fromStdString(r.value("report", "")));
            queryResults_->addItem(item);
        }
    } catch (const std::exception& e) {
        const QString error = QString::fromStdString(file.string() + ": " + e.what());
        status_->setText(error);
        return error;
    }
    const QString text = QString::fromStdString(j.value("query", ""));
    status_->setText(tr("Best images for \"%1\" — %2").arg(text, QString::fromStdString(index_.dir.string())));
    query_->setText(text);
    views_->setCurrentWidget(queryResults_);
    return {};
}

}  // namespace lumen::widgets
