// Model, dataset and audit cards (docs/cards.md): every section present, every number equal to
// the run store's / the metrics engine's (AUROC and SHA-256 also against Python's sklearn and
// hashlib), no patient id in a default export, the PDF a valid PDF with pages, the CLI.
#include "test_support.h"

#include "card_fixture.h"

#include "../metrics/python_reference.h"
#include "card_render.h"
#include "data/manifest.h"
#include "metrics/calibration.h"
#include "metrics/classification.h"
#include "report/audit_card.h"
#include "report/dataset_card.h"
#include "report/model_card.h"
#include "runs/run_store.h"
#include "util/sha256.h"

#include <QGuiApplication>

#include <cmath>
#include <random>

using namespace lumen;
namespace fs = std::filesystem;

using namespace cardtest;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string sectionText(const report::CardDocument& doc, const std::string& heading) {
    report::CardDocument one;
    if (const auto* s = doc.find(heading)) one.sections.push_back(*s);
    return report::toMarkdown(one);
}

int pdfPages(const QByteArray& pdf) {
    int pages = 0;
    for (qsizetype at = pdf.indexOf("/Type /Page"); at >= 0; at = pdf.indexOf("/Type /Page", at + 1))
        if (pdf.mid(at + 11, 1) != "s") ++pages;
    return pages;
}

}  // namespace

class TestCards : public QObject {
    Q_OBJECT

private slots:
    void modelCardNumbersEqualTheEngines();
    void modelCardAgainstPython();
    void modelCardHasNoIdsByDefault();
    void datasetCardCountsEqualTheManifest();
    void auditCardWithholdsIds();
    void pdfIsAValidPdf();
    void cliWritesCards();
};

