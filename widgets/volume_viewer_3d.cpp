// The volume viewer's 3-D view (VTK ray casting and an iso-surface of the overlay).
#include "volume_viewer.h"

#include "volume_viewer_vtk.h"
#include "vtk_render_widget.h"

#include <QThread>

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkColorTransferFunction.h>
#include <vtkFixedPointVolumeRayCastMapper.h>
#include <vtkFlyingEdges3D.h>
#include <vtkFloatArray.h>
#include <vtkGenericRenderWindowInteractor.h>
#include <vtkImageData.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkMatrix4x4.h>
#include <vtkObjectFactory.h>
#include <vtkPiecewiseFunction.h>
#include <vtkPointData.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderer.h>
#include <vtkVolume.h>
#include <vtkVolumeProperty.h>

#include <algorithm>
#include <cmath>
#include <functional>

namespace lumen::widgets {

namespace {

// 3-D view: a trackball style whose keys are limited to what makes sense here ('r' resets
// the camera); VTK's defaults include stereo, wireframe and exit keys.
class ViewerStyle : public vtkInteractorStyleTrackballCamera {
public:
    static ViewerStyle* New();
    vtkTypeMacro(ViewerStyle, vtkInteractorStyleTrackballCamera);
    std::function<void()> onReset;
    void OnChar() override {
        const char key = this->Interactor ? this->Interactor->GetKeyCode() : 0;
        if ((key == 'r' || key == 'R') && onReset) onReset();
    }
};
vtkStandardNewMacro(ViewerStyle);

}  // namespace

void VolumeViewer::build3d() {
    vtk_ = std::make_unique<Vtk>();
    auto& v = *vtk_;
    v.mapper = vtkSmartPointer<vtkFixedPointVolumeRayCastMapper>::New();
    // Coarser rays while the user drags (the interactor asks for DesiredUpdateRate), full
    // quality once still: the mapper adjusts its image sample distance to the time allowed.
    v.mapper->SetAutoAdjustSampleDistances(1);
    v.mapper->SetMaximumImageSampleDistance(6);
    v.mapper->SetNumberOfThreads(std::max(1, QThread::idealThreadCount()));
    v.property = vtkSmartPointer<vtkVolumeProperty>::New();
    v.colours = vtkSmartPointer<vtkColorTransferFunction>::New();
    v.opacity = vtkSmartPointer<vtkPiecewiseFunction>::New();
    v.property->SetColor(v.colours);
    v.property->SetScalarOpacity(v.opacity);
    v.property->SetInterpolationTypeToLinear();
    v.volume = vtkSmartPointer<vtkVolume>::New();
    v.volume->SetMapper(v.mapper);
    v.volume->SetProperty(v.property);
    v.matrix = vtkSmartPointer<vtkMatrix4x4>::New();
    v.volume->SetUserMatrix(v.matrix);
    v.surface = vtkSmartPointer<vtkFlyingEdges3D>::New();
    v.surface->ComputeNormalsOn();
    v.surface->ComputeScalarsOff();
    auto overlayMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
    overlayMapper->SetInputConnection(v.surface->GetOutputPort());
    overlayMapper->ScalarVisibilityOff();
    v.overlayActor = vtkSmartPointer<vtkActor>::New();
    v.overlayActor->SetMapper(overlayMapper);
    v.overlayActor->SetUserMatrix(v.matrix);
    v.overlayActor->VisibilityOff();

    auto* ren = view3d_->renderer();
    ren->SetBackground(0.05, 0.05, 0.08);
    auto* iren = view3d_->interactor();
    iren->SetDesiredUpdateRate(20.0);
    iren->SetStillUpdateRate(0.001);
    vtkNew<ViewerStyle> style;
    style->onReset = [this] { resetCamera(); };
    iren->SetInteractorStyle(style);
}

void VolumeViewer::update3dVolume() {
    if (!vtk_) return;
    auto& v = *vtk_;
    auto* ren = view3d_->renderer();
    ren->RemoveVolume(v.volume);
    ren->RemoveActor(v.overlayActor);
    if (!prepared_) {
        v.image = nullptr;
        v.shown.reset();
        view3d_->requestRender();
        return;
    }
    const auto& p = *prepared_;
    const auto& vol = *p.volume;
    auto image = vtkSmartPointer<vtkImageData>::New();
    image->SetDimensions(p.proxyDims[0], p.proxyDims[1], p.proxyDims[2]);
    double spacing[3], origin[3];
    for (int a = 0; a < 3; ++a) {
        const double f = p.proxyFactor[std::size_t(a)];
        spacing[a] = vol.spacing[std::size_t(a)] * f;
        origin[a] = vol.spacing[std::size_t(a)] * (f - 1) / 2;  // centre of the first box
    }
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    auto array = vtkSmartPointer<vtkFloatArray>::New();
    // No copy: the array points into the prepared proxy, which `shown` keeps alive.
    array->SetArray(const_cast<float*>(p.proxy.data()), vtkIdType(p.proxy.size()), 1);
    array->SetName("values");
    image->GetPointData()->SetScalars(array);
    v.image = image;
    v.shown = prepared_;
    v.mapper->SetInputData(image);
    // World (LPS mm) = origin + direction * (index * spacing): the prop's user matrix.
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) v.matrix->SetElement(r, c, vol.direction[std::size_t(r * 3 + c)]);
        v.matrix->SetElement(r, 3, vol.origin[std::size_t(r)]);
    }
    v.matrix->Modified();
    ren->AddVolume(v.volume);
    ren->AddActor(v.overlayActor);
    update3dTransfer();
    update3dOverlay();
    resetCamera();
}

