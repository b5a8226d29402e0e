#pragma once
// A Qt 6 widget that shows a VTK render window: a QOpenGLWidget driving a
// vtkGenericOpenGLRenderWindow in Qt's own GL context (Debian's VTK has no Qt 6 module), with
// mouse, wheel, keyboard, enter/leave and resize events forwarded to a
// vtkGenericRenderWindowInteractor. Needs a real X display (xcb); on the offscreen platform
// showing any QOpenGLWidget crashes, so callers check `glAvailable()` first.

#include <QOpenGLWidget>

#include <vtkSmartPointer.h>

class vtkGenericOpenGLRenderWindow;
class vtkGenericRenderWindowInteractor;
class vtkRenderer;
class vtkObject;

namespace lumen::widgets {

class VtkRenderWidget : public QOpenGLWidget {
    Q_OBJECT
public:
    explicit VtkRenderWidget(QWidget* parent = nullptr);
    ~VtkRenderWidget() override;

    /// False on platforms where a QOpenGLWidget cannot work (QT_QPA_PLATFORM=offscreen,
    /// minimal): GL tests skip and the viewer shows a message instead of a 3-D view.
    static bool glAvailable();
    /// The 3.2 core profile VTK needs; call before QApplication exists (main() and tests).
    static void setDefaultSurfaceFormat();

    vtkGenericOpenGLRenderWindow* renderWindow() const;
    vtkGenericRenderWindowInteractor* interactor() const;
    /// The one renderer this widget creates (more can be added to renderWindow()).
    vtkRenderer* renderer() const;

    /// Schedules a VTK render of the next frame (coalesced by Qt like update()).
    void requestRender() { update(); }
    /// Milliseconds the last VTK Render() took inside paintGL.
    double lastRenderMs() const { return lastRenderMs_; }
    /// Frames rendered so far (benchmarks and tests).
    int framesRendered() const { return frames_; }

signals:
    /// After each VTK render, on the GUI thread.
    void rendered();

protected:
    void initializeGL() override;
    void resizeGL(int w, int h) override;
    void paintGL() override;

    bool event(QEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseDoubleClickEvent(QMouseEvent* e) override;
    void wheelEvent(QWheelEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;
    void keyReleaseEvent(QKeyEvent* e) override;

private:
    void onWindowEvent(vtkObject* caller, unsigned long id, void* data);
    /// Sets position, modifiers and size on the interactor for an event at `pos` (logical px).
    void prepareEvent(const QPointF& pos, Qt::KeyboardModifiers mods, int repeat = 0);
    void forwardPress(QMouseEvent* e, int repeat);
    void forwardKey(QKeyEvent* e, bool press);

    vtkSmartPointer<vtkGenericOpenGLRenderWindow> window_;
    vtkSmartPointer<vtkGenericRenderWindowInteractor> interactor_;
    vtkSmartPointer<vtkRenderer> renderer_;
    bool initialized_ = false;
    bool inPaint_ = false;
    double lastRenderMs_ = 0;
    int frames_ = 0;
};

}  // namespace lumen::widgets
