#pragma once
// Shared by the core/data suites: a Python (pandas/numpy) reference runner that FAILS (never
// skips) when the interpreter or a module is missing, a pure-Python PNG decoder (independent
// of OpenCV) for pixel references, and small file helpers.

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QString>
#include <QStringList>

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

namespace lumen::datatest {

inline std::string python() { return qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3").toStdString(); }

/// Runs `script` with sys.argv[1:] = args; the script prints one JSON document on stdout.
inline nlohmann::json runPython(const std::string& script, const QStringList& args = {}) {
    QProcess py;
    QStringList all{"-c", QString::fromStdString("import warnings\nwarnings.simplefilter('ignore')\n" + script)};
    all += args;
    py.start(QString::fromStdString(python()), all);
    if (!py.waitForFinished(600000) || py.exitStatus() != QProcess::NormalExit || py.exitCode() != 0)
        throw std::runtime_error("python reference failed (" + python() + "; needs numpy, pandas): " +
                                 py.readAllStandardError().toStdString() + py.errorString().toStdString());
    return nlohmann::json::parse(py.readAllStandardOutput().toStdString());
}

/// Python source of `read_png(path) -> numpy array` (8/16-bit, grey/RGB/grey+alpha/RGBA,
/// non-interlaced): zlib + the PNG filters, no OpenCV and no PIL.
inline const char* kPythonPngDecoder = R"PY(
import zlib, struct
import numpy as np
def read_png(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', path
    pos, idat = 8, b''
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            assert interlace == 0
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    bpp = channels * depth // 8
    stride = w * bpp
    raw = zlib.decompress(idat)
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 255
        elif f == 1 and bpp == 1:
            cur = np.cumsum(line) & 255
        else:
            cur = line.copy()
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                if f == 1: p = a
                elif f == 3: p = (a + b) >> 1
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                cur[x] = (cur[x] + p) & 255
        out[y] = cur
        prev = cur
    if depth == 16:
        img = out.reshape(h, w * channels * 2).view('>u2').astype(np.uint16).reshape(h, w, channels)
    else:
        img = out.reshape(h, w, channels)
    return img
)PY";

}  // namespace lumen::datatest
