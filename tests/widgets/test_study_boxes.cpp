// The Study page against annotated boxes: the demo workspace's chest_xray/boxes.csv found by
// setWorkspace and drawn over the study's image (the shown label's boxes bright, on the
// pixels), and "Evaluate against boxes…" (StudyBrowser::evaluateBoxes) showing the per-label
// table equal to core's evaluateLocalisation, with localisation.json/.csv written. CAMs are
// made by the test: a Gaussian at each box's centre, so the pointing game is 1 and the control
// (another image's box) lower. Screenshot at 1366×768.
#include "overlay_view.h"
#include "study_boxes.h"
#include "study_browser.h"

#include "demo/demo_workspace.h"
#include "explain/heatmap.h"
#include "explain/localisation.h"

#include "test_support.h"

#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

using namespace lumen;
using widgets::StudyBrowser;

class TestStudyBoxes : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString ws_, preds_, cacheDir_;
    explain::BoxTable boxes_;
    std::vector<std::string> labels_;

private slots:
    void initTestCase() {
        ws_ = dir_.filePath("ws");
        demo::DemoOptions o;
        o.chestImages = 24;
        o.ctVolumes = 0;
        o.angioStudies = 0;
        o.predictionStudies = 0;
        demo::createDemoWorkspace(ws_.toStdString(), o);
        boxes_ = explain::readBoxes((ws_ + "/chest_xray/boxes.csv").toStdString());
        QVERIFY(boxes_.boxes.size() > 10);
        // Predictions: one probability column per finding, one row per image with boxes.
        std::set<std::string> labels, images;
        for (const auto& b : boxes_.boxes) labels.insert(b.label), images.insert(b.image);
        labels_.assign(labels.begin(), labels.end());
        std::ofstream p((ws_ + "/preds.csv").toStdString());
        p << "image";
        for (const auto& l : labels_) p << ',' << l;
        p << '\n';
        int row = 0;
        for (const auto& im : images) {
            p << im;
            for (std::size_t k = 0; k < labels_.size(); ++k) p << ',' << (0.1 + 0.01 * double((row + k) % 80));
            p << '\n';
            ++row;
        }
        p.close();
        preds_ = ws_ + "/preds.csv";
        // A CAM (input 224 of a 256 px image) peaking at the centre of the first box of
        // every (image, label).
        explain::CamCache cache;
        cache.dir = (ws_ + "/cache/cam/00000000000000ab_default_gradcam").toStdString();
        cache.model = "synthetic";
        cache.layer = "default";
        cache.method = "gradcam";
        std::set<std::pair<std::string, std::string>> done;
        int n = 0;
        for (const auto& b : boxes_.boxes) {
            if (!done.insert({b.image, b.label}).second) continue;
            // At the model input's resolution (224 of 256 px, no crop): the hottest pixel is the
            // input pixel nearest the box's centre, so the pointing game must be 1.
            const double k = 224.0 / 256.0, cx = (b.x + b.w / 2) * k - 0.5, cy = (b.y + b.h / 2) * k - 0.5;
            const double sx = std::max(2.0, b.w * k / 3), sy = std::max(2.0, b.h * k / 3);
            explain::Heatmap h{{224, 224}, std::vector<float>(224 * 224)};
            for (int y = 0; y < 224; ++y)
                for (int x = 0; x < 224; ++x)
                    h.values[std::size_t(y * 224 + x)] =
                        float(std::exp(-0.5 * ((x - cx) * (x - cx) / (sx * sx) + (y - cy) * (y - cy) / (sy * sy))));
            explain::CamEntry e;
            e.id = b.image;
            e.label = b.label;
            e.file = explain::camFileName(e.id, e.label);
            e.inputH = e.inputW = 224;
            e.rawMax = 1;
            e.prob = 0.3 + 0.6 * double(n++ % 7) / 7.0;
            explain::saveCam(h, e, cache.dir);
            cache.entries.push_back(e);
        }
        explain::writeCamCacheIndex(cache);
        cacheDir_ = QString::fromStdString(cache.dir.string());
    }

    void drawsTheStudysBoxes() {
        StudyBrowser browser;
        browser.resize(1366, 768);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        browser.setWorkspace(ws_);
        QCOMPARE(browser.boxesFile(), ws_ + "/chest_xray/boxes.csv");
        QSignalSpy loaded(&browser, &StudyBrowser::tablesLoaded);
        QSignalSpy shown(&browser, &StudyBrowser::studyShown);
        browser.openTables(preds_);
        QVERIFY(loaded.wait(10000));
        // A study with at least two boxes, its first box's label chosen.
        std::map<std::string, int> count;
        for (const auto& b : boxes_.boxes) ++count[b.image];
        const auto it = std::find_if(count.begin(), count.end(), [](const auto& c) { return c.second >= 2; });
        QVERIFY(it != count.end());
        const auto first =
            std::find_if(boxes_.boxes.begin(), boxes_.boxes.end(), [&](const auto& b) { return b.image == it->first; });
        QVERIFY(browser.setLabel(QString::fromStdString(first->label)));
        browser.selectStudy(QString::fromStdString(it->first));
        QTRY_VERIFY_WITH_TIMEOUT(!shown.isEmpty() && shown.last().at(0).toString().toStdString() == it->first, 10000);
        auto* overlay = browser.findChild<widgets::OverlayView*>();
        QVERIFY(overlay);
        QTRY_COMPARE_WITH_TIMEOUT(int(overlay->boxes().size()), it->second, 10000);
        int current = 0;
        for (const auto& b : overlay->boxes()) current += b.current;
        QVERIFY(current >= 1 && current < it->second + 1);
        // On the pixels: the box's top edge is green where the bare image is grey.
        const auto& box = overlay->boxes().front();
        const QImage img = overlay->composedImage();
        QRgb edge = 0;
        for (const auto& b : overlay->boxes())
            if (b.current) edge = img.pixel(int(b.rect.center().x()), int(b.rect.top()));
        QVERIFY2(qGreen(edge) > qRed(edge) + 60, qPrintable(QString::number(edge, 16)));
        overlay->setBoxesVisible(false);
        const QImage bare = overlay->composedImage();
        QVERIFY(bare.pixel(int(box.rect.center().x()), int(box.rect.top())) !=
                img.pixel(int(box.rect.center().x()), int(box.rect.top())));
        overlay->setBoxesVisible(true);

        // "Evaluate against boxes…": the table equals core's numbers.
        QVERIFY(browser.findChild<QPushButton*>("studyEvaluateBoxes"));
        QSignalSpy done(&browser, &StudyBrowser::boxesEvaluated);
        browser.evaluateBoxes(browser.boxesFile());
        QVERIFY(done.wait(30000));
        explain::LocalisationOptions opt;
        opt.imageSize = explain::imageSizeFinder({ws_.toStdString()});
        const auto report = explain::evaluateLocalisation(explain::readCamCache(cacheDir_.toStdString()), boxes_, opt);
        QCOMPARE(done.at(0).at(0).toInt(), int(report.pairs.size()));
        auto* dialog = browser.boxDialog();
        QVERIFY(dialog && dialog->isVisible());
        auto* table = dialog->table();
        QCOMPARE(table->rowCount(), int(report.labels.size()) + 1);
        for (int r = 0; r < int(report.labels.size()); ++r) {
            const auto& l = report.labels[std::size_t(r)];
            QCOMPARE(table->item(r, 0)->text().toStdString(), l.label);
            QCOMPARE(table->item(r, 3)->text(), QString::number(l.real.pointing, 'f', 3));
            QCOMPARE(table->item(r, 4)->text(), QString::number(l.real.meanIou, 'f', 3));
            QCOMPARE(table->item(r, 5)->text(), QString::number(l.real.ap50, 'f', 3));
        }
        // The CAMs point at their boxes; the control does not always.
        QCOMPARE(report.overall.real.pointing, 1.0);
        QVERIFY(report.overall.control && report.overall.control->pointing < 0.9);
        QCOMPARE(table->item(table->rowCount() - 1, 3)->text(), QString("1.000"));
        QVERIFY(QFileInfo::exists(cacheDir_ + "/localisation.json"));
        QVERIFY(QFileInfo::exists(cacheDir_ + "/localisation.csv"));

        // Screenshots: the study with its boxes over the heatmap, and the table.
        QApplication::processEvents();
        QVERIFY(browser.grab().save(screenshotPath("study_boxes.png")));
        QApplication::processEvents();
        QVERIFY(dialog->grab().save(screenshotPath("study_boxes_table.png")));

        // A bad boxes file is named in the failure.
        const auto bad = writeTextFile(dir_, "bad.csv", "image,finding,x,y,w,h\na.png,Mass,1,2,3\n");
        QSignalSpy failed(&browser, &StudyBrowser::boxesEvaluationFailed);
        browser.evaluateBoxes(QString::fromStdString(bad));
        QTRY_VERIFY_WITH_TIMEOUT(!failed.isEmpty(), 10000);
        QVERIFY2(failed.at(0).at(0).toString().contains("bad.csv:2"), qPrintable(failed.at(0).at(0).toString()));
    }
};

QTEST_MAIN(TestStudyBoxes)
#include "test_study_boxes.moc"
