// The GUI's Export actions for cards (docs/cards.md): Runs panel "Export model card…", Data
// panel "Export dataset card…", Audit panel "Export PDF report…" write valid files from what
// the panel shows, without ids.
#include "test_support.h"

#include "audit_panel.h"
#include "card_fixture.h"
#include "data_panel.h"
#include "runs_panel.h"

#include <QAction>
#include <QMenu>
#include <QPushButton>

using namespace lumen;
using namespace cardtest;

namespace {

bool isPdf(const fs::path& file) {
    const std::string bytes = readTextFile(file);
    return bytes.rfind("%PDF-", 0) == 0 && bytes.find("%%EOF") != std::string::npos;
}

}  // namespace

class TestCardActions : public QObject {
    Q_OBJECT

private slots:
    void runsPanelExportsTheModelCard() {
        QTemporaryDir dir;
        const auto f = makeWorkspace(dir.path().toStdString());
        runs::RunStore store(runs::Workspace{f.root}.database());
        widgets::RunsPanel panel;
        panel.setStore(&store);
        panel.refresh();
        panel.selectRuns({f.trainRun});
        std::unique_ptr<QMenu> menu(panel.makeContextMenu());
        auto* action = menu->findChild<QAction*>("runsModelCard");
        QVERIFY(action);
        QVERIFY(action->isEnabled());
        QCOMPARE(action->text(), QString("Export model card…"));
        const fs::path pdf = f.root / "model.pdf", md = f.root / "model.md";
        QCOMPARE(panel.exportModelCard(f.trainRun, QString::fromStdString(pdf.string())), QString());
        QVERIFY(isPdf(pdf));
        QCOMPARE(panel.exportModelCard(f.trainRun, QString::fromStdString(md.string())), QString());
        const std::string text = readTextFile(md);
        QVERIFY(text.find("## Metrics") != std::string::npos);
        QVERIFY(text.find("PATZ-") == std::string::npos && text.find("IMGX-") == std::string::npos);
        QVERIFY(panel.exportModelCard(999, QString::fromStdString((f.root / "x.md").string())).contains("run 999"));
    }

    void dataPanelExportsTheDatasetCard() {
        QTemporaryDir dir;
        const auto f = makeWorkspace(dir.path().toStdString());
        widgets::DataPanel panel;
        QVERIFY(!panel.datasetCardButton()->isEnabled());
        QSignalSpy loaded(&panel, &widgets::DataPanel::loaded);
        QVERIFY(panel.open(QString::fromStdString(f.manifest.string())));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 20000);
        QVERIFY(panel.datasetCardButton()->isEnabled());
        const fs::path html = f.root / "dataset.html", pdf = f.root / "dataset.pdf";
        QCOMPARE(panel.exportDatasetCard(QString::fromStdString(html.string())), QString());
        const std::string text = readTextFile(html);
        QVERIFY(text.find("<td>train</td><td>60</td><td>20</td>") != std::string::npos);
        QVERIFY(text.find("PATZ-") == std::string::npos);
        QCOMPARE(panel.exportDatasetCard(QString::fromStdString(pdf.string())), QString());
        QVERIFY(isPdf(pdf));
    }

    void auditPanelExportsThePdfReport() {
        QTemporaryDir dir;
        const std::string b = writeTextFile(dir, "b.csv", "id,p\nSUBJ-1,0.1\nSUBJ-2,0.2\nSUBJ-3,0.3\n");
        const std::string n = writeTextFile(dir, "n.csv", "id,p\nSUBJ-1,0.1\nSUBJ-2,0.2\nSUBJ-3,0.35\n");
        widgets::AuditPanel panel;
        auto* button = panel.findChild<QPushButton*>("exportPdfReport");
        QVERIFY(button && !button->isEnabled());
        const fs::path pdf = fs::path(dir.path().toStdString()) / "audit.pdf";
        QVERIFY(!panel.exportPdfReport(QString::fromStdString(pdf.string())).isEmpty());  // no audit yet
        auto result = std::make_shared<audit::AuditResult>(audit::runAudit(b, n, {}));
        panel.setResult(result);
        QVERIFY(button->isEnabled());
        QCOMPARE(panel.exportPdfReport(QString::fromStdString(pdf.string())), QString());
        QVERIFY(isPdf(pdf));
        // The PDF's text is compressed: the same card as Markdown shows what it holds.
        const fs::path md = pdf.parent_path() / "audit.md";
        QCOMPARE(panel.exportPdfReport(QString::fromStdString(md.string())), QString());
        const std::string text = readTextFile(md);
        QVERIFY(text.find("| p | 1 | 3 |") != std::string::npos);
        QVERIFY(text.find("SUBJ-") == std::string::npos);
    }
};

QTEST_MAIN(TestCardActions)
#include "test_card_actions.moc"
