#include "explain/localisation.h"

#include "data/csv_records.h"
#include "data/data_error.h"
#include "io/media_reader.h"
#include "util/atomic_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace lumen::explain {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trimmed(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

const char* const kColumnNames[] = {"image", "label", "x", "y", "w", "h"};

}  // namespace

BoxTable readBoxes(const fs::path& file) {
    BoxTable table;
    table.file = file;
    const auto records = data::readCsvRecords(file);
    if (records.empty()) throw data::DataError(file, "empty file: expected a header line");
    const auto& header = records.front().fields;
    const std::string first = lower(trimmed(header.empty() ? std::string() : header[0]));
    if (first != "image" && first != "image index")
        throw data::DataError(file, records.front().line, 1, header.empty() ? "" : header[0],
                              "expected a header starting with \"image\" (image,finding,x,y,w,h) or \"Image Index\" "
                              "(NIH's BBox_List_2017.csv)");
    if (header.size() < 6)
        throw data::DataError(
            file, records.front().line, 0, {},
            "expected at least 6 header fields (image, label, x, y, w, h), got " + std::to_string(header.size()));
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        if (rec.fields.size() < 6)
            throw data::DataError(
                file, rec.line, 0, {},
                "expected 6 cells (image, label, x, y, w, h), got " + std::to_string(rec.fields.size()));
        for (std::size_t c = 6; c < rec.fields.size(); ++c)
            if (!trimmed(rec.fields[c]).empty())
                throw data::DataError(file, rec.line, c + 1, {},
                                      "unexpected value \"" + rec.fields[c] + "\" after x, y, w, h");
        const auto number = [&](std::size_t c) {
            const std::string s = trimmed(rec.fields[c]);
            double v = 0;
            const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
            if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size() || !std::isfinite(v))
                throw data::DataError(file, rec.line, c + 1, kColumnNames[c],
                                      "expected a finite number, got \"" + rec.fields[c] + "\"");
            return v;
        };
        AnnotatedBox b;
        b.image = trimmed(rec.fields[0]);
        b.label = trimmed(rec.fields[1]);
        b.line = rec.line;
        if (b.image.empty()) throw data::DataError(file, rec.line, 1, "image", "empty image name");
        if (b.label.empty()) throw data::DataError(file, rec.line, 2, "label", "empty label");
        b.x = number(2);
        b.y = number(3);
        b.w = number(4);
        b.h = number(5);
        if (!(b.w > 0)) throw data::DataError(file, rec.line, 5, "w", "the width must be > 0");
        if (!(b.h > 0)) throw data::DataError(file, rec.line, 6, "h", "the height must be > 0");
        table.boxes.push_back(std::move(b));
    }
    return table;
}

InputGeometry inputGeometry(std::size_t imageH, std::size_t imageW, std::size_t inputH, std::size_t inputW) {
    if (!imageH || !imageW || !inputH || !inputW) throw std::invalid_argument("inputGeometry: a size is 0");
    InputGeometry g;
    if (inputH != inputW) {  // plain resize (explain/model_input.cpp)
        g.scaleX = double(inputW) / double(imageW);
        g.scaleY = double(inputH) / double(imageH);
        return g;
    }
    // data::augmentImage: shorter side to S (the longer rounded), then the centre crop.
    const long s = long(inputH), rows = long(imageH), cols = long(imageW);
    const long shorter = std::min(rows, cols);
    long rw = cols, rh = rows;
    if (shorter != s) {
        const double f = double(s) / double(shorter);
        rw = cols <= rows ? s : std::max(1L, long(std::lround(double(cols) * f)));
        rh = rows <= cols ? s : std::max(1L, long(std::lround(double(rows) * f)));
    }
    g.scaleX = double(rw) / double(cols);
    g.scaleY = double(rh) / double(rows);
    g.offsetX = double((rw - s) / 2);
    g.offsetY = double((rh - s) / 2);
    return g;
}

Heatmap camOnImage(const Heatmap& raw, std::size_t inputH, std::size_t inputW, std::size_t imageH, std::size_t imageW) {
    const Heatmap in = upsample(raw, {inputH, inputW});
    const InputGeometry g = inputGeometry(imageH, imageW, inputH, inputW);
    Heatmap out{{imageH, imageW}, std::vector<float>(imageH * imageW, 0.0f)};
    const auto at = [&](long r, long c) {
        r = std::clamp(r, 0L, long(inputH) - 1), c = std::clamp(c, 0L, long(inputW) - 1);
        return double(in.values[std::size_t(r) * inputW + std::size_t(c)]);
    };
    for (std::size_t y = 0; y < imageH; ++y) {
        const double v = (double(y) + 0.5) * g.scaleY - g.offsetY;  // input coordinate
        if (v < 0 || v > double(inputH)) continue;
        const double fy = v - 0.5, y0 = std::floor(fy), wy = fy - y0;
        for (std::size_t x = 0; x < imageW; ++x) {
            const double u = (double(x) + 0.5) * g.scaleX - g.offsetX;
            if (u < 0 || u > double(inputW)) continue;
            const double fx = u - 0.5, x0 = std::floor(fx), wx = fx - x0;
            const long r0 = long(y0), c0 = long(x0);
            out.values[y * imageW + x] = float((1 - wy) * ((1 - wx) * at(r0, c0) + wx * at(r0, c0 + 1)) +
                                               wy * ((1 - wx) * at(r0 + 1, c0) + wx * at(r0 + 1, c0 + 1)));
        }
    }
    return out;
}

