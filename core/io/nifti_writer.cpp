#include "io/nifti_writer.h"

#include "io/nifti_reader.h"

#include <nifti2_io.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <unistd.h>

namespace lumen::io {

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
    nifti_dmat44_to_quatern(nim->sto_xyz, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                            &nim->qoffset_z, nullptr, nullptr, nullptr, &nim->qfac);
    nim->qto_xyz = nim->sto_xyz;
    nim->scl_slope = 1;
    nim->scl_inter = 0;
    // Write beside the target under a temporary name, then rename: never a half-written file.
    const std::filesystem::path tmp = path.parent_path() / (".lumen-tmp-" + std::to_string(::getpid()) + "-" + name);
    std::free(nim->fname);
    std::free(nim->iname);
    nim->fname = strdup(tmp.c_str());
    nim->iname = strdup(tmp.c_str());
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nifti_image_write(nim.get());
    std::error_code ec;
    if (!std::filesystem::exists(tmp, ec)) throw std::runtime_error(path.string() + ": cannot write the NIfTI file");
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        throw std::runtime_error(path.string() + ": cannot write the NIfTI file: " + ec.message());
    }
}

}  // namespace lumen::io
