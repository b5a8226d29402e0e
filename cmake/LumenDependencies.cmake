# Every dependency is a Debian 12 package (scripts/install-deps.sh); nothing is downloaded.
# Package names and the traps behind each line are in docs/building.md.

find_package(Qt6 6.4 REQUIRED COMPONENTS Core Gui Widgets OpenGL Concurrent
             Svg PrintSupport Test)
# After Qt6: QCustomPlotQt6 is the Qt 6 build (find_package(QCustomPlot) is the Qt 5 one).
find_package(QCustomPlotQt6 REQUIRED CONFIG)
# Always list VTK components: without them VTK's config looks for Qt5OpenGL and fails.
find_package(VTK 9.1 REQUIRED COMPONENTS
  CommonCore CommonDataModel CommonExecutionModel RenderingCore RenderingOpenGL2
  RenderingVolume RenderingVolumeOpenGL2 RenderingAnnotation RenderingFreeType
  InteractionStyle IOImage ImagingCore FiltersCore)
find_package(OpenCV 4 REQUIRED COMPONENTS core imgproc imgcodecs videoio)
find_package(DCMTK REQUIRED CONFIG)
# Another LibTorch (e.g. the libtorch/ of a CUDA PyTorch wheel) with -DLUMEN_TORCH_DIR=<its root>
# or CMAKE_PREFIX_PATH; Debian's CPU LibTorch is the default (docs/building.md).
set(LUMEN_TORCH_DIR "" CACHE PATH "root of a LibTorch to build against (holds share/cmake/Torch)")
if(LUMEN_TORCH_DIR)
  set(Torch_DIR "${LUMEN_TORCH_DIR}/share/cmake/Torch" CACHE PATH "" FORCE)
  list(PREPEND CMAKE_PREFIX_PATH "${LUMEN_TORCH_DIR}")
endif()
find_package(Torch REQUIRED)
set(LUMEN_TORCH_CUDA OFF)
if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
  set(LUMEN_TORCH_CUDA ON)
endif()
# Data-parallel training needs c10d's headers (shipped with LibTorch) and Gloo's.
find_path(LUMEN_GLOO_INCLUDE_DIR gloo/config.h HINTS ${TORCH_INCLUDE_DIRS})
find_path(LUMEN_C10D_INCLUDE_DIR torch/csrc/distributed/c10d/ProcessGroupGloo.hpp HINTS ${TORCH_INCLUDE_DIRS})
set(LUMEN_HAVE_C10D OFF)
if(LUMEN_GLOO_INCLUDE_DIR AND LUMEN_C10D_INCLUDE_DIR)
  set(LUMEN_HAVE_C10D ON)
endif()
find_package(yaml-cpp REQUIRED CONFIG)
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json 3 REQUIRED CONFIG)
find_package(Threads REQUIRED)
# The tokenizers' Unicode (categories, case mapping, NFC/NFD) comes from ICU, as Qt's does.
find_package(ICU REQUIRED COMPONENTS uc)
# DCMTK 3.6.7 has no JPEG 2000 codec: Lumen decodes those frames with Debian's OpenJPEG.
find_package(PkgConfig REQUIRED)
pkg_check_modules(OpenJPEG REQUIRED IMPORTED_TARGET libopenjp2)
# Grey 8-bit JPEG cines: libjpeg-turbo, frames in parallel (DCMTK's IJG 6b is serial and ~5x slower).
pkg_check_modules(TurboJPEG REQUIRED IMPORTED_TARGET libturbojpeg)

include(LumenNifti)

# LibTorch adds compile definitions and flags to whatever links it; keep it behind
# an interface target that only core and plugins link, PRIVATE.
add_library(lumen_torch INTERFACE)
target_link_libraries(lumen_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(lumen_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

message(STATUS "Lumen deps: Qt ${Qt6_VERSION}, VTK ${VTK_VERSION}, OpenCV ${OpenCV_VERSION}, "
               "DCMTK ${DCMTK_VERSION}, OpenJPEG ${OpenJPEG_VERSION}, libjpeg-turbo ${TurboJPEG_VERSION}, Torch ${Torch_VERSION}, yaml-cpp ${yaml-cpp_VERSION}, "
               "SQLite ${SQLite3_VERSION}, nlohmann_json ${nlohmann_json_VERSION}; "
               "c10d/Gloo ${LUMEN_HAVE_C10D}, CUDA LibTorch ${LUMEN_TORCH_CUDA}")
