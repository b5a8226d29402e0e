#include "vtk_render_widget.h"

#include <QCursor>
#include <QElapsedTimer>
#include <QGuiApplication>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOffscreenSurface>
#include <QOpenGLContext>
#include <QOpenGLExtraFunctions>
#include <QOpenGLFramebufferObject>
#include <QPainter>
#include <QSurfaceFormat>
#include <QWheelEvent>

#include <vtkCallbackCommand.h>
#include <vtkCommand.h>
#include <vtkGenericOpenGLRenderWindow.h>
#include <vtkGenericRenderWindowInteractor.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkOpenGLFramebufferObject.h>
#include <vtkOpenGLState.h>
#include <vtkRenderer.h>

namespace lumen::widgets {

namespace {

// VTK's keysyms (X11 names) for the keys that have no printable text.
const char* keySym(int key) {
    switch (key) {
    case Qt::Key_Left: return "Left";
    case Qt::Key_Right: return "Right";
    case Qt::Key_Up: return "Up";
    case Qt::Key_Down: return "Down";
    case Qt::Key_PageUp: return "Prior";
    case Qt::Key_PageDown: return "Next";
    case Qt::Key_Home: return "Home";
    case Qt::Key_End: return "End";
    case Qt::Key_Return: return "Return";
    case Qt::Key_Enter: return "KP_Enter";
    case Qt::Key_Escape: return "Escape";
    case Qt::Key_Space: return "space";
    case Qt::Key_Tab: return "Tab";
    case Qt::Key_Backspace: return "BackSpace";
    case Qt::Key_Delete: return "Delete";
    case Qt::Key_Shift: return "Shift_L";
    case Qt::Key_Control: return "Control_L";
    case Qt::Key_Alt: return "Alt_L";
    case Qt::Key_Plus: return "plus";
    case Qt::Key_Minus: return "minus";
    default: return nullptr;
    }
}

}  // namespace

bool VtkRenderWidget::glAvailable() {
    const QString platform = QGuiApplication::platformName();
    return platform != "offscreen" && platform != "minimal";
}

void VtkRenderWidget::setDefaultSurfaceFormat() {
    QSurfaceFormat format;
    format.setVersion(3, 2);
    format.setProfile(QSurfaceFormat::CoreProfile);
    format.setDepthBufferSize(24);
    format.setStencilBufferSize(8);
    format.setSamples(0);
    QSurfaceFormat::setDefaultFormat(format);
}

VtkRenderWidget::VtkRenderWidget(QWidget* parent)
    : QWidget(parent),
      window_(vtkSmartPointer<vtkGenericOpenGLRenderWindow>::New()),
      interactor_(vtkSmartPointer<vtkGenericRenderWindowInteractor>::New()),
      renderer_(vtkSmartPointer<vtkRenderer>::New()) {
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(true);
    setMinimumSize(64, 64);
    setAttribute(Qt::WA_OpaquePaintEvent);  // every paint covers the widget with the frame
    // llvmpipe allows at most 4 samples; our target has none, VTK's own would only cost time.
    window_->SetMultiSamples(0);
    window_->AddRenderer(renderer_);
    window_->SetUseOffScreenBuffers(false);
    interactor_->SetRenderWindow(window_);
    vtkNew<vtkInteractorStyleTrackballCamera> style;
    interactor_->SetInteractorStyle(style);
    // The interactor never renders by itself: its render requests become requestRender(), so
    // every VTK render happens in renderFrame() with our context and target in place.
    interactor_->EnableRenderOff();
    for (unsigned long id :
         {vtkCommand::WindowMakeCurrentEvent, vtkCommand::WindowIsCurrentEvent, vtkCommand::WindowFrameEvent})
        window_->AddObserver(id, this, &VtkRenderWidget::onWindowEvent);
    interactor_->AddObserver(vtkCommand::RenderEvent, this, &VtkRenderWidget::onWindowEvent);
}

VtkRenderWidget::~VtkRenderWidget() {
    if (initialized_ && context_->makeCurrent(surface_.get())) {
        window_->Finalize();  // frees VTK's GL resources while the context still exists
        target_.reset();
        context_->doneCurrent();
    }
    window_->RemoveAllObservers();
    interactor_->RemoveAllObservers();
    window_->SetReadyForRendering(false);
}

vtkGenericOpenGLRenderWindow* VtkRenderWidget::renderWindow() const { return window_; }
vtkGenericRenderWindowInteractor* VtkRenderWidget::interactor() const { return interactor_; }
vtkRenderer* VtkRenderWidget::renderer() const { return renderer_; }

void VtkRenderWidget::requestRender() {
    dirty_ = true;
    update();
}

void VtkRenderWidget::onWindowEvent(vtkObject*, unsigned long id, void* data) {
    switch (id) {
    case vtkCommand::WindowMakeCurrentEvent:
        if (context_) context_->makeCurrent(surface_.get());
        break;
    case vtkCommand::WindowIsCurrentEvent:
        *static_cast<bool*>(data) = context_ && QOpenGLContext::currentContext() == context_.get();
        break;
    case vtkCommand::WindowFrameEvent:
    case vtkCommand::RenderEvent:
        if (!inPaint_) requestRender();
        break;
    default: break;
    }
}

bool VtkRenderWidget::ensureContext() {
    if (initialized_) return true;
    if (contextFailed_ || !glAvailable()) return false;
    context_ = std::make_unique<QOpenGLContext>();
    context_->setFormat(QSurfaceFormat::defaultFormat());
    surface_ = std::make_unique<QOffscreenSurface>();
    surface_->setFormat(QSurfaceFormat::defaultFormat());
    surface_->create();
    if (!context_->create() || !surface_->isValid() || !context_->makeCurrent(surface_.get())) {
        contextFailed_ = true;
        context_.reset();
        surface_.reset();
        return false;
    }
    window_->GetState()->Reset();
    window_->SetOwnContext(false);
    window_->SetReadyForRendering(true);
    window_->SetFrameBlitModeToNoBlit();
    window_->SetForceMaximumHardwareLineWidth(1);
    window_->OpenGLInitContext();
    initialized_ = true;
    interactor_->Enable();
    return true;
}

void VtkRenderWidget::renderFrame() {
    if (!ensureContext() || !context_->makeCurrent(surface_.get())) return;
    inPaint_ = true;
    QElapsedTimer clock;
    clock.start();
    const qreal dpr = devicePixelRatioF();
    const QSize px(std::max(1, int(width() * dpr)), std::max(1, int(height() * dpr)));
    if (!target_ || target_->size() != px) target_ = std::make_unique<QOpenGLFramebufferObject>(px);
    int* vtkSize = window_->GetSize();
    if (vtkSize[0] != px.width() || vtkSize[1] != px.height()) {
        interactor_->UpdateSize(px.width(), px.height());
        window_->SetSize(px.width(), px.height());
    }
    vtkOpenGLState* state = window_->GetState();
    state->Reset();
    state->Push();
    window_->Render();

    // VTK rendered into its own framebuffer; copy it into our target and read that back.
    QOpenGLExtraFunctions* f = context_->extraFunctions();
    f->glBindFramebuffer(GL_DRAW_FRAMEBUFFER, target_->handle());
    const GLenum buffers[1] = {GL_COLOR_ATTACHMENT0};
    f->glDrawBuffers(1, buffers);
    if (auto* fbo = window_->GetRenderFramebuffer()) {
        const int* size = fbo->GetLastSize();
        window_->BlitDisplayFramebuffer(0, 0, 0, size[0], size[1], 0, 0, px.width(), px.height(), GL_COLOR_BUFFER_BIT,
                                        GL_LINEAR);
    }
    // VTK leaves alpha < 1 on the background and translucent surfaces; read back as-is it
    // would be un-premultiplied into white fringes. The frame is opaque.
    GLboolean mask[4];
    f->glGetBooleanv(GL_COLOR_WRITEMASK, mask);
    GLfloat clear[4];
    f->glGetFloatv(GL_COLOR_CLEAR_VALUE, clear);
    f->glColorMask(GL_FALSE, GL_FALSE, GL_FALSE, GL_TRUE);
    f->glClearColor(0, 0, 0, 1);
    f->glClear(GL_COLOR_BUFFER_BIT);
    f->glColorMask(mask[0], mask[1], mask[2], mask[3]);
    f->glClearColor(clear[0], clear[1], clear[2], clear[3]);
    state->Pop();
    frame_ = target_->toImage(true);
    frame_.setDevicePixelRatio(dpr);
    lastRenderMs_ = double(clock.nsecsElapsed()) / 1e6;
    ++frames_;
    dirty_ = false;
    inPaint_ = false;
    emit rendered();
}

QImage VtkRenderWidget::grabFramebuffer() {
    if (dirty_ || frame_.isNull()) renderFrame();
    return frame_;
}

void VtkRenderWidget::paintEvent(QPaintEvent*) {
    const qreal dpr = devicePixelRatioF();
    if (dirty_ || frame_.size() != QSize(int(width() * dpr), int(height() * dpr))) renderFrame();
    QPainter painter(this);
    if (frame_.isNull()) {
        painter.fillRect(rect(), Qt::black);
        return;
    }
    painter.drawImage(QPointF(0, 0), frame_);
}

void VtkRenderWidget::resizeEvent(QResizeEvent* e) {
    dirty_ = true;
    // Event positions are flipped with the interactor's size, so it follows at once.
    const qreal dpr = devicePixelRatioF();
    interactor_->UpdateSize(std::max(1, int(width() * dpr)), std::max(1, int(height() * dpr)));
    QWidget::resizeEvent(e);
}

void VtkRenderWidget::prepareEvent(const QPointF& pos, Qt::KeyboardModifiers mods, int repeat) {
    const qreal dpr = devicePixelRatioF();
    interactor_->SetEventInformationFlipY(int(pos.x() * dpr + 0.5), int(pos.y() * dpr + 0.5),
                                          (mods & Qt::ControlModifier) ? 1 : 0, (mods & Qt::ShiftModifier) ? 1 : 0, 0,
                                          repeat);
    interactor_->SetAltKey((mods & Qt::AltModifier) ? 1 : 0);
}

bool VtkRenderWidget::event(QEvent* e) {
    if (e->type() == QEvent::Enter) interactor_->EnterEvent();
    else if (e->type() == QEvent::Leave) interactor_->LeaveEvent();
    return QWidget::event(e);
}

void VtkRenderWidget::mousePressEvent(QMouseEvent* e) { forwardPress(e, 0); }

// VTK sees a double click as a press with a repeat count of 1.
void VtkRenderWidget::mouseDoubleClickEvent(QMouseEvent* e) { forwardPress(e, 1); }

void VtkRenderWidget::forwardPress(QMouseEvent* e, int repeat) {
    prepareEvent(e->position(), e->modifiers(), repeat);
    switch (e->button()) {
    case Qt::LeftButton: interactor_->LeftButtonPressEvent(); break;
    case Qt::RightButton: interactor_->RightButtonPressEvent(); break;
    case Qt::MiddleButton: interactor_->MiddleButtonPressEvent(); break;
    default: break;
    }
    e->accept();
}

void VtkRenderWidget::mouseReleaseEvent(QMouseEvent* e) {
    prepareEvent(e->position(), e->modifiers());
    switch (e->button()) {
    case Qt::LeftButton: interactor_->LeftButtonReleaseEvent(); break;
    case Qt::RightButton: interactor_->RightButtonReleaseEvent(); break;
    case Qt::MiddleButton: interactor_->MiddleButtonReleaseEvent(); break;
    default: break;
    }
    e->accept();
}

void VtkRenderWidget::mouseMoveEvent(QMouseEvent* e) {
    prepareEvent(e->position(), e->modifiers());
    interactor_->MouseMoveEvent();
    e->accept();
}

void VtkRenderWidget::wheelEvent(QWheelEvent* e) {
    prepareEvent(e->position(), e->modifiers());
    const int dy = e->angleDelta().y();
    if (dy > 0) interactor_->MouseWheelForwardEvent();
    else if (dy < 0) interactor_->MouseWheelBackwardEvent();
    e->accept();
}

void VtkRenderWidget::forwardKey(QKeyEvent* e, bool press) {
    const QPointF pos = mapFromGlobal(QCursor::pos());
    prepareEvent(pos, e->modifiers(), e->isAutoRepeat() ? 1 : 0);
    const QByteArray text = e->text().toLatin1();
    const char code = text.isEmpty() ? 0 : text[0];
    const char* sym = keySym(e->key());
    const QByteArray own = text.isEmpty() ? QByteArray() : text.left(1);
    interactor_->SetKeyCode(code);
    interactor_->SetKeySym(sym ? sym : (own.isEmpty() ? nullptr : own.constData()));
    if (press) {
        interactor_->KeyPressEvent();
        if (code) interactor_->CharEvent();
    } else {
        interactor_->KeyReleaseEvent();
    }
}

void VtkRenderWidget::keyPressEvent(QKeyEvent* e) {
    forwardKey(e, true);
    e->accept();
}

void VtkRenderWidget::keyReleaseEvent(QKeyEvent* e) {
    forwardKey(e, false);
    e->accept();
}

}  // namespace lumen::widgets
