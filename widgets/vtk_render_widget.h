#pragma once
// A Qt 6 widget that shows a VTK render window (Debian's VTK has no Qt 6 module): a
// vtkGenericOpenGLRenderWindow renders in the widget's own OpenGL context on an offscreen
// surface, the frame is read back and painted as an image, and mouse, wheel, keyboard,
// enter/leave and resize events are forwarded to a vtkGenericRenderWindowInteractor.
// Why not a QOpenGLWidget: one of those in a window makes Qt compose the *whole* window
// through OpenGL on every repaint (llvmpipe here), which stalled the GUI thread by 50-120 ms
// during training even with the Volume page hidden (docs/gui.md). Needs a real X display
// (xcb) for its GL context; callers check `glAvailable()` first.

#include <QImage>
#include <QWidget>

#include <memory>

#include <vtkSmartPointer.h>

class vtkGenericOpenGLRenderWindow;
class vtkGenericRenderWindowInteractor;
class vtkRenderer;
class vtkObject;
class QOpenGLContext;
class QOffscreenSurface;
class QOpenGLFramebufferObject;

namespace lumen::widgets {

class VtkRenderWidget : public QWidget {
    Q_OBJECT
public:
    explicit VtkRenderWidget(QWidget* parent = nullptr);
    ~VtkRenderWidget() override;

    /// False on platforms without OpenGL contexts (QT_QPA_PLATFORM=offscreen, minimal): the
    /// viewer shows a message instead of a 3-D view there.
    static bool glAvailable();
    /// The 3.2 core profile VTK needs; call before QApplication exists (main() and tests).
    static void setDefaultSurfaceFormat();

    vtkGenericOpenGLRenderWindow* renderWindow() const;
    vtkGenericRenderWindowInteractor* interactor() const;
    /// The one renderer this widget creates (more can be added to renderWindow()).
    vtkRenderer* renderer() const;

    /// Schedules a VTK render of the next frame (coalesced by Qt like update()).
    void requestRender();
    /// The last frame, rendered first if a render is pending (tests, screenshots).
    QImage grabFramebuffer();
    /// Milliseconds the last frame took: VTK's Render() plus the read-back.
    double lastRenderMs() const { return lastRenderMs_; }
    /// Frames rendered so far (benchmarks and tests).
    int framesRendered() const { return frames_; }

signals:
    /// After each VTK render, on the GUI thread.
    void rendered();

protected:
    void paintEvent(QPaintEvent* e) override;
    void resizeEvent(QResizeEvent* e) override;

    bool event(QEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseDoubleClickEvent(QMouseEvent* e) override;
    void wheelEvent(QWheelEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;
    void keyReleaseEvent(QKeyEvent* e) override;

private:
    /// Creates the context, surface and VTK's GL state on first use; false without OpenGL.
    bool ensureContext();
    /// Renders the scene into frame_ at the widget's current size.
    void renderFrame();
    void onWindowEvent(vtkObject* caller, unsigned long id, void* data);
    /// Sets position, modifiers and size on the interactor for an event at `pos` (logical px).
    void prepareEvent(const QPointF& pos, Qt::KeyboardModifiers mods, int repeat = 0);
    void forwardPress(QMouseEvent* e, int repeat);
    void forwardKey(QKeyEvent* e, bool press);

    vtkSmartPointer<vtkGenericOpenGLRenderWindow> window_;
    vtkSmartPointer<vtkGenericRenderWindowInteractor> interactor_;
    vtkSmartPointer<vtkRenderer> renderer_;
    std::unique_ptr<QOpenGLContext> context_;
    std::unique_ptr<QOffscreenSurface> surface_;
    std::unique_ptr<QOpenGLFramebufferObject> target_;
    QImage frame_;
    bool initialized_ = false;
    bool contextFailed_ = false;
    bool dirty_ = true;
    bool inPaint_ = false;
    double lastRenderMs_ = 0;
    int frames_ = 0;
};

}  // namespace lumen::widgets
