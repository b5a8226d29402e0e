#include "explain/heatmap.h"

#include "data/csv_records.h"
#include "data/data_error.h"
#include "io/npy_reader.h"
#include "io/npy_writer.h"
#include "io/read_error.h"
#include "util/atomic_file.h"
#include "util/sha256.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace lumen::explain {
namespace {

std::size_t product(const std::vector<std::size_t>& shape) {
    return std::accumulate(shape.begin(), shape.end(), std::size_t(1), std::multiplies<>());
}

std::string shapeText(const std::vector<std::size_t>& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + ")";
}

/// Linear resampling of one axis with half-pixel centres (PyTorch's align_corners=False:
/// src = (dst + 0.5) * in/out - 0.5, clamped at 0; the upper neighbour clamped at in-1).
/// Doing the axes one after another equals the bi-/trilinear product of weights.
std::vector<double> resampleAxis(const std::vector<double>& in, const std::vector<std::size_t>& shape, std::size_t axis,
                                 std::size_t outSize) {
    const std::size_t inSize = shape[axis];
    std::size_t outer = 1, inner = 1;
    for (std::size_t a = 0; a < axis; ++a) outer *= shape[a];
    for (std::size_t a = axis + 1; a < shape.size(); ++a) inner *= shape[a];
    std::vector<std::size_t> i0(outSize), i1(outSize);
    std::vector<double> w1(outSize);
    const double scale = double(inSize) / double(outSize);
    for (std::size_t o = 0; o < outSize; ++o) {
        double src = (double(o) + 0.5) * scale - 0.5;
        if (src < 0) src = 0;
        std::size_t lo = std::min(static_cast<std::size_t>(src), inSize - 1);
        i0[o] = lo;
        i1[o] = std::min(lo + 1, inSize - 1);
        w1[o] = src - double(lo);
    }
    std::vector<double> out(outer * outSize * inner);
    for (std::size_t a = 0; a < outer; ++a) {
        const double* src = in.data() + a * inSize * inner;
        double* dst = out.data() + a * outSize * inner;
        for (std::size_t o = 0; o < outSize; ++o) {
            const double* r0 = src + i0[o] * inner;
            const double* r1 = src + i1[o] * inner;
            const double l1 = w1[o], l0 = 1.0 - l1;
            double* d = dst + o * inner;
            for (std::size_t k = 0; k < inner; ++k) d[k] = l0 * r0[k] + l1 * r1[k];
        }
    }
    return out;
}

void checkHeatmap(const Heatmap& h, const char* what) {
    if (h.shape.size() != 2 && h.shape.size() != 3)
        throw std::invalid_argument(std::string(what) + ": a heatmap is 2-D or 3-D, got shape " + shapeText(h.shape));
    if (product(h.shape) != h.values.size())
        throw std::invalid_argument(std::string(what) + ": shape " + shapeText(h.shape) + " needs " +
                                    std::to_string(product(h.shape)) + " values, got " +
                                    std::to_string(h.values.size()));
}

/// For ids and labels: [A-Za-z0-9._-] stay, the rest becomes '_'.
std::string safeName(const std::string& s) {
    std::string out;
    for (unsigned char c : s) out += (std::isalnum(c) || c == '.' || c == '-' || c == '_') ? char(c) : '_';
    return out;
}

/// For the cache key's layer and method: '+' stays too ("gradcam++").
std::string safeKeyPart(const std::string& s) {
    std::string out;
    for (unsigned char c : s) out += (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '+') ? char(c) : '_';
    return out;
}

/// A safe file-name part; changed names get a hash suffix so "a/b" and "a_b" stay apart.
std::string safePart(const std::string& s) {
    std::string out = safeName(s);
    if (out.size() > 80) out.resize(80);
    if (out != s || out.empty() || out == "." || out == "..") out += "-" + util::sha256Hex(s).substr(0, 8);
    return out;
}

const std::vector<std::string> kColumns = {"id",      "label",   "target",  "file", "score",     "raw_min", "raw_max",
                                           "input_h", "input_w", "input_d", "prob", "prob_drop", "cam_drop"};

std::string number(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
    return std::string(buf, r.ptr);
}

}  // namespace

