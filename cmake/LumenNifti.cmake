# nifti2 as the interface target lumen_nifti2. Its own CMake config points at a non-multiarch
# path on Debian, so it is found by hand. Shared by the main build and tests/fuzz.
if(NOT TARGET lumen_nifti2)
  find_path(NIFTI2_INCLUDE_DIR nifti2_io.h PATH_SUFFIXES nifti REQUIRED)
  find_library(NIFTI2_LIBRARY nifti2 REQUIRED)
  find_library(ZNZ_LIBRARY znz REQUIRED)
  find_package(ZLIB REQUIRED)
  add_library(lumen_nifti2 INTERFACE)
  target_include_directories(lumen_nifti2 SYSTEM INTERFACE "${NIFTI2_INCLUDE_DIR}")
  target_link_libraries(lumen_nifti2 INTERFACE "${NIFTI2_LIBRARY}" "${ZNZ_LIBRARY}" ZLIB::ZLIB m)
endif()
