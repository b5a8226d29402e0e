#pragma once
// Process-wide malloc tuning for programs that read many large buffers in a row (a DICOM
// series: two ~1 MiB vectors per slice, freed after the copy into the volume). With glibc's
// defaults each one is a fresh mmap or heap top that is zero-filled and page-faulted again
// (expensive on a VM), then returned to the kernel on free. Measured on 180 reads of 512x512
// slices: 1.5 s of CPU (60 % page faults and memset) -> 0.2 s (docs/volume-viewer.md).

namespace lumen::util {

/// Raises glibc's mmap threshold to 32 MiB and its trim threshold to 256 MiB, so freed
/// blocks are reused instead of unmapped. Call once at the start of main(); no-op elsewhere.
void keepFreedMemoryForReuse();

}  // namespace lumen::util
