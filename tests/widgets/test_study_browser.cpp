// Qt Test suite for the study view, driven with QTest events: the overlay's layers (heatmap
// colour map / opacity / threshold, mask outline / fill, crop | drop panes) checked on pixels,
// zoom / pan / window-level by mouse; the study browser's filters (row counts), selection
// (the study panel's id, values and baseline, the CAM and the mask on the image), keyboard
// navigation, the faithfulness plot's click, and a cine study of the demo workspace.
// Fixtures: the demo workspace's chest X-rays with a generated ROI predictions table,
// baseline, masks and CAM cache (no model involved).
#include "faithfulness_plot.h"
#include "overlay_view.h"
#include "plot_export.h"
#include "study_browser.h"

#include "demo/demo_workspace.h"
#include "explain/heatmap.h"

#include "test_support.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QSlider>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace lumen;
using widgets::OverlayView;
using widgets::StudyBrowser;

/// A named child (a widget's object names are its test interface); fails when it is missing.
template <typename T>
T* part(QWidget& w, const char* name) {
    T* child = w.findChild<T*>(QString::fromLatin1(name));
    if (!child) qFatal("no %s named %s", T::staticMetaObject.className(), name);
    return child;
}

namespace {

constexpr int kImages = 12;
const char* kLabels[] = {"Cardiomegaly", "Effusion", "Nodule"};

// Deterministic fixture values for image i and label k.
double probFull(int i, int k) { return 0.05 + 0.075 * i + 0.01 * k; }
double probDrop(int i, int k) { return i % 2 == 0 ? probFull(i, k) * 0.4 : std::min(1.0, probFull(i, k) + 0.03); }
double baselineShift(int i, int k) { return (i == 3 && k == 1) ? -0.2 : 0.0005; }

QString fixed(double v) { return QString::number(v, 'f', 6); }

// Clicks a check box on its indicator (its centre may lie beyond the text when it is stretched).
void clickBox(QCheckBox* box) { QTest::mouseClick(box, Qt::LeftButton, {}, QPoint(8, box->height() / 2)); }

bool isGrey(QRgb c) { return qRed(c) == qGreen(c) && qGreen(c) == qBlue(c); }

}  // namespace

class TestStudyBrowser : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString ws_, preds_, baseline_;
    QStringList ids_;

    // The heatmap of every fixture image: a Gaussian on an 8x8 grid, peak (value 1 after
    // normalisation) at cell (6, 6) = image pixel (208, 208) of a 256 px image.
    static explain::Heatmap cam() {
        explain::Heatmap h{{8, 8}, std::vector<float>(64)};
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x)
                h.values[std::size_t(y * 8 + x)] =
                    3.0f * float(std::exp(-((x - 6) * (x - 6) + (y - 6) * (y - 6)) / 4.0));
        return h;
    }

