// Qt Test suite for the DICOM browser, driven as a user would: scan the demo workspace as a
// job, pick a cine series in the tree, play it, drag the window, press the presets; and the
// viewer alone for MONOCHROME1 inversion and the window mapping.
#include "dicom_browser.h"
#include "dicom_image_view.h"
#include "job_event_bridge.h"

#include "demo/demo_workspace.h"
#include "io/dicom_index.h"
#include "jobs/job_pool.h"

#include "test_support.h"

#include <QDoubleSpinBox>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QTemporaryDir>
#include <QTreeWidget>

#include <fstream>

using namespace lumen;
using widgets::DicomBrowser;
using widgets::DicomImageView;

namespace {

QTreeWidgetItem* findSeries(QTreeWidget* tree, const QString& modality, const QString& description = {}) {
    for (QTreeWidgetItemIterator it(tree); *it; ++it)
        if ((*it)->data(0, DicomBrowser::kKindRole).toString() == "series" && (*it)->text(0).contains(modality) &&
            (*it)->text(0).contains(description))
            return *it;
    return nullptr;
}

void clickItem(QTreeWidget* tree, QTreeWidgetItem* item) {
    for (auto* p = item->parent(); p; p = p->parent()) p->setExpanded(true);
    tree->scrollToItem(item);
    const QRect r = tree->visualItemRect(item);
    QTest::mouseClick(tree->viewport(), Qt::LeftButton, {}, r.center());
}

void drag(QWidget* w, QPoint from, QPoint to) {
    QTest::mousePress(w, Qt::LeftButton, {}, from);
    // A real move with the left button held (QTest::mouseMove does not say which button is down).
    QMouseEvent move(QEvent::MouseMove, QPointF(to), QPointF(w->mapToGlobal(to)), Qt::NoButton, Qt::LeftButton,
                     Qt::NoModifier);
    QApplication::sendEvent(w, &move);
    QTest::mouseRelease(w, Qt::LeftButton, {}, to);
}

}  // namespace

class TestDicomBrowser : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString demo_;

