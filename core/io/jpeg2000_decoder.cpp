#include "io/jpeg2000_decoder.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace lumen::io {

namespace {

struct MemoryStream {
    const std::uint8_t* data;
    std::size_t size;
    std::size_t pos = 0;
};

OPJ_SIZE_T readFn(void* buffer, OPJ_SIZE_T n, void* user) {
    auto* s = static_cast<MemoryStream*>(user);
    if (s->pos >= s->size) return OPJ_SIZE_T(-1);
    const std::size_t k = std::min<std::size_t>(n, s->size - s->pos);
    std::memcpy(buffer, s->data + s->pos, k);
    s->pos += k;
    return k;
}
OPJ_OFF_T skipFn(OPJ_OFF_T n, void* user) {
    auto* s = static_cast<MemoryStream*>(user);
    if (n < 0) {
        const std::size_t back = std::min<std::size_t>(std::size_t(-n), s->pos);
        s->pos -= back;
        return -OPJ_OFF_T(back);
    }
    const std::size_t k = std::min<std::size_t>(std::size_t(n), s->size - s->pos);
    s->pos += k;
    return OPJ_OFF_T(k);
}
OPJ_BOOL seekFn(OPJ_OFF_T n, void* user) {
    auto* s = static_cast<MemoryStream*>(user);
    if (n < 0 || std::size_t(n) > s->size) return OPJ_FALSE;
    s->pos = std::size_t(n);
    return OPJ_TRUE;
}
void collectMessage(const char* msg, void* user) {
    auto* text = static_cast<std::string*>(user);
    if (text->empty()) *text = msg;
    while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
}
void ignoreMessage(const char*, void*) {}

}  // namespace

std::string jpeg2000DecoderName() { return std::string("OpenJPEG ") + opj_version(); }

Jpeg2000Image decodeJpeg2000(const std::uint8_t* data, std::size_t size, const Jpeg2000Shape* expected, int threads) {
    if (size < 12) throw std::runtime_error("JPEG 2000 fragment too short");
    static const std::uint8_t jp2Magic[] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' '};
    const bool jp2 = std::memcmp(data, jp2Magic, 8) == 0;
    if (!jp2 && !(data[0] == 0xFF && data[1] == 0x4F))
        throw std::runtime_error("not a JPEG 2000 codestream (no SOC marker)");

    std::unique_ptr<opj_codec_t, void (*)(opj_codec_t*)> codec(
        opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K), opj_destroy_codec);
    std::string error;
    opj_set_error_handler(codec.get(), collectMessage, &error);
    opj_set_warning_handler(codec.get(), ignoreMessage, nullptr);
    opj_set_info_handler(codec.get(), ignoreMessage, nullptr);
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec.get(), &params)) throw std::runtime_error("OpenJPEG setup failed");
    if (threads > 1 && opj_has_thread_support() && !opj_codec_set_threads(codec.get(), threads))
        throw std::runtime_error("OpenJPEG refused " + std::to_string(threads) + " threads");

    MemoryStream mem{data, size};
    std::unique_ptr<opj_stream_t, void (*)(opj_stream_t*)> stream(opj_stream_create(1 << 16, OPJ_TRUE),
                                                                  opj_stream_destroy);
    opj_stream_set_user_data(stream.get(), &mem, nullptr);
    opj_stream_set_user_data_length(stream.get(), size);
    opj_stream_set_read_function(stream.get(), readFn);
    opj_stream_set_skip_function(stream.get(), skipFn);
    opj_stream_set_seek_function(stream.get(), seekFn);

    opj_image_t* raw = nullptr;
    if (!opj_read_header(stream.get(), codec.get(), &raw))
        throw std::runtime_error("JPEG 2000 header: " + (error.empty() ? std::string("unreadable") : error));
    std::unique_ptr<opj_image_t, void (*)(opj_image_t*)> image(raw, opj_image_destroy);
    if (expected) {
        const auto w = std::uint64_t(image->x1) - std::uint64_t(std::min(image->x0, image->x1));
        const auto h = std::uint64_t(image->y1) - std::uint64_t(std::min(image->y0, image->y1));
        if (w != std::uint64_t(expected->width) || h != std::uint64_t(expected->height) ||
            image->numcomps != OPJ_UINT32(expected->components))
            throw std::runtime_error("JPEG 2000 image is " + std::to_string(w) + "x" + std::to_string(h) + "x" +
                                     std::to_string(image->numcomps) + ", the header says " +
                                     std::to_string(expected->width) + "x" + std::to_string(expected->height) + "x" +
                                     std::to_string(expected->components));
    }
    if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get()))
        throw std::runtime_error("JPEG 2000 decode: " + (error.empty() ? std::string("failed") : error));

    Jpeg2000Image out;
    out.components = int(image->numcomps);
    if (out.components < 1 || out.components > 4) throw std::runtime_error("JPEG 2000: unsupported component count");
    const opj_image_comp_t& c0 = image->comps[0];
    out.width = int(c0.w);
    out.height = int(c0.h);
    out.precision = int(c0.prec);
    out.isSigned = c0.sgnd != 0;
    for (int c = 0; c < out.components; ++c) {
        const auto& comp = image->comps[c];
        // Subsampled chroma would need upsampling; DICOM's J2K profiles do not use it.
        if (comp.w != c0.w || comp.h != c0.h || comp.dx != 1 || comp.dy != 1 || !comp.data)
            throw std::runtime_error("JPEG 2000: subsampled or missing components are not supported");
    }
    const std::size_t n = std::size_t(out.width) * std::size_t(out.height);
    out.samples.resize(n * std::size_t(out.components));
    for (int c = 0; c < out.components; ++c) {
        const OPJ_INT32* src = image->comps[c].data;
        for (std::size_t i = 0; i < n; ++i) out.samples[i * std::size_t(out.components) + std::size_t(c)] = src[i];
    }
    return out;
}

}  // namespace lumen::io