Heatmap upsample(const Heatmap& h, const std::vector<std::size_t>& targetShape) {
    checkHeatmap(h, "upsample");
    if (targetShape.size() != h.shape.size())
        throw std::invalid_argument("upsample: cannot resample shape " + shapeText(h.shape) + " to " +
                                    shapeText(targetShape) + " (ranks differ)");
    if (product(h.shape) == 0 || product(targetShape) == 0)
        throw std::invalid_argument("upsample: empty shape " + shapeText(h.shape) + " -> " + shapeText(targetShape));
    std::vector<double> v(h.values.begin(), h.values.end());
    std::vector<std::size_t> shape = h.shape;
    for (std::size_t a = 0; a < shape.size(); ++a) {
        if (shape[a] == targetShape[a]) continue;
        v = resampleAxis(v, shape, a, targetShape[a]);
        shape[a] = targetShape[a];
    }
    Heatmap out;
    out.shape = targetShape;
    out.values.assign(v.begin(), v.end());
    return out;
}

Heatmap normalised(const Heatmap& h) {
    Heatmap out = h;
    if (h.values.empty()) return out;
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (float x : h.values)
        if (!std::isnan(x)) lo = std::min(lo, x), hi = std::max(hi, x);
    const bool flat = !(hi > lo) || !std::isfinite(hi - lo);
    for (float& x : out.values) x = (flat || std::isnan(x)) ? 0.0f : float((double(x) - lo) / (double(hi) - lo));
    return out;
}

std::vector<std::uint8_t> topFractionMask(const Heatmap& h, double ratio) {
    const std::size_t n = h.values.size();
    std::vector<std::uint8_t> mask(n, 0);
    if (!(ratio > 0)) return mask;
    const std::size_t k = std::min(n, static_cast<std::size_t>(std::floor(std::min(ratio, 1.0) * double(n))));
    if (k == 0) return mask;
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    const auto key = [&](std::uint32_t i) {
        const float v = h.values[i];
        return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v;
    };
    // Descending by value, ties to the lower index: a strict total order, so the k chosen are
    // those of a stable descending sort (nn::topkMask's rule).
    const auto before = [&](std::uint32_t a, std::uint32_t b) {
        const float va = key(a), vb = key(b);
        return va != vb ? va > vb : a < b;
    };
    std::nth_element(order.begin(), order.begin() + std::ptrdiff_t(k - 1), order.end(), before);
    for (std::size_t i = 0; i < k; ++i) mask[order[i]] = 1;
    return mask;
}

const CamEntry* CamCache::find(const std::string& id, const std::string& label) const {
    for (const CamEntry& e : entries)
        if (e.id == id && e.label == label) return &e;
    return nullptr;
}

std::string camFileName(const std::string& id, const std::string& label) {
    return safePart(id) + "__" + safePart(label) + ".npy";
}

std::filesystem::path camCacheDir(const std::filesystem::path& workspace, const std::filesystem::path& modelFile,
                                  const std::string& layer, const std::string& method) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(modelFile, ec);
    if (ec) throw std::runtime_error(modelFile.string() + ": cannot read the model file: " + ec.message());
    const auto mtime = std::filesystem::last_write_time(modelFile, ec).time_since_epoch().count();
    // Hashing a 350 MB model takes about a second: remember it while the file is unchanged.
    static std::mutex mutex;
    static std::map<std::tuple<std::string, std::uintmax_t, long long>, std::string> memo;
    const auto memoKey = std::make_tuple(std::filesystem::absolute(modelFile).string(), size, (long long)mtime);
    std::string hex;
    {
        std::lock_guard lock(mutex);
        if (auto it = memo.find(memoKey); it != memo.end()) hex = it->second;
    }
    if (hex.empty()) {
        hex = util::sha256File(modelFile).substr(0, 16);
        std::lock_guard lock(mutex);
        memo[memoKey] = hex;
    }
    return workspace / "cache" / "cam" / (hex + "_" + safeKeyPart(layer) + "_" + safeKeyPart(method));
}