void TestCards::modelCardNumbersEqualTheEngines() {
    QTemporaryDir dir;
    const auto f = makeWorkspace(dir.path().toStdString());
    runs::RunStore store(runs::Workspace{f.root}.database());
    report::ModelCardOptions o;
    o.bootstrapResamples = 200;
    o.seed = 3;
    const auto card = report::buildModelCard(store, runs::Workspace{f.root}, f.trainRun, o);
    QVERIFY(card.train && card.train->id == f.trainRun);
    QVERIFY(card.infer && card.infer->id == f.inferRun);
    QCOMPARE(card.onlyInPredictions, std::size_t(1));
    QCOMPARE(card.thresholds, f.thresholds);
    // The metrics engine on the test's own join.
    const auto expected = metrics::evaluateMultiLabel(f.truth, f.score, kLabels, f.thresholds);
    const auto intervals = metrics::bootstrapMultiLabel(f.truth, f.score, kLabels, f.thresholds, {}, {200, 3, 0.95});
    QCOMPARE(card.metrics.n, f.ids.size());
    const std::string md = report::toMarkdown(card.document);
    for (std::size_t l = 0; l < kLabels.size(); ++l) {
        const auto& e = expected.labels[l];
        QCOMPARE(*card.metrics.labels[l].auroc.value, *e.auroc.value);
        QCOMPARE(card.metrics.labels[l].positives, e.positives);
        const auto& ci = intervals.labels[l].at("auroc");
        const std::string cell = report::formatNumber(*e.auroc.value) + " [" + report::formatNumber(*ci.lower) + ", " +
                                 report::formatNumber(*ci.upper) + "]";
        QVERIFY2(contains(md, "| " + kLabels[l] + " | " + std::to_string(e.n) + " | " + std::to_string(e.positives) +
                                  " | " + cell + " |"),
                 (kLabels[l] + ": " + cell).c_str());
        QVERIFY(contains(sectionText(card.document, "Thresholds"), "| " + kLabels[l] + " | " +
                                                                       report::formatNumber(f.thresholds[l]) + " | " +
                                                                       report::formatNumber(*e.bestThresholdF1.value)));
    }
    QVERIFY(contains(md, "macro AUROC: " + report::formatNumber(*expected.macroAuroc.value)));
    // Temperature scaling: fitted on the validation rows, reported on the test rows.
    std::vector<double> ft, fs_, et, es;
    for (std::size_t l = 0; l < kLabels.size(); ++l)
        for (std::size_t i = 0; i < f.ids.size(); ++i) {
            (f.splits[i] == "val" ? ft : et).push_back(f.truth[l][i]);
            (f.splits[i] == "val" ? fs_ : es).push_back(f.score[l][i]);
        }
    const auto fit = metrics::fitTemperature(ft, fs_);
    QCOMPARE(card.temperature.temperature, fit.temperature);
    const double eceAfter =
        *metrics::expectedCalibrationError(et, metrics::applyTemperature(es, fit.temperature)).value;
    QCOMPARE(card.eceAfter, eceAfter);
    const std::string calibration = sectionText(card.document, "Calibration");
    QVERIFY(contains(calibration, "| temperature | 1 | " + report::formatNumber(fit.temperature) + " |"));
    QVERIFY(contains(calibration, report::formatNumber(eceAfter)));
    QVERIFY(contains(calibration, "fitted on the 24 validation rows, reported on the other 36 rows"));
    // Data, config, environment and reproducibility as the store and the manifest hold them.
    const auto manifest = data::readManifest(f.manifest);
    const auto split = data::splitReport(manifest);
    const std::string dataText = sectionText(card.document, "Data");
    for (const auto& s : split.splits)
        QVERIFY(contains(dataText,
                         "| " + s.name + " | " + std::to_string(s.images) + " | " + std::to_string(s.patients) + " |"));
    QVERIFY(contains(dataText, "| train / val | 0 | 0 |"));
    QVERIFY(contains(dataText, "no patient and no image is in two splits"));
    QVERIFY(contains(md, util::sha256File(f.manifest)));
    QVERIFY(contains(md, "`c0ffee00hash`"));
    QVERIFY(contains(md, "| val.auroc_macro | 2 | 0.7325 | 0.6100 | 0.7325 |"));
    QVERIFY(contains(sectionText(card.document, "Reproducibility record"), "| Lumen version | 9.8.7 |"));
    QVERIFY(contains(sectionText(card.document, "Reproducibility record"), "| seed | 42 |"));
    for (const char* heading :
         {"Model", "Intended use", "Limitations", "Data", "Training configuration", "Metrics", "Calibration",
          "Thresholds", "Training metrics (run store)", "Environment", "Reproducibility record"})
        QVERIFY2(card.document.find(heading), heading);
    QVERIFY(contains(sectionText(card.document, "Intended use"), report::kPlaceholderMarker));
    QVERIFY(contains(sectionText(card.document, "Limitations"), report::kPlaceholderMarker));
    // The card of the inference run is the same model's.
    const auto viaInfer = report::buildModelCard(store, runs::Workspace{f.root}, f.inferRun, o);
    QVERIFY(viaInfer.train && viaInfer.train->id == f.trainRun);
    QCOMPARE(viaInfer.checkpointSha256, card.checkpointSha256);
}

void TestCards::modelCardAgainstPython() {
    QTemporaryDir dir;
    const auto f = makeWorkspace(dir.path().toStdString());
    runs::RunStore store(runs::Workspace{f.root}.database());
    report::ModelCardOptions o;
    o.bootstrapResamples = 0;
    const auto card = report::buildModelCard(store, runs::Workspace{f.root}, f.trainRun, o);
    const auto ref = testing::runPythonReference(
        "from sklearn.metrics import roc_auc_score, average_precision_score\nimport hashlib\n"
        "result['auroc'] = [roc_auc_score(t, s) for t, s in zip(inp['truth'], inp['score'])]\n"
        "result['ap'] = [average_precision_score(t, s) for t, s in zip(inp['truth'], inp['score'])]\n"
        "result['sha'] = hashlib.sha256(open(inp['checkpoint'], 'rb').read()).hexdigest()\n"
        "result['preds_sha'] = hashlib.sha256(open(inp['preds'], 'rb').read()).hexdigest()\n",
        {{"truth", f.truth}, {"score", f.score}, {"checkpoint", f.checkpoint.string()}, {"preds", f.preds.string()}});
    for (std::size_t l = 0; l < kLabels.size(); ++l) {
        QVERIFY(std::abs(*card.metrics.labels[l].auroc.value - ref["auroc"][l].get<double>()) < 1e-12);
        QVERIFY(std::abs(*card.metrics.labels[l].averagePrecision.value - ref["ap"][l].get<double>()) < 1e-12);
    }
    QCOMPARE(card.checkpointSha256, ref["sha"].get<std::string>());
    QCOMPARE(card.predictionsSha256, ref["preds_sha"].get<std::string>());
    QVERIFY(contains(report::toMarkdown(card.document), "| checkpoint SHA-256 | " + ref["sha"].get<std::string>()));
}