private slots:
    void initTestCase() {
        demo_ = dir_.filePath("demo");
        demo::DemoOptions o;
        o.chestImages = 4;
        o.ctVolumes = 1;
        o.angioStudies = 3;
        o.predictionStudies = 10;
        demo::createDemoWorkspace(demo_.toStdString(), o);
        std::ofstream(dir_.filePath("demo/broken.dcm").toStdString()) << "not a DICOM file";
    }

    void scansPlaysAndWindows() {
        jobs::JobPool pool(2);
        widgets::JobEventBridge bridge;
        DicomBrowser browser;
        browser.resize(1280, 760);
        browser.setJobRunner(
            [&](const QString& kind, const QString& title, jobs::JobFunction work) {
                return pool.submit(kind.toStdString(), title.toStdString(), std::move(work), bridge.observer());
            },
            &bridge);
        browser.setDatabase(dir_.filePath("lumen.db"));
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        QTreeWidget* tree = browser.tree();
        QCOMPARE(tree->topLevelItemCount(), 0);

        // Scan as a job: progress shows, then the tree fills.
        QSignalSpy scanned(&browser, &DicomBrowser::scanFinished);
        QVERIFY(browser.scanFolder(demo_));
        QVERIFY(!browser.findChild<QPushButton*>("scanButton")->isEnabled());
        QVERIFY(scanned.wait(60000));
        QCOMPARE(scanned.at(0).at(0).toBool(), true);
        QVERIFY2(browser.statusText().contains("1 unreadable"), qPrintable(browser.statusText()));
        QVERIFY(browser.findChild<QPushButton*>("scanButton")->isEnabled());
        // 1 CT patient + 3 angiography patients + the unreadable group.
        QCOMPARE(tree->topLevelItemCount(), 1 + 3 + 1);
        QTreeWidgetItem* bad = tree->topLevelItem(tree->topLevelItemCount() - 1);
        QCOMPARE(bad->text(0), QString("Unreadable files (1)"));
        QCOMPARE(bad->child(0)->text(0), QString("broken.dcm"));
        QVERIFY(!bad->child(0)->text(1).isEmpty());

        // Thumbnails are decoded off the GUI thread, then cached (10 series: 2 + 3 + 4 cines + 1 CT).
        QTRY_COMPARE_WITH_TIMEOUT(browser.cachedThumbnails(), 10, 30000);
        QTreeWidgetItem* cine = findSeries(tree, "XA", "Left coronary");
        QVERIFY(cine);
        QVERIFY(!cine->icon(0).isNull());
        QVERIFY(cine->text(1).contains("frames"));
        browser.refresh();  // a refresh reuses the cache
        QCOMPARE(browser.cachedThumbnails(), 10);
        cine = findSeries(tree, "XA", "Left coronary");
        QVERIFY(!cine->icon(0).isNull());

        // Select the cine: the viewer shows its frames at the file's frame rate (66.7 ms).
        QSignalSpy loaded(&browser, &DicomBrowser::imageLoaded);
        clickItem(tree, cine);
        QVERIFY(loaded.wait(30000));
        DicomImageView* view = browser.view();
        QVERIFY(view->frameCount() > 1);
        QCOMPARE(view->currentFrame(), 0);
        QVERIFY(qAbs(view->fps() - 1000.0 / 66.7) < 1e-9);
        auto* fps = browser.findChild<QDoubleSpinBox*>("fpsSpin");
        QCOMPARE(fps->value(), 15.0);
        auto* slider = browser.findChild<QSlider*>("frameSlider");
        QCOMPARE(slider->maximum(), view->frameCount() - 1);

        // Play advances frames (and the slider follows); pause stops.
        auto* play = browser.findChild<QPushButton*>("playButton");
        QVERIFY(play->isEnabled());
        QTest::mouseClick(play, Qt::LeftButton);
        QVERIFY(view->isPlaying());
        QCOMPARE(play->text(), QString("❚❚ Pause"));
        QTRY_VERIFY_WITH_TIMEOUT(view->currentFrame() >= 3, 3000);
        QCOMPARE(slider->value(), view->currentFrame());
        QTest::mouseClick(play, Qt::LeftButton);
        QVERIFY(!view->isPlaying());
        const int stopped = view->currentFrame();
        QTest::qWait(250);
        QCOMPARE(view->currentFrame(), stopped);
        QVERIFY(browser.findChild<QLabel*>("frameLabel")->text().contains(QString("frame %1 /").arg(stopped + 1)));
        // The slider moves the frame too.
        slider->setValue(5);
        QCOMPARE(view->currentFrame(), 5);

        // Drag: right widens the window, down raises the centre.
        const double c0 = view->windowCenter(), w0 = view->windowWidth(), s = view->dragSensitivity();
        const QPoint mid = view->rect().center();
        drag(view, mid, mid + QPoint(100, 0));
        QVERIFY(qAbs(view->windowWidth() - (w0 + 100 * s)) < 1e-6);
        QCOMPARE(view->windowCenter(), c0);
        drag(view, mid, mid + QPoint(0, 40));
        QVERIFY(qAbs(view->windowCenter() - (c0 + 40 * s)) < 1e-6);
        drag(view, mid, mid + QPoint(-60, -20));
        QVERIFY(qAbs(view->windowWidth() - (w0 + 40 * s)) < 1e-6);
        QVERIFY(qAbs(view->windowCenter() - (c0 + 20 * s)) < 1e-6);
        auto* windowLabel = browser.findChild<QLabel*>("windowLabel");
        QCOMPARE(windowLabel->text(),
                 QString("W %1  L %2").arg(view->windowWidth(), 0, 'f', 0).arg(view->windowCenter(), 0, 'f', 0));

        // An XA cine is offered windows from its own values, not the CT (HU) presets: "Full
        // range" is min..max (= the file's, as the cine has none), "Auto" the 1st..99th
        // percentile inside it.
        const auto button = [&](const char* name) { return browser.findChild<QPushButton*>(name); };
        QVERIFY(button("preset_auto")->isVisible() && button("preset_full")->isVisible());
        QVERIFY(!button("preset_lung")->isVisible() && !button("preset_brain")->isVisible());
        QTest::mouseClick(button("preset_full"), Qt::LeftButton);
        QCOMPARE(view->windowCenter(), c0);
        QCOMPARE(view->windowWidth(), w0);
        QTest::mouseClick(button("preset_auto"), Qt::LeftButton);
        QVERIFY(view->windowWidth() < w0 && view->windowWidth() > 0);
        QVERIFY(view->windowCenter() - view->windowWidth() / 2 >= c0 - w0 / 2);
        QVERIFY(view->windowCenter() + view->windowWidth() / 2 <= c0 + w0 / 2);
        QTest::mouseClick(button("preset_file"), Qt::LeftButton);
        QCOMPARE(view->windowCenter(), c0);
        QCOMPARE(view->windowWidth(), w0);

        // The CT series: a stack of 48 slices with the file's window 40/400.
        QTreeWidgetItem* ct = findSeries(tree, "CT");
        QVERIFY(ct);
        clickItem(tree, ct);
        QVERIFY(loaded.wait(30000));
        QCOMPARE(view->frameCount(), 48);
        QVERIFY(view->volume()->isVolume);
        QCOMPARE(view->windowCenter(), 40.0);
        QCOMPARE(view->windowWidth(), 400.0);
        QCOMPARE(fps->value(), DicomImageView::kDefaultFps);
        QVERIFY(browser.findChild<QLabel*>("frameLabel")->text().startsWith("slice 1 / 48"));
        // A CT is offered the CT presets (HU), each setting its window; not "Auto"/"Full range".
        QVERIFY(button("preset_lung")->isVisible() && !button("preset_auto")->isVisible());
        const struct {
            const char* name;
            double c, w;
        } presets[] = {{"preset_lung", -600, 1500},
                       {"preset_mediastinum", 40, 400},
                       {"preset_bone", 400, 1800},
                       {"preset_brain", 40, 80}};
        for (const auto& p : presets) {
            QTest::mouseClick(button(p.name), Qt::LeftButton);
            QCOMPARE(view->windowCenter(), p.c);
            QCOMPARE(view->windowWidth(), p.w);
        }
        QTest::mouseClick(button("preset_file"), Qt::LeftButton);
        QCOMPARE(view->windowCenter(), 40.0);
        QCOMPARE(view->windowWidth(), 400.0);
        // The wheel steps through slices.
        QWheelEvent wheel(QPointF(mid), QPointF(view->mapToGlobal(mid)), {}, QPoint(0, -120), Qt::NoButton, {},
                          Qt::NoScrollPhase, false);
        QApplication::sendEvent(view, &wheel);
        QCOMPARE(view->currentFrame(), 1);

        // An unreadable file shows why (the refresh above rebuilt the items).
        bad = tree->topLevelItem(tree->topLevelItemCount() - 1);
        clickItem(tree, bad->child(0));
        QTRY_VERIFY(view->frameCount() == 0);

        // Rescan is incremental: nothing new.
        QTest::mouseClick(browser.findChild<QPushButton*>("rescanButton"), Qt::LeftButton);
        QVERIFY(scanned.wait(60000));
        QVERIFY2(browser.statusText().contains(" images indexed"), qPrintable(browser.statusText()));

        {
            QTreeWidgetItem* shot = findSeries(tree, "XA", "Right coronary");
            QVERIFY(shot);
            clickItem(tree, shot);
            QVERIFY(loaded.wait(30000));
            view->setFrame(view->frameCount() / 2);
            tree->collapseAll();
            for (int i = 0; i < tree->topLevelItemCount() - 1; ++i) tree->topLevelItem(i)->setExpanded(true);
            for (QTreeWidgetItemIterator it(tree); *it; ++it)
                if ((*it)->data(0, DicomBrowser::kKindRole).toString() == "study") (*it)->setExpanded(true);
            tree->scrollToItem(tree->topLevelItem(0));
            QTest::qWait(100);
            QVERIFY(browser.grab().save(screenshotPath("dicom_browser.png")));
        }
    }

    void monochrome1IsInvertedAndWindowMaps() {
        DicomImageView view;
        auto v = std::make_shared<io::ImageVolume>();
        v->rows = 1;
        v->columns = 3;
        v->values = {0, 50, 100};
        v->meta.windowCenter = 50;
        v->meta.windowWidth = 100;
        view.setVolume(v);
        QImage img = view.renderedFrame();
        QCOMPARE(qGray(img.pixel(0, 0)), 0);
        QCOMPARE(qGray(img.pixel(2, 0)), 255);
        QVERIFY(qAbs(qGray(img.pixel(1, 0)) - 128) <= 1);
        auto inv = std::make_shared<io::ImageVolume>(*v);
        inv->meta.photometric = "MONOCHROME1";
        inv->meta.invertForDisplay = true;
        view.setVolume(inv);
        img = view.renderedFrame();
        QCOMPARE(qGray(img.pixel(0, 0)), 255);  // low values are bright in MONOCHROME1
        QCOMPARE(qGray(img.pixel(2, 0)), 0);
        QVERIFY(!view.applyPreset("nonsense"));
        QVERIFY(view.applyPreset("Lung"));
        QCOMPARE(view.windowCenter(), -600.0);
        // A single frame cannot play.
        view.play();
        QVERIFY(!view.isPlaying());
    }

    void scanWithoutDatabaseSaysWhy() {
        DicomBrowser browser;
        QVERIFY(!browser.scanFolder(demo_));
        QVERIFY(browser.statusText().contains("workspace"));
    }
};

QTEST_MAIN(TestDicomBrowser)
#include "test_dicom_browser.moc"