void VolumeViewer::update3dTransfer() {
    if (!vtk_) return;
    auto& v = *vtk_;
    v.colours->RemoveAllPoints();
    v.opacity->RemoveAllPoints();
    switch (renderPreset_) {
    case RenderPreset::CtBone:
        v.mapper->SetBlendModeToComposite();
        v.colours->AddRGBPoint(-1000, 0, 0, 0);
        v.colours->AddRGBPoint(150, 0.75, 0.45, 0.35);
        v.colours->AddRGBPoint(400, 0.98, 0.92, 0.82);
        v.colours->AddRGBPoint(1500, 1, 1, 1);
        v.opacity->AddPoint(-1000, 0);
        v.opacity->AddPoint(150, 0);
        v.opacity->AddPoint(300, 0.35);
        v.opacity->AddPoint(700, 0.85);
        v.opacity->AddPoint(3000, 0.9);
        v.property->ShadeOn();
        break;
    case RenderPreset::CtSoftTissue:
        v.mapper->SetBlendModeToComposite();
        v.colours->AddRGBPoint(-1000, 0, 0, 0);
        v.colours->AddRGBPoint(-600, 0.35, 0.25, 0.2);
        v.colours->AddRGBPoint(-100, 0.78, 0.5, 0.38);
        v.colours->AddRGBPoint(40, 0.88, 0.38, 0.32);
        v.colours->AddRGBPoint(300, 0.95, 0.88, 0.78);
        v.colours->AddRGBPoint(1500, 1, 1, 1);
        v.opacity->AddPoint(-1000, 0);
        v.opacity->AddPoint(-700, 0);
        v.opacity->AddPoint(-500, 0.02);
        v.opacity->AddPoint(-150, 0.04);
        v.opacity->AddPoint(20, 0.12);
        v.opacity->AddPoint(120, 0.25);
        v.opacity->AddPoint(400, 0.7);
        v.opacity->AddPoint(3000, 0.8);
        v.property->ShadeOn();
        break;
    case RenderPreset::Mip: {
        v.mapper->SetBlendModeToMaximumIntensity();
        const double lo = center_ - width_ / 2, hi = center_ + width_ / 2;
        v.colours->AddRGBPoint(lo, 0, 0, 0);
        v.colours->AddRGBPoint(hi, 1, 1, 1);
        v.opacity->AddPoint(lo, 0);
        v.opacity->AddPoint(hi, 1);
        v.property->ShadeOff();
        break;
    }
    }
    v.property->SetAmbient(0.3);
    v.property->SetDiffuse(0.7);
    v.property->SetSpecular(0.2);
    view3d_->requestRender();
}