CamRegion camRegion(const Heatmap& h, double threshold) {
    if (h.shape.size() != 2) throw std::invalid_argument("camRegion: expected a 2-D heatmap");
    const std::size_t rows = h.shape[0], cols = h.shape[1], n = rows * cols;
    CamRegion r;
    if (n == 0 || h.values.size() != n) return r;
    std::size_t hot = 0;
    float lo = h.values[0];
    for (std::size_t i = 1; i < n; ++i) {
        if (h.values[i] > h.values[hot]) hot = i;
        lo = std::min(lo, h.values[i]);
    }
    if (!(h.values[hot] > lo)) return r;  // constant: nothing to point at
    r.empty = false;
    r.hotRow = hot / cols;
    r.hotCol = hot % cols;
    // Largest 8-connected component of pixels >= threshold.
    std::vector<std::uint8_t> seen(n, 0);
    std::vector<std::size_t> stack;
    for (std::size_t start = 0; start < n; ++start) {
        if (seen[start] || !(h.values[start] >= threshold)) continue;
        CamRegion c;
        c.rowMin = c.rowMax = start / cols;
        c.colMin = c.colMax = start % cols;
        seen[start] = 1;
        stack.assign(1, start);
        while (!stack.empty()) {
            const std::size_t p = stack.back();
            stack.pop_back();
            const std::size_t pr = p / cols, pc = p % cols;
            ++c.pixels;
            c.rowMin = std::min(c.rowMin, pr), c.rowMax = std::max(c.rowMax, pr);
            c.colMin = std::min(c.colMin, pc), c.colMax = std::max(c.colMax, pc);
            for (int dr = -1; dr <= 1; ++dr)
                for (int dc = -1; dc <= 1; ++dc) {
                    const long nr = long(pr) + dr, nc = long(pc) + dc;
                    if ((dr == 0 && dc == 0) || nr < 0 || nc < 0 || nr >= long(rows) || nc >= long(cols)) continue;
                    const std::size_t q = std::size_t(nr) * cols + std::size_t(nc);
                    if (seen[q] || !(h.values[q] >= threshold)) continue;
                    seen[q] = 1;
                    stack.push_back(q);
                }
        }
        if (c.pixels > r.pixels) {
            r.pixels = c.pixels;
            r.rowMin = c.rowMin, r.rowMax = c.rowMax, r.colMin = c.colMin, r.colMax = c.colMax;
        }
    }
    return r;
}

std::function<std::pair<std::size_t, std::size_t>(const CamEntry&)> imageSizeFinder(std::vector<fs::path> roots) {
    struct State {
        std::vector<fs::path> roots;
        bool scanned = false;
        std::multimap<std::string, fs::path> byName;
        std::map<std::string, std::pair<std::size_t, std::size_t>> sizes;
    };
    auto state = std::make_shared<State>();
    state->roots = std::move(roots);
    return [state](const CamEntry& e) {
        if (auto it = state->sizes.find(e.id); it != state->sizes.end()) return it->second;
        fs::path found;
        std::error_code ec;
        for (const auto& root : state->roots)
            if (fs::is_regular_file(root / e.id, ec)) {
                found = root / e.id;
                break;
            }
        if (found.empty()) {
            if (!state->scanned) {
                for (const auto& root : state->roots) {
                    if (!fs::is_directory(root, ec)) continue;
                    for (auto it =
                             fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
                         it != fs::recursive_directory_iterator(); it.increment(ec)) {
                        if (ec) break;
                        if (it->is_regular_file(ec)) state->byName.emplace(it->path().filename().string(), it->path());
                    }
                }
                state->scanned = true;
            }
            const auto it = state->byName.find(fs::path(e.id).filename().string());
            if (it == state->byName.end())
                throw std::runtime_error("image of CAM \"" + e.id + "\" not found (its size is needed to map the CAM)");
            found = it->second;
        }
        const io::MediaFile media = io::readMedia(found);
        if (media.volume.rows <= 0 || media.volume.columns <= 0)
            throw std::runtime_error(found.string() + ": no pixels");
        const std::pair<std::size_t, std::size_t> size{std::size_t(media.volume.rows),
                                                       std::size_t(media.volume.columns)};
        state->sizes[e.id] = size;
        return size;
    };
}

std::vector<std::size_t> controlDerangement(std::size_t n, std::uint64_t seed) {
    std::vector<std::size_t> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = i;
    std::uint64_t state = seed;
    const auto next = [&state] {  // splitmix64
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    };
    for (std::size_t i = n; i-- > 1;) std::swap(p[i], p[std::size_t(next() % i)]);
    return p;
}

}  // namespace lumen::explain
