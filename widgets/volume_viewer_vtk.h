#pragma once
// Internal to the volume viewer: the VTK objects of its 3-D view (volume_viewer_3d.cpp builds
// and updates them; volume_viewer.cpp owns them).

#include "volume_viewer.h"

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

namespace lumen::widgets {

struct VolumeViewer::Vtk {
    vtkSmartPointer<vtkImageData> image;
    vtkSmartPointer<vtkFixedPointVolumeRayCastMapper> mapper;
    vtkSmartPointer<vtkVolume> volume;
    vtkSmartPointer<vtkVolumeProperty> property;
    vtkSmartPointer<vtkColorTransferFunction> colours;
    vtkSmartPointer<vtkPiecewiseFunction> opacity;
    vtkSmartPointer<vtkMatrix4x4> matrix;
    vtkSmartPointer<vtkImageData> overlayImage;
    vtkSmartPointer<vtkFlyingEdges3D> surface;
    vtkSmartPointer<vtkActor> overlayActor;
    std::vector<float> overlayValues;
    std::shared_ptr<const PreparedVolume> shown;  // keeps the proxy the image points into alive
};

}  // namespace lumen::widgets