void VolumeViewer::update3dOverlay() {
    if (!vtk_) return;
    auto& v = *vtk_;
    if (!prepared_ || overlay_.empty() || !overlayVisible_) {
        v.overlayActor->VisibilityOff();
        view3d_->requestRender();
        return;
    }
    // The overlay on a grid of at most 128 per axis (and no finer than the volume): enough
    // for a smooth surface of a CAM, cheap to contour.
    const auto& p = *prepared_;
    const auto& vol = *p.volume;
    std::array<int, 3> g{};
    for (int a = 0; a < 3; ++a) g[std::size_t(a)] = std::min(p.dims[std::size_t(a)], 128);
    v.overlayValues.resize(std::size_t(g[0]) * std::size_t(g[1]) * std::size_t(g[2]));
    std::size_t n = 0;
    const auto pos = [&](int a, int idx) { return (idx + 0.5) * p.dims[std::size_t(a)] / g[std::size_t(a)] - 0.5; };
    for (int k = 0; k < g[2]; ++k)
        for (int j = 0; j < g[1]; ++j)
            for (int i = 0; i < g[0]; ++i) v.overlayValues[n++] = overlay_.sample(pos(0, i), pos(1, j), pos(2, k));
    auto image = vtkSmartPointer<vtkImageData>::New();
    image->SetDimensions(g[0], g[1], g[2]);
    double spacing[3], origin[3];
    for (int a = 0; a < 3; ++a) {
        const double step = double(p.dims[std::size_t(a)]) / g[std::size_t(a)];
        spacing[a] = vol.spacing[std::size_t(a)] * step;
        origin[a] = vol.spacing[std::size_t(a)] * (0.5 * step - 0.5);
    }
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    auto array = vtkSmartPointer<vtkFloatArray>::New();
    array->SetArray(v.overlayValues.data(), vtkIdType(v.overlayValues.size()), 1);
    image->GetPointData()->SetScalars(array);
    v.overlayImage = image;
    v.surface->SetInputData(image);
    const double level = overlay_.labelMask() ? 0.5 : std::max(overlayThreshold_, 0.02);
    v.surface->SetValue(0, level);
    const QRgb c =
        lut_[std::size_t(overlay_.labelMask() ? 1 : std::clamp(int((level + (1 - level) / 2) * 255), 0, 255))];
    v.overlayActor->GetProperty()->SetColor(qRed(c) / 255.0, qGreen(c) / 255.0, qBlue(c) / 255.0);
    v.overlayActor->GetProperty()->SetOpacity(std::clamp(overlayOpacity_ + 0.25, 0.0, 1.0));
    v.overlayActor->VisibilityOn();
    view3d_->requestRender();
}

void VolumeViewer::resetCamera() {
    if (!vtk_ || !prepared_) return;
    auto* ren = view3d_->renderer();
    double b[6];
    vtk_->volume->GetBounds(b);
    const double c[3] = {(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2};
    auto* cam = ren->GetActiveCamera();
    // Seen from the front (anterior, -y in LPS), head up: the patient's left on the right.
    cam->SetFocalPoint(c);
    cam->SetPosition(c[0], c[1] - 1000, c[2]);
    cam->SetViewUp(0, 0, 1);
    ren->ResetCamera(b);
    cam->Zoom(1.3);
    ren->ResetCameraClippingRange();
    view3d_->requestRender();
}

}  // namespace lumen::widgets
