#pragma once
// Writes a volume as NIfTI-1 (float32 values, geometry as sform/qform), e.g. a DICOM series.

#include "io/image_volume.h"

#include <filesystem>

namespace lumen::io {

/// `.nii` or `.nii.gz`; one sample per voxel. Written with util::writeFileAtomically (checked,
/// fsynced, renamed; nothing left behind on failure).
/// Throws std::runtime_error naming the file.
void writeNifti(const std::filesystem::path& path, const ImageVolume& volume);

}  // namespace lumen::io
