#include "io/nifti_writer.h"

#include "io/nifti_reader.h"
#include "util/atomic_file.h"

#include <nifti2_io.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace lumen::io {
namespace {

/// nifti_image_write reports nothing: a full disk leaves a short file. Its size (.nii) or the
/// gzip trailer's uncompressed size (.nii.gz, modulo 2^32) must be the header plus the data.
void requireComplete(const std::filesystem::path& target, const std::filesystem::path& tmp, bool gz,
                     std::uint64_t expected) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(tmp, ec);
    std::uint64_t got = ec ? 0 : size;
    if (gz && !ec && size >= 18) {
        std::ifstream in(tmp, std::ios::binary);
        unsigned char trailer[4] = {};
        in.seekg(-4, std::ios::end);
        in.read(reinterpret_cast<char*>(trailer), 4);
        got = in ? (std::uint64_t(trailer[0]) | std::uint64_t(trailer[1]) << 8 | std::uint64_t(trailer[2]) << 16 |
                    std::uint64_t(trailer[3]) << 24)
                 : 0;
        expected &= 0xffffffffULL;
    }
    if (ec || got != expected)
        throw std::runtime_error(
            target.string() + ": cannot write the NIfTI file: " +
            (ec ? ec.message()
                : "incomplete (" + std::to_string(got) + " of " + std::to_string(expected) + " bytes; disk full?)"));
}

}  // namespace

void writeNifti(const std::filesystem::path& path, const ImageVolume& v) {
    const std::string name = path.filename().string();
    const bool gz = name.size() > 7 && name.compare(name.size() - 7, 7, ".nii.gz") == 0;
    if (!gz && !(name.size() > 4 && name.compare(name.size() - 4, 4, ".nii") == 0))
        throw std::runtime_error(path.string() + ": NIfTI output must end in .nii or .nii.gz");
    if (v.samples != 1) throw std::runtime_error(path.string() + ": NIfTI output needs one sample per voxel");
    const int64_t dims[8] = {v.time > 1 ? 4 : 3, v.columns, v.rows, v.depth, v.time, 1, 1, 1};
    std::unique_ptr<nifti_image, void (*)(nifti_image*)> nim(nifti_make_new_nim(dims, DT_FLOAT32, 0), nifti_image_free);
    if (!nim) throw std::runtime_error(path.string() + ": cannot create a NIfTI header");
    nim->data = std::malloc(v.values.size() * sizeof(float));
    if (!nim->data) throw std::runtime_error(path.string() + ": out of memory");
    std::memcpy(nim->data, v.values.data(), v.values.size() * sizeof(float));
    nim->dx = nim->pixdim[1] = v.spacing[0];
    nim->dy = nim->pixdim[2] = v.spacing[1];
    nim->dz = nim->pixdim[3] = v.spacing[2];
    if (v.meta.frameTimeMs) nim->dt = nim->pixdim[4] = *v.meta.frameTimeMs, nim->time_units = NIFTI_UNITS_MSEC;
    nim->xyz_units = NIFTI_UNITS_MM;
    const auto a = rasAffine(v);
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) nim->sto_xyz.m[r][c] = a[std::size_t(r * 4 + c)];
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    nifti_dmat44_to_quatern(nim->sto_xyz, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x,
                            &nim->qoffset_y, &nim->qoffset_z, nullptr, nullptr, nullptr, &nim->qfac);
    nim->qto_xyz = nim->sto_xyz;
    nim->scl_slope = 1;
    nim->scl_inter = 0;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    util::writeFileAtomically(path, [&](const std::filesystem::path& tmp) {
        std::free(nim->fname);
        std::free(nim->iname);
        nim->fname = strdup(tmp.c_str());
        nim->iname = strdup(tmp.c_str());
        nifti_image_write(nim.get());
        requireComplete(path, tmp, gz, static_cast<std::uint64_t>(nim->iname_offset) + nim->nvox * nim->nbyper);
    });
}

}  // namespace lumen::io