void TestCards::modelCardHasNoIdsByDefault() {
    QTemporaryDir dir;
    const auto f = makeWorkspace(dir.path().toStdString());
    runs::RunStore store(runs::Workspace{f.root}.database());
    report::ModelCardOptions o;
    o.bootstrapResamples = 20;
    const auto card = report::buildModelCard(store, runs::Workspace{f.root}, f.trainRun, o);
    const std::string md = report::toMarkdown(card.document), html = report::toHtml(card.document);
    QVERIFY(!contains(md, "PATZ-") && !contains(html, "PATZ-"));
    QVERIFY(!contains(md, "IMGX-") && !contains(html, "IMGX-"));
}

void TestCards::datasetCardCountsEqualTheManifest() {
    QTemporaryDir dir;
    const fs::path root = dir.path().toStdString();
    data::Manifest m;
    m.labelNames = {"X", "Y"};
    // 7 rows; patient PATQ-2 is in train and test: the proof must show 1 shared patient.
    const std::vector<std::tuple<std::string, std::string, std::string, std::vector<std::string>>> rows = {
        {"IMGQ-1", "PATQ-1", "train", {"X"}}, {"IMGQ-2", "PATQ-1", "train", {"X", "Y"}},
        {"IMGQ-3", "PATQ-2", "train", {}},    {"IMGQ-4", "PATQ-2", "test", {"Y"}},
        {"IMGQ-5", "PATQ-3", "test", {"Y"}},  {"IMGQ-6", "PATQ-4", "val", {}},
        {"IMGQ-7", "", "val", {"X"}}};
    for (const auto& [id, patient, split, labels] : rows) m.rows.push_back({id, patient, id + ".png", labels, split});
    data::writeManifest(m, root / "m.csv");
    const auto card = report::buildDatasetCard(root / "m.csv");
    QCOMPARE(card.rows, std::size_t(7));
    QCOMPARE(card.splits.patients, std::size_t(5));  // 4 named + 1 row without a patient
    QCOMPARE(card.missingFiles, std::size_t(7));
    const std::string md = report::toMarkdown(card.document);
    QVERIFY(contains(md, "| train | 3 | 2 | 42.9 | 40.0 |"));
    QVERIFY(contains(md, "| test | 2 | 2 | 28.6 | 40.0 |"));
    QVERIFY(contains(md, "| val | 2 | 2 | 28.6 | 40.0 |"));
    QVERIFY(contains(md, "| label | train positives | val positives | test positives | all positives |"));
    QVERIFY(contains(md, "| train / test | 1 | 0 |"));
    QVERIFY(contains(md, "SPLITS OVERLAP"));
    QVERIFY(contains(md, "| X | 2 (66.7 %) | 1 (50.0 %) | 0 (0.0 %) | 3 (42.9 %) |"));
    QVERIFY(contains(md, "| Y | 1 (33.3 %) | 0 (0.0 %) | 2 (100.0 %) | 3 (42.9 %) |"));
    QVERIFY(contains(md, util::sha256File(root / "m.csv")));
    QVERIFY(!contains(md, "PATQ-") && !contains(md, "IMGQ-"));
    report::DatasetCardOptions withIds;
    withIds.includeIds = true;
    QVERIFY(contains(report::toMarkdown(report::buildDatasetCard(root / "m.csv", withIds).document),
                     "| train / test | 1 (PATQ-2) | 0 |"));
}

