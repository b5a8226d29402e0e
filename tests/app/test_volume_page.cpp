// Qt Test for the main window's Volume page: File → Open volume goes through the window's job
// pool (a row in the Jobs panel) and lands in the viewer; `--show volume` finds the page.
#include "main_window.h"

#include "jobs_panel.h"
#include "volume_viewer.h"
#include "vtk_render_widget.h"

#include "io/nifti_writer.h"

#include "test_support.h"

#include <QApplication>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>

using namespace lumen;

class TestVolumePage : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void opensVolumeAsJob() {
        QTemporaryDir dir;
        io::ImageVolume v;
        v.columns = 24;
        v.rows = 20;
        v.depth = 10;
        v.isVolume = true;
        v.spacing = {1, 1, 2};
        v.values.resize(24 * 20 * 10);
        for (std::size_t n = 0; n < v.values.size(); ++n) v.values[n] = float(n % 500) - 250;
        const QString file = dir.filePath("page.nii.gz");
        io::writeNifti(file.toStdString(), v);

        app::MainWindow w;
        w.resize(1200, 900);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QSignalSpy loaded(w.volumeViewer(), &widgets::VolumeViewer::volumeLoaded);
        QSignalSpy ended(&w, &app::MainWindow::jobEnded);
        w.openVolume(file);
        QCOMPARE(w.currentPage(), static_cast<QWidget*>(w.volumeViewer()));
        QVERIFY(loaded.wait(20000));
        QTRY_VERIFY_WITH_TIMEOUT(ended.count() >= 1, 5000);  // it ran on the window's pool
        QCOMPARE(w.volumeViewer()->volume()->columns, 24);
        QCOMPARE(w.volumeViewer()->sliceCount(widgets::MprPlane::Axial), 10);
        QVERIFY(w.showPage("workspace"));
        QVERIFY(w.showPage("volume"));
        // A file that is not a volume: an error in the viewer and the log, no crash.
        QSignalSpy failed(w.volumeViewer(), &widgets::VolumeViewer::loadFailed);
        w.openVolume(dir.filePath("missing.nii"));
        QVERIFY(failed.wait(20000));
        QVERIFY(failed.first().first().toString().contains("missing.nii"));
        QCOMPARE(w.volumeViewer()->volume()->columns, 24);  // the shown volume stays
        // No QOpenGLWidget anywhere: one would make Qt compose the whole window through
        // OpenGL on every repaint, which stalled the GUI during training (docs/gui.md).
        for (const QWidget* child : w.findChildren<QWidget*>())
            QVERIFY2(!child->inherits("QOpenGLWidget"), child->metaObject()->className());
        QVERIFY(w.volumeViewer()->view3d());
    }
};

int main(int argc, char** argv) {
    widgets::VtkRenderWidget::setDefaultSurfaceFormat();
    QApplication app(argc, argv);
    TestVolumePage test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_volume_page.moc"