CamCache readCamCache(const std::filesystem::path& dir) {
    CamCache cache;
    cache.dir = dir;
    const auto meta = dir / "meta.json";
    if (std::filesystem::exists(meta)) {
        std::ifstream in(meta, std::ios::binary);
        try {
            const nlohmann::json j = nlohmann::json::parse(in);
            cache.model = j.value("model", "");
            cache.layer = j.value("layer", "");
            cache.method = j.value("method", "");
        } catch (const std::exception& e) {
            throw data::DataError(meta, std::string("not a CAM cache meta file: ") + e.what());
        }
    }
    const auto index = dir / "index.csv";
    if (!std::filesystem::exists(index)) return cache;
    const auto records = data::readCsvRecords(index);
    if (records.empty()) throw data::DataError(index, "empty file: expected a header line");
    const auto& header = records.front().fields;
    std::map<std::string, std::size_t> col;
    for (std::size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
    for (const std::string& c : kColumns)
        if (!col.count(c)) throw data::DataError(index, records.front().line, 0, c, "missing column");
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        if (rec.fields.size() != header.size())
            throw data::DataError(
                index, rec.line, 0, {},
                "expected " + std::to_string(header.size()) + " fields, got " + std::to_string(rec.fields.size()));
        const auto field = [&](const std::string& c) -> const std::string& { return rec.fields[col[c]]; };
        const auto fail = [&](const std::string& c, const std::string& why) {
            return data::DataError(index, rec.line, col[c] + 1, c, why);
        };
        const auto real = [&](const std::string& c) {
            const std::string& s = field(c);
            double v = 0;
            const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
            if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size())
                throw fail(c, "expected a number, got \"" + s + "\"");
            return v;
        };
        const auto optionalReal = [&](const std::string& c) -> std::optional<double> {
            if (field(c).empty()) return std::nullopt;
            return real(c);
        };
        const auto count = [&](const std::string& c) {
            const std::string& s = field(c);
            std::size_t v = 0;
            const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
            if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size())
                throw fail(c, "expected a non-negative integer, got \"" + s + "\"");
            return v;
        };
        CamEntry e;
        e.id = field("id");
        e.label = field("label");
        if (e.id.empty()) throw fail("id", "empty id");
        const std::size_t target = count("target");
        if (target > std::size_t(std::numeric_limits<int>::max())) throw fail("target", "too large");
        e.target = int(target);
        if (field("file").empty()) throw fail("file", "empty file name");
        const std::filesystem::path f = field("file");
        e.file = f.is_absolute() ? f : dir / f;
        e.score = real("score");
        e.rawMin = real("raw_min");
        e.rawMax = real("raw_max");
        e.inputH = count("input_h");
        e.inputW = count("input_w");
        e.inputD = count("input_d");
        e.prob = optionalReal("prob");
        e.probDrop = optionalReal("prob_drop");
        e.camDrop = optionalReal("cam_drop");
        cache.entries.push_back(std::move(e));
    }
    return cache;
}

void writeCamCacheIndex(const CamCache& cache) {
    if (cache.dir.empty()) throw std::invalid_argument("writeCamCacheIndex: the cache has no dir");
    std::filesystem::create_directories(cache.dir);
    std::string text;
    for (std::size_t i = 0; i < kColumns.size(); ++i) text += (i ? "," : "") + kColumns[i];
    text += '\n';
    const auto opt = [](const std::optional<double>& v) { return v ? number(*v) : std::string(); };
    for (const CamEntry& e : cache.entries) {
        std::filesystem::path f = e.file;
        if (f.is_absolute() || f.has_parent_path()) {
            const auto rel = f.lexically_relative(cache.dir);
            if (!rel.empty() && *rel.begin() != "..") f = rel;
        }
        text += data::csvField(e.id) + "," + data::csvField(e.label) + "," + std::to_string(e.target) + "," +
                data::csvField(f.generic_string()) + "," + number(e.score) + "," + number(e.rawMin) + "," +
                number(e.rawMax) + "," + std::to_string(e.inputH) + "," + std::to_string(e.inputW) + "," +
                std::to_string(e.inputD) + "," + opt(e.prob) + "," + opt(e.probDrop) + "," + opt(e.camDrop) + "\n";
    }
    const nlohmann::json meta = {
        {"model", cache.model}, {"layer", cache.layer}, {"method", cache.method}, {"format", 1}};
    util::writeFileAtomically(cache.dir / "meta.json", meta.dump(2) + "\n");
    util::writeFileAtomically(cache.dir / "index.csv", text);
}

Heatmap loadCam(const CamEntry& e) { return loadCam(e, {}); }

Heatmap loadCam(const CamEntry& e, const std::filesystem::path& cacheDir) {
    const std::filesystem::path path = e.file.has_parent_path() || cacheDir.empty() ? e.file : cacheDir / e.file;
    io::NpyArray a = io::readNpy(path);
    if (a.shape.size() != 2 && a.shape.size() != 3)
        throw io::ReadError(path, "a CAM is 2-D or 3-D, the array has shape " + shapeText(a.shape));
    return Heatmap{std::move(a.shape), std::move(a.values)};
}

void saveCam(const Heatmap& h, const CamEntry& e, const std::filesystem::path& cacheDir) {
    checkHeatmap(h, "saveCam");
    const std::filesystem::path path = e.file.has_parent_path() || cacheDir.empty() ? e.file : cacheDir / e.file;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    util::writeFileAtomically(path, io::npyBytes(h.values.data(), h.values.size() * sizeof(float), "<f4", h.shape));
}

}  // namespace lumen::explain
