// lumen-cli convert PATH OUT.{npy,png,nii,nii.gz}: arrays researchers load straight into NumPy.
#include "cli_command.h"
#include "io/codecs.h"

#include "io/media_reader.h"
#include "io/nifti_writer.h"
#include "io/npy_writer.h"
#include "io/read_error.h"
#include "util/atomic_file.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>

namespace lumen::cli {

namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One frame/slice as an 8-bit display image: the file's window (else the value range),
// MONOCHROME1 inverted, colour kept as RGB.
cv::Mat displayFrame(const io::ImageVolume& v, long index) {
    const std::size_t perFrame = std::size_t(v.rows) * std::size_t(v.columns) * std::size_t(v.samples);
    const float* src = v.values.data() + std::size_t(index) * perFrame;
    double lo, hi;
    if (v.meta.windowCenter && v.meta.windowWidth && *v.meta.windowWidth > 0) {
        lo = *v.meta.windowCenter - *v.meta.windowWidth / 2;
        hi = *v.meta.windowCenter + *v.meta.windowWidth / 2;
    } else if (v.samples == 3 || v.storedType == io::StoredType::U8) {
        lo = 0, hi = 255;
    } else {
        const auto [a, b] = std::minmax_element(src, src + perFrame);
        lo = *a, hi = std::max(double(*b), double(*a) + 1e-6);
    }
    cv::Mat out(v.rows, v.columns, v.samples == 3 ? CV_8UC3 : CV_8UC1);
    for (std::size_t i = 0; i < perFrame; ++i) {
        double t = std::clamp((double(src[i]) - lo) / (hi - lo), 0.0, 1.0);
        if (v.meta.invertForDisplay) t = 1.0 - t;
        out.data[i] = static_cast<unsigned char>(std::lround(t * 255.0));
    }
    return out;
}

}  // namespace

Command convertCommand() {
    Command c;
    c.name = "convert";
    c.summary = "convert PATH OUT.{npy,png,nii.gz}: export values for NumPy, a display PNG or NIfTI";
    c.usage = R"(Usage: lumen-cli convert PATH OUT.npy|OUT.png|OUT.nii|OUT.nii.gz [--stored] [--index N]

PATH is anything `lumen-cli inspect` reads. The output format follows OUT's extension:
  .npy      float32 values with the modality LUT applied (HU for CT), C order, shaped
            (rows, columns[, samples]) for an image, (frames, rows, columns[, samples]) for a
            multi-frame image or video, (slices, rows, columns) for a volume (a series
            folder or NIfTI: NumPy's reverse-axes transpose of nibabel's array), with time
            first for 4-D. Load it with numpy.load.
  .png      one frame or slice (--index, default 0) as an 8-bit display image: the file's
            window (else the value range), MONOCHROME1 inverted, colour as RGB.
  .nii(.gz) the volume as float32 NIfTI-1 with its geometry (one sample per voxel).
  --stored  .npy only: the stored values in their own dtype (e.g. <i2, <u2, |u1) before the
            modality LUT (for DICOM masked to BitsStored and sign-extended).
  --index N frame/slice for .png
Outputs are written atomically. Exit code 2 on an unreadable input or unwritable output.
)";
    c.valueOptions = {"index"};
    c.flags = {"stored"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() != 3) throw UsageError("convert needs PATH and OUT");
        const std::string out = args.words[2];
        const bool npy = endsWith(out, ".npy"), png = endsWith(out, ".png"),
                   nii = endsWith(out, ".nii") || endsWith(out, ".nii.gz");
        if (!npy && !png && !nii) throw UsageError("OUT must end in .npy, .png, .nii or .nii.gz: " + out);
        if (args.has("stored") && !npy) throw UsageError("--stored applies to .npy only");
        if (util::samePath(out, args.words[1])) {
            std::cerr << "lumen-cli: refusing to overwrite the input " << out << "\n";
            return kError;
        }
        io::MediaFile media;
        try {
            // --stored writes the stored samples only: no float values are made for them.
            io::DicomReadOptions dicom;
            if (args.has("stored")) dicom.values = io::PixelValues::StoredFirst;
            media = io::readMedia(args.words[1], dicom);
        } catch (const io::ReadError& e) {
            std::cerr << "lumen-cli: " << e.what() << "\n";
            return kError;
        }
        const io::ImageVolume& v = media.volume;
        try {
            if (npy) {
                io::writeNpy(out, v, args.has("stored"));
            } else if (nii) {
                io::writeNifti(out, v);
            } else {
                const long frames = long(v.time) * long(v.depth);
                const long index = long(args.integer("index").value_or(0));
                if (index >= frames)
                    throw UsageError("--index " + std::to_string(index) + " is out of range (0.." +
                                     std::to_string(frames - 1) + ")");
                cv::Mat img = displayFrame(v, index);
                if (img.channels() == 3) {
                    cv::Mat bgr;
                    cv::cvtColor(img, bgr, cv::COLOR_RGB2BGR);
                    img = bgr;
                }
                std::vector<unsigned char> bytes;
                if (!io::codecs().imencode(".png", img, bytes, {}))
                    throw std::runtime_error(out + ": PNG encoding failed");
                util::writeFileAtomically(out,
                                          std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
            }
        } catch (const UsageError&) {
            throw;
        } catch (const std::exception& e) {
            std::cerr << "lumen-cli: " << e.what() << "\n";
            return kError;
        }
        std::cerr << "wrote " << out << "\n";
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