private slots:
    void initTestCase() {
        ws_ = dir_.filePath("ws");
        demo::DemoOptions o;
        o.chestImages = 16;
        o.ctVolumes = 1;
        o.angioStudies = 3;
        o.predictionStudies = 12;
        demo::createDemoWorkspace(ws_.toStdString(), o);
        // The first kImages chest X-rays, by name.
        std::ifstream entries((ws_ + "/chest_xray/Data_Entry_2017.csv").toStdString());
        std::string line;
        std::getline(entries, line);
        while (std::getline(entries, line) && ids_.size() < kImages)
            ids_ << QString::fromStdString(line.substr(0, line.find(',')));
        ids_.sort();
        QCOMPARE(ids_.size(), kImages);

        // preds.csv as the ROI-consistency inference writes it, roi_vis/ masks beside it.
        const QString out = ws_ + "/runs/1_roi_consistency";
        QDir().mkpath(out + "/roi_vis");
        std::ostringstream p, b;
        p << "image";
        for (const char* l : kLabels)
            for (const char* m : {"prob_full", "prob_crop", "prob_drop", "faithfulness"}) p << ',' << l << '.' << m;
        b << p.str() << '\n';
        p << '\n';
        for (int i = 0; i < kImages; ++i) {
            p << ids_[i].toStdString();
            b << ids_[i].toStdString();
            for (int k = 0; k < 3; ++k) {
                const double f = probFull(i, k), d = probDrop(i, k), c = f * 0.9;
                p << ',' << fixed(f).toStdString() << ',' << fixed(c).toStdString() << ',' << fixed(d).toStdString()
                  << ',' << fixed(f - d).toStdString();
                const double fb = f + baselineShift(i, k);
                b << ',' << fixed(fb).toStdString() << ',' << fixed(c).toStdString() << ',' << fixed(d).toStdString()
                  << ',' << fixed(fb - d).toStdString();
            }
            p << '\n';
            b << '\n';
            // A 64x64 mask: the square [16, 40)² = image pixels [64, 160)².
            QImage mask(64, 64, QImage::Format_Grayscale8);
            mask.fill(0);
            for (int y = 16; y < 40; ++y)
                for (int x = 16; x < 40; ++x) mask.scanLine(y)[x] = 255;
            QVERIFY(mask.save(out + "/roi_vis/" + QFileInfo(ids_[i]).completeBaseName() + "_mask.png"));
        }
        preds_ = out + "/preds.csv";
        baseline_ = dir_.filePath("baseline_preds.csv");
        std::ofstream(preds_.toStdString()) << p.str();
        std::ofstream(baseline_.toStdString()) << b.str();

        // A CAM cache with an Effusion CAM for every image.
        explain::CamCache cache;
        cache.dir = (ws_ + "/cache/cam/0123456789abcdef_stages.3_gradcam").toStdString();
        cache.model = "model.pt";
        cache.layer = "stages.3";
        cache.method = "gradcam";
        for (const auto& id : ids_) {
            explain::CamEntry e;
            e.id = id.toStdString();
            e.label = "Effusion";
            e.target = 1;
            e.file = explain::camFileName(e.id, e.label);
            e.rawMin = 0;
            e.rawMax = 3;
            e.inputH = e.inputW = 224;
            e.prob = 0.8;
            explain::saveCam(cam(), e, cache.dir);
            cache.entries.push_back(e);
        }
        explain::writeCamCacheIndex(cache);
    }

    // ---- OverlayView ------------------------------------------------------------------------
    void colormapsHaveTheirKnownEnds() {
        using widgets::Colormap;
        auto near = [](QRgb c, int r, int g, int b) {
            return std::abs(qRed(c) - r) <= 5 && std::abs(qGreen(c) - g) <= 5 && std::abs(qBlue(c) - b) <= 5;
        };
        // matplotlib's viridis/inferno ends and middle, jet's ends (MATLAB), turbo's ends.
        QVERIFY(near(widgets::colormapColor(Colormap::Viridis, 0), 68, 1, 84));
        QVERIFY(near(widgets::colormapColor(Colormap::Viridis, 0.5), 33, 145, 140));
        QVERIFY(near(widgets::colormapColor(Colormap::Viridis, 1), 253, 231, 37));
        QVERIFY(near(widgets::colormapColor(Colormap::Inferno, 0), 0, 0, 4));
        QVERIFY(near(widgets::colormapColor(Colormap::Inferno, 1), 252, 255, 164));
        QVERIFY(near(widgets::colormapColor(Colormap::Jet, 0), 0, 0, 128));
        QVERIFY(near(widgets::colormapColor(Colormap::Jet, 1), 128, 0, 0));
        const QRgb turboMid = widgets::colormapColor(Colormap::Turbo, 0.5);
        QVERIFY(qGreen(turboMid) > 200 && qBlue(turboMid) < 120);
        QVERIFY(qRed(widgets::colormapColor(Colormap::Turbo, 1)) > 100 &&
                qBlue(widgets::colormapColor(Colormap::Turbo, 1)) < 20);
    }

    void overlayLayersChangeThePixels() {
        OverlayView view;
        view.resize(900, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        const QImage xray(ws_ + "/chest_xray/images_001/" + ids_[0]);
        QCOMPARE(xray.size(), QSize(256, 256));
        view.setImage(xray, ids_[0]);
        auto h = explain::normalised(cam());
        view.setHeatmap(h.shape, h.values);  // 8x8: the view resamples it
        QImage mask(64, 64, QImage::Format_Grayscale8);
        mask.fill(0);
        for (int y = 16; y < 40; ++y)
            for (int x = 16; x < 40; ++x) mask.scanLine(y)[x] = 255;
        view.setMask(mask);
        QVERIFY(view.heatmapBox()->isEnabled());
        QVERIFY(view.maskBox()->isEnabled());

        // Defaults: jet at 45 %, threshold 0.2, mask outline in cyan.
        QImage img = view.composedImage();
        QCOMPARE(img.size(), QSize(256, 256));
        const QRgb peak = img.pixel(208, 208), far = img.pixel(20, 20), edge = img.pixel(64, 100),
                   inside = img.pixel(100, 100);
        QVERIFY2(qRed(peak) > qGreen(peak) + 40 && qRed(peak) > qBlue(peak) + 40, "jet(1) is dark red");
        QVERIFY(isGrey(far));                    // below the threshold: transparent
        QCOMPARE(edge, qRgb(0, 255, 255));       // outline
        QVERIFY(isGrey(inside));                 // outline only: the inside is untouched
        QCOMPARE(inside, xray.pixel(100, 100));  // window = the PNG's 0..255

        // Heatmap off (checkbox click): the peak is the X-ray again.
        clickBox(view.heatmapBox());
        QVERIFY(!view.layers().heatmap);
        QCOMPARE(view.composedImage().pixel(208, 208), xray.pixel(208, 208));
        clickBox(view.heatmapBox());
        QVERIFY(view.layers().heatmap);

        // Opacity: more opacity, redder peak; 0 = no heatmap at all.
        view.opacitySlider()->setValue(90);
        const QRgb strong = view.composedImage().pixel(208, 208);
        QVERIFY(qRed(strong) > qRed(peak) || qGreen(strong) < qGreen(peak));
        QVERIFY(qAbs(qRed(strong) - 128) <= 20 && qGreen(strong) < 40);
        view.opacitySlider()->setValue(0);
        QCOMPARE(view.composedImage().pixel(208, 208), xray.pixel(208, 208));
        view.opacitySlider()->setValue(50);

        // Threshold 0: everything coloured, the far corner is jet(0) = dark blue over grey.
        view.thresholdSlider()->setValue(0);
        const QRgb blue = view.composedImage().pixel(20, 20);
        QVERIFY(qBlue(blue) > qRed(blue) + 30);
        view.thresholdSlider()->setValue(20);
        QVERIFY(isGrey(view.composedImage().pixel(20, 20)));
        // The threshold's value is shown, and the colour bar greys what it hides: jet's dark red
        // at the top (1), grey under the threshold (0.20), the threshold ticked.
        QCOMPARE(part<QLabel>(view, "overlayThresholdValue")->text(), QString("0.20"));
        QVERIFY(view.colorBarShown());
        const QImage bar = view.colorBar(200);
        QCOMPARE(bar.height(), 200);
        const QRgb barTop = bar.pixel(8, 12), barBottom = bar.pixel(8, 188);
        QVERIFY2(qRed(barTop) > 100 && qGreen(barTop) < 40 && qBlue(barTop) < 40,
                 qPrintable(QString::number(barTop, 16)));
        QCOMPARE(QColor(barBottom).rgb(), qRgb(70, 70, 70));

        // Colour map: viridis at the peak is yellow (red and green high, blue low).
        view.colormapBox()->setCurrentIndex(view.colormapBox()->findText("viridis"));
        QCOMPARE(view.layers().colormap, widgets::Colormap::Viridis);
        const QRgb yellow = view.composedImage().pixel(208, 208);
        QVERIFY(qGreen(yellow) > qBlue(yellow) + 40 && qRed(yellow) > qBlue(yellow) + 40);

        // Mask as fill: the inside turns cyan-ish, the outline pixel is no longer pure cyan.
        view.maskStyleBox()->setCurrentIndex(1);
        QCOMPARE(view.layers().maskStyle, widgets::MaskStyle::Fill);
        img = view.composedImage();
        QVERIFY(qGreen(img.pixel(100, 100)) > qRed(img.pixel(100, 100)) + 30);
        QVERIFY(img.pixel(20, 20) == xray.pixel(20, 20));
        // Mask off.
        clickBox(view.maskBox());
        QCOMPARE(view.composedImage().pixel(100, 100), xray.pixel(100, 100));
        clickBox(view.maskBox());

        // Crop | drop: three panes; crop keeps the inside, drop the outside.
        clickBox(view.cropDropBox());
        img = view.composedImage();
        const int gap = (img.width() - 3 * 256) / 2;
        QVERIFY(gap >= 4);
        QCOMPARE(img.height(), 256);
        QCOMPARE(img.pixel(256 + gap + 100, 100), xray.pixel(100, 100));    // crop, inside
        QCOMPARE(img.pixel(256 + gap + 20, 20), qRgb(0, 0, 0));             // crop, outside
        QCOMPARE(img.pixel(2 * (256 + gap) + 100, 100), qRgb(0, 0, 0));     // drop, inside
        QCOMPARE(img.pixel(2 * (256 + gap) + 20, 20), xray.pixel(20, 20));  // drop, outside

        // What is on screen is the composed image: the canvas pixel over the peak is reddish
        // with jet (switch back to outline, jet).
        clickBox(view.cropDropBox());
        view.colormapBox()->setCurrentIndex(0);
        view.maskStyleBox()->setCurrentIndex(0);
        QApplication::processEvents();
        const QImage shot = view.canvas()->grab().toImage();
        const QPointF at = view.canvasPosOf(208, 208);
        const QRgb screen = shot.pixel(at.toPoint() * shot.devicePixelRatio());
        QVERIFY2(qRed(screen) > qBlue(screen) + 30, qPrintable(QString::number(screen, 16)));

        // Zoom with the wheel about the cursor; pan by dragging; W/L by right-drag.
        const QPoint c = view.canvas()->rect().center();
        QWheelEvent wheel(QPointF(c), view.canvas()->mapToGlobal(QPointF(c)), {}, QPoint(0, 240), Qt::NoButton, {},
                          Qt::NoScrollPhase, false);
        QApplication::sendEvent(view.canvas(), &wheel);
        QVERIFY(std::abs(view.zoom() - 1.5625) < 1e-9);
        const QPointF pan0 = view.pan();
        QTest::mousePress(view.canvas(), Qt::LeftButton, {}, c);
        QTest::mouseMove(view.canvas(), c + QPoint(30, 10));
        QTest::mouseRelease(view.canvas(), Qt::LeftButton, {}, c + QPoint(30, 10));
        QCOMPARE(view.pan() - pan0, QPointF(30, 10));
        const double width0 = view.windowWidth(), center0 = view.windowCenter();
        QTest::mousePress(view.canvas(), Qt::RightButton, {}, c);
        QTest::mouseMove(view.canvas(), c + QPoint(-100, 40));
        QTest::mouseRelease(view.canvas(), Qt::RightButton, {}, c + QPoint(-100, 40));
        QVERIFY(view.windowWidth() < width0);
        QVERIFY(view.windowCenter() > center0);
        // A narrower, higher window darkens the image's mid-grey pixels.
        QVERIFY(qRed(view.composedImage().pixel(100, 100)) <= qRed(xray.pixel(100, 100)));
        QTest::mouseDClick(view.canvas(), Qt::LeftButton, {}, c);
        QCOMPARE(view.zoom(), 1.0);
        QCOMPARE(view.windowWidth(), width0);

        // Export writes the composed view; a bad path is an error naming it.
        const QString png = dir_.filePath("overlay_export.png");
        QString error;
        QVERIFY2(view.exportPng(png, &error), qPrintable(error));
        QCOMPARE(QImage(png).convertToFormat(QImage::Format_RGB32).pixel(64, 100), qRgb(0, 255, 255));
        // The colour bar travels with the exported view, to its right.
        QCOMPARE(QImage(png).width(), view.composedImage().width() + view.colorBar(256).width());
        QVERIFY(!view.exportPng("/nonexistent/dir/x.png", &error));
        QVERIFY(error.contains("/nonexistent/dir/x.png"));

        // Screenshot: layers on, crop | drop beside.
        clickBox(view.cropDropBox());
        view.resize(1100, 520);
        QApplication::processEvents();
        QVERIFY(view.grab().save(screenshotPath("overlay.png")));
    }

    void overlayFollowsFramesOfAVolume() {
        // A 3-D heatmap follows the frame slider.
        auto v = std::make_shared<io::ImageVolume>();
        v->depth = 4;
        v->rows = v->columns = 16;
        v->isVolume = true;
        v->values.assign(v->elementCount(), 100.f);
        OverlayView view;
        view.setVolume(v);
        QVERIFY(view.frameSlider()->isVisibleTo(&view));
        QCOMPARE(view.frameSlider()->maximum(), 3);
        std::vector<float> heat(4 * 16 * 16, 0.f);
        std::fill(heat.begin() + 2 * 256, heat.begin() + 3 * 256, 1.f);  // only slice 2 is hot
        view.setHeatmap({4, 16, 16}, heat);
        QVERIFY(isGrey(view.composedImage().pixel(8, 8)));
        view.frameSlider()->setValue(2);
        QCOMPARE(view.frame(), 2);
        QVERIFY(!isGrey(view.composedImage().pixel(8, 8)));
    }

    void composesALargeImageQuickly() {
        // A 2048² radiograph with a 7x7 CAM and a 224² mask: the first composition resamples
        // both; a slider move (opacity) recomposes from the cached resampled layers.
        QImage big(2048, 2048, QImage::Format_Grayscale8);
        for (int y = 0; y < big.height(); ++y)
            for (int x = 0; x < big.width(); ++x) big.scanLine(y)[x] = uchar((x ^ y) & 0xff);
        OverlayView view;
        view.setImage(big);
        std::vector<float> heat(49);
        for (int i = 0; i < 49; ++i) heat[std::size_t(i)] = float(i) / 48.f;
        view.setHeatmap({7, 7}, heat);
        QImage mask(224, 224, QImage::Format_Grayscale8);
        mask.fill(0);
        for (int y = 50; y < 150; ++y)
            for (int x = 60; x < 170; ++x) mask.scanLine(y)[x] = 255;
        view.setMask(mask);
        QElapsedTimer t;
        t.start();
        QVERIFY(!view.composedImage().isNull());
        const qint64 first = t.restart();
        view.setOpacity(0.7);
        QVERIFY(!view.composedImage().isNull());
        const qint64 again = t.restart();
        view.setCropDropVisible(true);
        QCOMPARE(view.composedImage().width(), 3 * 2048 + 2 * (2048 / 40));
        const qint64 panes = t.elapsed();
        qInfo("compose 2048^2 (heat + outline): first %lld ms, after an opacity change %lld ms, with crop|drop %lld ms",
              first, again, panes);
        QVERIFY2(again < 3000, "recomposition should stay interactive");
    }

    // ---- StudyBrowser -----------------------------------------------------------------------
    void browsesFiltersAndSelectsStudies() {
        StudyBrowser browser;
        browser.resize(1500, 900);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        browser.setWorkspace(ws_);
        QVERIFY(browser.camCache().endsWith("0123456789abcdef_stages.3_gradcam"));
        QSignalSpy loaded(&browser, &StudyBrowser::tablesLoaded);
        browser.openTables(preds_, baseline_);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(loaded.at(0).at(0).toInt(), kImages);
        QCOMPARE(browser.currentStudy(), ids_[0]);         // the first row is shown straight away
        QVERIFY(browser.roiFolder().endsWith("roi_vis"));  // found beside preds.csv
        QCOMPARE(browser.labels(), QStringList({"Cardiomegaly", "Effusion", "Nodule"}));
        QCOMPARE(part<QComboBox>(browser, "studyLabel")->itemText(1), QString("Effusion"));
        QCOMPARE(browser.visibleRowCount(), kImages);
        QVERIFY(browser.setLabel("Effusion"));
        QCOMPARE(part<QTableView>(browser, "studyTable")->model()->headerData(1, Qt::Horizontal).toString(),
                 QString("Effusion — P(full)"));

        // Faithfulness < 0: the odd images (drop raised P).
        clickBox(part<QCheckBox>(browser, "studyFaithFilter"));
        part<QDoubleSpinBox>(browser, "studyFaithBelow")->setValue(0.0);
        QCOMPARE(browser.visibleRowCount(), kImages / 2);
        for (const auto& id : browser.visibleStudies()) QVERIFY(ids_.indexOf(id) % 2 == 1);
        clickBox(part<QCheckBox>(browser, "studyFaithFilter"));
        QCOMPARE(browser.visibleRowCount(), kImages);

        // P(full) of Effusion in [0.5, 1]: i with 0.06 + 0.075 i >= 0.5 → i >= 6.
        part<QDoubleSpinBox>(browser, "studyScoreMin")->setValue(0.5);  // editing a bound switches the filter on
        QVERIFY(part<QCheckBox>(browser, "studyScoreFilter")->isChecked());
        QCOMPARE(browser.visibleRowCount(), kImages - 6);
        part<QDoubleSpinBox>(browser, "studyScoreMax")->setValue(0.7);  // i <= 8
        QCOMPARE(browser.visibleRowCount(), 3);
        clickBox(part<QCheckBox>(browser, "studyScoreFilter"));
        QCOMPARE(browser.visibleRowCount(), kImages);

        // |new − baseline| > 0.1 in Effusion: only image 3.
        part<QDoubleSpinBox>(browser, "studyDiffAbove")->setValue(0.1);
        QVERIFY(part<QCheckBox>(browser, "studyDiffFilter")->isChecked());
        QCOMPARE(browser.visibleStudies(), QStringList{ids_[3]});
        // … in Nodule: none; in any column: image 3 again.
        browser.setLabel("Nodule");
        QCOMPARE(browser.visibleRowCount(), 0);
        part<QComboBox>(browser, "studyDiffScope")->setCurrentIndex(1);
        QCOMPARE(browser.visibleStudies(), QStringList{ids_[3]});
        clickBox(part<QCheckBox>(browser, "studyDiffFilter"));
        browser.setLabel("Effusion");

        // Id filter, typed.
        QTest::keyClicks(part<QLineEdit>(browser, "studyIdFilter"), ids_[5].left(12));
        QCOMPARE(browser.visibleStudies(), QStringList{ids_[5]});
        part<QLineEdit>(browser, "studyIdFilter")->clear();
        QCOMPARE(browser.visibleRowCount(), kImages);

        // Select by clicking the row of image 3: the panel shows its id, values and baseline.
        QSignalSpy shown(&browser, &StudyBrowser::studyShown);
        QTableView* t = part<QTableView>(browser, "studyTable");
        int row = -1;
        for (int i = 0; i < t->model()->rowCount(); ++i)
            if (t->model()->index(i, 0).data().toString() == ids_[3]) row = i;
        QVERIFY(row >= 0);
        t->scrollTo(t->model()->index(row, 0));
        QTest::mouseClick(t->viewport(), Qt::LeftButton, {}, t->visualRect(t->model()->index(row, 1)).center());
        QCOMPARE(browser.currentStudy(), ids_[3]);
        QVERIFY(part<QLabel>(browser, "studyTitle")->text().contains(ids_[3]));
        QTableWidget* p = part<QTableWidget>(browser, "studyPredictions");
        QCOMPARE(p->rowCount(), 12);
        int effusionFull = -1;
        for (int i = 0; i < p->rowCount(); ++i)
            if (p->item(i, 0)->text() == "Effusion — P(full)") effusionFull = i;
        QVERIFY(effusionFull >= 0);
        QCOMPARE(p->item(effusionFull, 1)->text(), QString::number(probFull(3, 1), 'f', 4));
        QCOMPARE(p->item(effusionFull, 2)->text(), QString::number(probFull(3, 1) - 0.2, 'f', 4));
        QCOMPARE(p->item(effusionFull, 3)->text(), QString::number(0.2, 'f', 4));
        QVERIFY(p->item(effusionFull, 0)->font().bold());
        QVERIFY2(part<QLabel>(browser, "studyFaith")
                     ->text()
                     .contains(QString::number(probFull(3, 1) - probDrop(3, 1), 'f', 4)),
                 qPrintable(part<QLabel>(browser, "studyFaith")->text()));

        // Its image, CAM and mask arrive off the GUI thread.
        QTRY_VERIFY_WITH_TIMEOUT(!shown.isEmpty() && shown.last().at(0).toString() == ids_[3], 10000);
        OverlayView* o = part<lumen::widgets::OverlayView>(browser, "overlayView");
        QCOMPARE(o->imageSize(), QSize(256, 256));
        QVERIFY(o->hasHeatmap());
        QVERIFY(o->hasMask());
        const QImage img = o->composedImage();
        const QRgb peak = img.pixel(208, 208);
        QVERIFY2(qRed(peak) > qBlue(peak) + 40, "the CAM's peak is drawn in jet's red");
        QCOMPARE(img.pixel(64, 100), qRgb(0, 255, 255));
        QVERIFY(browser.findChild<QLabel*>("studyCamInfo")->text().contains("stages.3"));

        // Keyboard: PageDown / J next, PageUp / K previous, arrows in the table.
        const QStringList order = browser.visibleStudies();
        const int at = order.indexOf(ids_[3]);
        t->setFocus();
        QTest::keyClick(t, Qt::Key_PageDown);
        QCOMPARE(browser.currentStudy(), order[at + 1]);
        QTest::keyClick(t, Qt::Key_J);
        QCOMPARE(browser.currentStudy(), order[at + 2]);
        QTest::keyClick(t, Qt::Key_K);
        QCOMPARE(browser.currentStudy(), order[at + 1]);
        QTest::keyClick(t, Qt::Key_PageUp);
        QCOMPARE(browser.currentStudy(), order[at]);
        QTest::keyClick(t, Qt::Key_Down);
        QCOMPARE(browser.currentStudy(), order[at + 1]);
        QTest::keyClick(t, Qt::Key_Up);
        QCOMPARE(browser.currentStudy(), order[at]);
        // From the image too.
        QTest::keyClick(o->canvas(), Qt::Key_PageDown);
        QCOMPARE(browser.currentStudy(), order[at + 1]);
        // Navigation skips filtered-out rows: with faithfulness < 0 only odd images remain.
        clickBox(part<QCheckBox>(browser, "studyFaithFilter"));
        QCOMPARE(part<QDoubleSpinBox>(browser, "studyFaithBelow")->value(), 0.0);
        const QStringList odd = browser.visibleStudies();
        QCOMPARE(odd.size(), kImages / 2);
        browser.selectStudy(odd[0]);
        QTest::keyClick(t, Qt::Key_PageDown);
        QCOMPARE(browser.currentStudy(), odd[1]);
        clickBox(part<QCheckBox>(browser, "studyFaithFilter"));

        // Sorting by the score column (descending) changes the order navigation follows.
        t->sortByColumn(1, Qt::DescendingOrder);
        QCOMPARE(browser.visibleStudies().first(), ids_[kImages - 1]);
        browser.selectStudy(ids_[kImages - 1]);
        QTest::keyClick(t, Qt::Key_PageDown);
        QCOMPARE(browser.currentStudy(), ids_[kImages - 2]);

        // The faithfulness plot: a click on image 6's dot selects it.
        widgets::FaithfulnessPlot* plot = part<lumen::widgets::FaithfulnessPlot>(browser, "faithfulnessPlot");
        QCOMPARE(plot->label(), QString("Effusion"));
        QCOMPARE(plot->pointCount(), kImages);
        const auto pixel = plot->pixelOf(ids_[6]);
        QVERIFY(pixel);
        QTest::mouseClick(plot->plot(), Qt::LeftButton, {}, *pixel);
        QCOMPARE(browser.currentStudy(), ids_[6]);
        QCOMPARE(plot->highlighted(), ids_[6]);
        // Export through plot_export.h.
        const QString exported = dir_.filePath("faithfulness.svg");
        QVERIFY(widgets::exportPlot(plot->plot(), exported));
        QVERIFY(QFileInfo(exported).size() > 1000);
        // The plot's chooser drives the browser's label and back.
        plot->setLabel("Nodule");
        QCOMPARE(browser.label(), QString("Nodule"));
        browser.setLabel("Effusion");
        QCOMPARE(plot->label(), QString("Effusion"));

        // Unknown id: refused, named.
        QVERIFY(!browser.selectStudy("no_such_image.png"));
        QVERIFY(browser.statusText().contains("no_such_image.png"));

        // Screenshot of the study view (image 6, a faithful one).
        browser.selectStudy(ids_[6]);
        QTRY_VERIFY_WITH_TIMEOUT(shown.last().at(0).toString() == ids_[6], 10000);
        QApplication::processEvents();
        QVERIFY(browser.grab().save(screenshotPath("study_view.png")));
    }

    void showsACineStudyWithViewsAndFrames() {
        // The demo's angiography predictions: ids are 7-digit strings, images in S<id>/.
        StudyBrowser browser;
        browser.resize(1300, 800);
        browser.show();
        browser.setMediaRoot(ws_);
        QSignalSpy loaded(&browser, &StudyBrowser::tablesLoaded);
        browser.openTables(ws_ + "/predictions/new.csv", ws_ + "/predictions/baseline.csv");
        QVERIFY(loaded.wait(10000));
        QCOMPARE(browser.labels().size(), 90);
        QVERIFY(browser.setLabel("prox_rca_stenosis"));
        QCOMPARE(part<QComboBox>(browser, "studyLabel")->currentText(), QString("Proximal RCA — stenosis %"));
        QCOMPARE(part<QDoubleSpinBox>(browser, "studyScoreMax")->value(),
                 100.0);  // the bounds follow the column: percent
        std::ifstream studies((ws_ + "/angio/studies.csv").toStdString());
        std::string line;
        std::getline(studies, line);
        std::getline(studies, line);
        const QString id = QString::fromStdString(line.substr(0, line.find(',')));
        QVERIFY(id.startsWith('0'));
        QSignalSpy shown(&browser, &StudyBrowser::studyShown);
        QVERIFY(browser.selectStudy(id));
        QTRY_VERIFY_WITH_TIMEOUT(!shown.isEmpty() && shown.last().at(0).toString() == id, 10000);
        QCOMPARE(part<QComboBox>(browser, "studyView")->count(), 2);
        QVERIFY(!part<lumen::widgets::FaithfulnessPlot>(browser, "faithfulnessPlot")
                     ->isVisibleTo(&browser));  // no P(full)/P(drop) here
        QCOMPARE(part<QComboBox>(browser, "studyView")->itemText(0), QString("view1.dcm"));
        OverlayView* o = part<lumen::widgets::OverlayView>(browser, "overlayView");
        QCOMPARE(o->frameCount(), 16);
        QVERIFY(o->frameSlider()->isVisibleTo(o));
        o->frameSlider()->setValue(5);
        QCOMPARE(o->frame(), 5);
        part<QComboBox>(browser, "studyView")->setCurrentIndex(1);
        QVERIFY(o->volume() != nullptr);
        QCOMPARE(o->frameCount(), 16);
        // Every prediction with its baseline beside it.
        QCOMPARE(part<QTableWidget>(browser, "studyPredictions")->rowCount(), 90);
        QVERIFY(!part<QTableWidget>(browser, "studyPredictions")->item(0, 2)->text().isEmpty());
    }

    void unreadableTablesAreReportedByName() {
        StudyBrowser browser;
        QSignalSpy failed(&browser, &StudyBrowser::loadFailed);
        QSignalSpy loaded(&browser, &StudyBrowser::tablesLoaded);
        browser.openTables(dir_.filePath("missing.csv"));
        QVERIFY(failed.wait(10000));
        QVERIFY2(failed.at(0).at(0).toString().contains("missing.csv"), qPrintable(failed.at(0).at(0).toString()));
        QVERIFY(browser.statusText().contains("missing.csv"));
        QVERIFY(!browser.predictions());
        // A baseline with a duplicate id: the error names the file.
        const QString dup = dir_.filePath("dup.csv");
        std::ofstream(dup.toStdString()) << "image,Effusion.prob_full\na.png,0.1\na.png,0.2\n";
        failed.clear();
        browser.openTables(preds_, dup);
        QVERIFY(failed.wait(10000));
        QVERIFY(failed.at(0).at(0).toString().contains("dup.csv"));
        // A file that cannot be read replaces what was shown: nothing of the old tables stays.
        browser.openTables(preds_);
        QVERIFY(loaded.wait(10000));
        QVERIFY(browser.predictions() && !browser.visibleStudies().isEmpty());
        failed.clear();
        browser.openTables(dir_.filePath("missing.csv"));
        QVERIFY(failed.wait(10000));
        QCOMPARE(loaded.count(), 1);  // a failure is not a load
        QVERIFY(browser.visibleStudies().isEmpty());
        QVERIFY(!browser.predictions());
    }

    void readsAFolderOfSlicesAsOneSeries() {
        // A folder S<id> with more than four DICOM files is one series (a volume with a slice
        // slider), not that many views.
        QTemporaryDir media;
        QDir().mkpath(media.filePath("S0000777"));
        for (int k = 1; k <= 6; ++k) {
            const QString name = QString("IM%1.dcm").arg(k, 4, 10, QChar('0'));
            QVERIFY(QFile::copy(ws_ + "/ct/dicom/ct_0001/" + name, media.filePath("S0000777/" + name)));
        }
        auto table = std::make_shared<data::NumericTable>();
        table->idName = "study_id";
        table->ids = {"0000777"};
        table->columns = {"Lung nodule"};
        table->values = {{0.9}};
        table->reindex();
        StudyBrowser browser;
        browser.setMediaRoot(media.path());
        browser.setTables(table);
        QSignalSpy shown(&browser, &StudyBrowser::studyShown);
        QVERIFY(browser.selectStudy("0000777"));
        QTRY_VERIFY_WITH_TIMEOUT(!shown.isEmpty() && shown.last().at(0).toString() == "0000777", 10000);
        QCOMPARE(part<QComboBox>(browser, "studyView")->count(), 1);
        const io::ImageVolume* v = part<lumen::widgets::OverlayView>(browser, "overlayView")->volume();
        QVERIFY(v);
        QVERIFY(v->isVolume);
        QCOMPARE(part<lumen::widgets::OverlayView>(browser, "overlayView")->frameCount(), 6);
        QVERIFY(part<lumen::widgets::OverlayView>(browser, "overlayView")->frameLabelText().startsWith("Slice 1 / 6"));
        QCOMPARE(part<QComboBox>(browser, "studyLabel")->currentText(), QString("Lung nodule"));
        // A study with no image says so instead of showing a stale one.
        table->ids = {"0000777", "0000888"};
        table->values = {{0.9, 0.1}};
        table->reindex();
        browser.setTables(table);
        shown.clear();
        QVERIFY(browser.selectStudy("0000888"));
        QTRY_VERIFY_WITH_TIMEOUT(!shown.isEmpty() && shown.last().at(0).toString() == "0000888", 10000);
        QVERIFY(!part<lumen::widgets::OverlayView>(browser, "overlayView")->volume());
        QVERIFY2(browser.statusText().contains("no image named like 0000888"), qPrintable(browser.statusText()));
    }
};

QTEST_MAIN(TestStudyBrowser)
#include "test_study_browser.moc"
