#pragma once
// The Study page's annotated boxes (docs/explain.md "Explanations against boxes"): the boxes of
// a study drawn over its image, and the per-label table of "Evaluate against boxes…".

#include "explain/localisation.h"
#include "overlay_view.h"

#include <QDialog>

#include <string>
#include <vector>

class QLabel;
class QTableWidget;

namespace lumen::widgets {

/// The boxes of `table` for study `id` (matched as it is, else by its file name), captioned with
/// their label; those of `label` are `current`.
std::vector<OverlayBox> studyBoxes(const explain::BoxTable& table, const std::string& id, const std::string& label);

/// One row per label and one "all": CAMs, boxes, pointing game, mean IoU, AP@0.5, AP@0.75, and
/// the control's pointing, IoU and APs; a note says where the files went.
class BoxEvaluationDialog : public QDialog {
    Q_OBJECT
public:
    explicit BoxEvaluationDialog(QWidget* parent = nullptr);
    void setReport(const explain::LocalisationReport& report);
    QTableWidget* table() const { return table_; }
    QString noteText() const;

private:
    QTableWidget* table_;
    QLabel* note_;
};

}  // namespace lumen::widgets