void TestCards::auditCardWithholdsIds() {
    QTemporaryDir dir;
    const std::string b =
        writeTextFile(dir, "b.csv", "id,p,q\nSUBJ-1,0.1,1\nSUBJ-2,0.2,2\nSUBJ-3,0.3,3\nSUBJ-4,0.9,4\n");
    const std::string n =
        writeTextFile(dir, "n.csv", "id,p,q\nSUBJ-1,0.1,1\nSUBJ-2,0.25,2\nSUBJ-3,0.3,3\nSUBJ-5,0.5,5\n");
    const auto result = audit::runAudit(b, n, {});
    const auto doc = report::auditCard(result);
    const std::string md = report::toMarkdown(doc);
    QVERIFY(!contains(md, "SUBJ-"));
    QVERIFY(contains(md, "1 ids only in baseline"));
    const auto& overall = result.report.overall;
    QVERIFY(contains(md, "| OVERALL | 2 | " + std::to_string(overall.n) + " | " + report::formatNumber(overall.mae, 6) +
                             " | " + report::formatNumber(*overall.corr, 6)));
    QCOMPARE(doc.plots().size(), std::size_t(4));  // scatter + histogram per category
    const auto pairs = report::categoryPairs(result, result.report.categories[0]);
    QCOMPARE(pairs.baseline, (std::vector<double>{0.1, 0.2, 0.3}));
    QCOMPARE(pairs.newer, (std::vector<double>{0.1, 0.25, 0.3}));
    report::AuditCardOptions o;
    o.includeIds = true;
    QVERIFY(contains(report::toMarkdown(report::auditCard(result, o)), "SUBJ-2 / p"));
}

void TestCards::pdfIsAValidPdf() {
    QTemporaryDir dir;
    const auto f = makeWorkspace(dir.path().toStdString());
    runs::RunStore store(runs::Workspace{f.root}.database());
    report::ModelCardOptions o;
    o.bootstrapResamples = 50;
    const auto card = report::buildModelCard(store, runs::Workspace{f.root}, f.trainRun, o);
    QCOMPARE(card.document.plots().size(), std::size_t(2));  // ROC, reliability
    // docs/screenshots/card_model.pdf under scripts/screenshots.sh (which renders its first page).
    const fs::path pdf = screenshotPath("card_model.pdf").toStdString();
    widgets::writeCard(card.document, pdf);
    const std::string bytes = readTextFile(pdf);
    QVERIFY(bytes.rfind("%PDF-", 0) == 0);
    QVERIFY(contains(bytes.substr(bytes.size() - 16), "%%EOF"));
    QVERIFY2(pdfPages(QByteArray::fromStdString(bytes)) >= 2, "the model card needs more than one page");
    const std::string html = widgets::cardHtml(card.document);
    QCOMPARE(std::count(html.begin(), html.end(), '\n') > 10, true);
    QVERIFY(contains(html, "<img src=\"data:image/png;base64,iVBOR"));
    const QImage plot =
        widgets::drawPlot(card.document.plots()[0]->series.empty() ? report::Plot{} : *card.document.plots()[0]);
    QCOMPARE(plot.size(), QSize(900, 560));
    QVERIFY(plot.pixelColor(450, 280) != QColor(Qt::black));
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, widgets::writeCard(card.document, f.root / "card.docx"));
}

void TestCards::cliWritesCards() {
    QTemporaryDir dir;
    const auto f = makeWorkspace(dir.path().toStdString());
    const QString ws = QString::fromStdString(f.root.string());
    auto r = runLumenCli(
        {"card", "model", QString::number(f.trainRun), "--workspace", ws, "--out", ws + "/m.pdf", "--bootstrap", "50"});
    QVERIFY2(r.code == 0, r.err.c_str());
    QVERIFY(readTextFile(f.root / "m.pdf").rfind("%PDF-", 0) == 0);
    r = runLumenCli(
        {"card", "model", QString::number(f.trainRun), "--workspace", ws, "--out", ws + "/m.md", "--bootstrap", "0"});
    QVERIFY2(r.code == 0, r.err.c_str());
    const std::string md = readTextFile(f.root / "m.md");
    QVERIFY(contains(md, "## Calibration") && !contains(md, "PATZ-"));
    r = runLumenCli({"card", "dataset", QString::fromStdString(f.manifest.string()), "--out", ws + "/d.html"});
    QVERIFY2(r.code == 0, r.err.c_str());
    QVERIFY(contains(readTextFile(f.root / "d.html"), "<h2>Label balance</h2>"));
    r = runLumenCli({"card", "model", "999", "--workspace", ws, "--out", ws + "/x.md"});
    QCOMPARE(r.code, 2);
    QVERIFY2(contains(r.err, "run 999: no such run"), r.err.c_str());
    r = runLumenCli({"card", "model", QString::number(f.trainRun), "--workspace", ws, "--out", ws + "/x.txt"});
    QCOMPARE(r.code, 2);
    QVERIFY(contains(r.err, "use a .md, .html or .pdf"));
}

QTEST_MAIN(TestCards)
#include "test_cards.moc"
