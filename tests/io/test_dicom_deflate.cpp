// Regression suite for the fuzzing finding in docs/fuzzing.md: a deflated DICOM dataset whose
// element declares a length of GBs made DCMTK allocate it (a deflate stream cannot say how
// many bytes remain). This executable replaces the global operator new to record the largest
// single request, so the test fails if any reader asks for the declared size again.
#include "io/dicom_index.h"
#include "io/dicom_reader.h"
#include "io/read_error.h"

#include "io_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> g_largest{0};
void* track(std::size_t n) {
    std::size_t prev = g_largest.load(std::memory_order_relaxed);
    while (n > prev && !g_largest.compare_exchange_weak(prev, n, std::memory_order_relaxed)) {
    }
    return std::malloc(n ? n : 1);
}
}  // namespace

void* operator new(std::size_t n) {
    if (void* p = track(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    if (void* p = track(n)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return track(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return track(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace lumen::io;
using namespace lumen::iotest;
namespace fs = std::filesystem;

namespace {

void put16(std::string& s, unsigned v) {
    s += char(v & 0xFF);
    s += char((v >> 8) & 0xFF);
}
void put32(std::string& s, std::uint32_t v) {
    put16(s, v & 0xFFFF);
    put16(s, v >> 16);
}
// Explicit VR little endian element with a 2-byte length.
void shortElement(std::string& s, unsigned group, unsigned element, const char* vr, std::string value) {
    if (value.size() % 2) value += (std::string(vr) == "UI" ? '\0' : ' ');
    put16(s, group);
    put16(s, element);
    s += vr;
    put16(s, unsigned(value.size()));
    s += value;
}
// OB/OW/UN header with a 4-byte length (the value follows, or not).
void longHeader(std::string& s, unsigned group, unsigned element, const char* vr, std::uint32_t length) {
    put16(s, group);
    put16(s, element);
    s += vr;
    put16(s, 0);
    put32(s, length);
}

std::string rawDeflate(const std::string& in, std::size_t zeros = 0) {
    z_stream z{};
    if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("zlib");
    std::string out;
    std::vector<unsigned char> buf(1 << 20);
    auto pump = [&](const unsigned char* p, std::size_t n, int flush) {
        z.next_in = const_cast<unsigned char*>(p);
        z.avail_in = uInt(n);
        do {
            z.next_out = buf.data();
            z.avail_out = uInt(buf.size());
            deflate(&z, flush);
            out.append(reinterpret_cast<char*>(buf.data()), buf.size() - z.avail_out);
        } while (z.avail_out == 0);
    };
    pump(reinterpret_cast<const unsigned char*>(in.data()), in.size(), Z_NO_FLUSH);
    const std::vector<unsigned char> zero(1 << 20, 0);
    for (std::size_t left = zeros; left > 0;) {
        const std::size_t n = std::min(left, zero.size());
        pump(zero.data(), n, Z_NO_FLUSH);
        left -= n;
    }
    pump(nullptr, 0, Z_FINISH);
    deflateEnd(&z);
    return out;
}

// Preamble, DICM and a meta header declaring the deflated transfer syntax.
std::string deflatedFileHead() {
    std::string meta;
    shortElement(meta, 0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.7");
    shortElement(meta, 0x0002, 0x0003, "UI", "1.2.3.4.5");
    shortElement(meta, 0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1.99");
    std::string head(128, '\0');
    head += "DICM";
    put16(head, 0x0002);
    put16(head, 0x0000);
    head += "UL";
    put16(head, 4);
    put32(head, std::uint32_t(meta.size()));
    return head + meta;
}

std::string smallDataset() {
    std::string ds;
    shortElement(ds, 0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7");
    shortElement(ds, 0x0008, 0x0018, "UI", "1.2.3.4.5");
    shortElement(ds, 0x0008, 0x0060, "CS", "OT");
    shortElement(ds, 0x0010, 0x0020, "LO", "P1");
    shortElement(ds, 0x0020, 0x000D, "UI", "1.2.3.4");
    shortElement(ds, 0x0020, 0x000E, "UI", "1.2.3.4.1");
    return ds;
}

}  // namespace

class TestDicomDeflate : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path file(const std::string& name) const { return fs::path(m_dir.path().toStdString()) / name; }

private slots:
    void hugeDeclaredLengthIsNotAllocated() {
        // The shape of the fuzzer's input: a few KB deflated, one element declaring 3.6 GB.
        std::string ds = smallDataset();
        longHeader(ds, 0x0011, 0x1010, "OB", 0xD6000000u);
        ds += std::string(4000, 'x');
        const fs::path f = file("huge_length_deflated.dcm");
        writeBytes(f, deflatedFileHead() + rawDeflate(ds));
        QVERIFY(fs::file_size(f) < 5000);

        for (int mode = 0; mode < 3; ++mode) {
            g_largest = 0;
            const auto t0 = std::chrono::steady_clock::now();
            std::string error;
            if (mode == 0) error = errorOf([&] { readDicom(f); });
            else if (mode == 1) error = errorOf([&] { readDicomIndexHeader(f); });
            else {
                const std::string bytes = readBytes(f);
                g_largest = 0;
                error = errorOf([&] { readDicomBuffer(bytes.data(), bytes.size(), "fuzz-input"); });
            }
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            qInfo("mode %d: %s (largest allocation %zu bytes, %.3f s)", mode, error.c_str(), g_largest.load(), s);
            QVERIFY2(error.rfind("OTHER", 0) != 0 && error != "(no error)", error.c_str());
            QVERIFY2(error.find(mode == 2 ? "fuzz-input" : f.string()) != std::string::npos, error.c_str());
            QVERIFY2(g_largest.load() < (64u << 20), "a reader allocated the declared length");
            QVERIFY(s < 2.0);
        }
    }

    void deflateBombIsRefused() {
        // 600 MiB of zeros inflate from ~600 KB: past the 512 MiB limit, refused while inflating.
        std::string ds = smallDataset();
        longHeader(ds, 0x7FE0, 0x0010, "OB", 600u << 20);
        const fs::path f = file("bomb_deflated.dcm");
        writeBytes(f, deflatedFileHead() + rawDeflate(ds, 600u << 20));
        QVERIFY(fs::file_size(f) < (1u << 20));
        g_largest = 0;
        const std::string error = errorOf([&] { readDicom(f); });
        qInfo("%s (largest allocation %zu bytes)", error.c_str(), g_largest.load());
        QVERIFY2(error.find("deflate bomb") != std::string::npos, error.c_str());
        QVERIFY(g_largest.load() < (64u << 20));
    }

    void smallDeflatedFilesStillRead() {
        // A valid deflated dataset (ours, and pydicom's image_dfl.dcm) reads as before.
        const fs::path f = file("ok_deflated.dcm");
        writeBytes(f, deflatedFileHead() + rawDeflate(smallDataset()));
        const auto rec = readDicomIndexHeader(f);
        QCOMPARE(rec.seriesUid, std::string("1.2.3.4.1"));
        QCOMPARE(rec.transferSyntax, std::string("1.2.840.10008.1.2.1.99"));
        const auto v = readDicom(kPydicomFiles / "image_dfl.dcm");
        QCOMPARE(v.meta.transferSyntax, std::string("1.2.840.10008.1.2.1.99"));
        QVERIFY(v.rows > 0 && !v.values.empty());
        const std::string error = errorOf([&] { readDicom(f); });
        QVERIFY2(error.find("no Pixel Data") != std::string::npos, error.c_str());
    }
};

QTEST_GUILESS_MAIN(TestDicomDeflate)
#include "test_dicom_deflate.moc"
