#include "data/media_index.h"

#include <algorithm>
#include <cctype>

namespace lumen::data {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxScanEntries = 500000;

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool isMediaExtension(const std::string& ext) {
    static const std::vector<std::string> known = {".png",   ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm",
                                                   ".dicom", ".nii", ".avi",  ".mp4", ".mov", ".mkv"};
    return std::find(known.begin(), known.end(), ext) != known.end();
}

// "ct_0001.nii.gz" → "ct_0001", "00000001_000.png" → "00000001_000".
std::string stemOf(const std::string& name) {
    fs::path p(name);
    for (int i = 0; i < 2; ++i) {
        const std::string ext = lower(p.extension().string());
        if (ext == ".gz" || isMediaExtension(ext)) p = p.stem();
        else break;
    }
    return p.string();
}

bool isMediaFile(const fs::path& p) {
    const std::string ext = lower(p.extension().string());
    if (ext == ".gz") return lower(p.stem().extension().string()) == ".nii";
    return isMediaExtension(ext);
}

}  // namespace

std::string mediaStem(const std::string& name) { return stemOf(name); }

std::shared_ptr<const MediaIndex> scanMedia(const fs::path& root) {
    auto index = std::make_shared<MediaIndex>();
    std::error_code ec;
    if (root.empty() || !fs::is_directory(root, ec)) return index;
    int seen = 0;
    for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
         it != end && seen < kMaxScanEntries; it.increment(ec), ++seen) {
        if (ec) break;
        const fs::path& p = it->path();
        const std::string name = p.filename().string();
        if (!name.empty() && name[0] == '.') {
            if (it->is_directory(ec)) it.disable_recursion_pending();
            continue;
        }
        if (it->is_directory(ec)) {
            index->folders.emplace(lower(name), p);
        } else if (isMediaFile(p)) {
            index->byName[lower(name)].push_back(p);
            index->byStem[lower(mediaStem(name))].push_back(p);
        }
    }
    for (auto* m : {&index->byName, &index->byStem})
        for (auto& [k, v] : *m) std::sort(v.begin(), v.end());
    return index;
}

std::vector<fs::path> MediaIndex::lookup(const std::string& id) const {
    const std::string key = lower(fs::path(id).filename().string()), stem = lower(mediaStem(key));
    if (auto it = byName.find(key); it != byName.end()) return {it->second.front()};
    if (auto it = byStem.find(stem); it != byStem.end()) return it->second;
    for (const auto& k : {key, "s" + key, stem}) {
        const auto f = folders.find(k);
        if (f == folders.end()) continue;
        // A folder of a few media files holds the study's views; many DICOM files (or files
        // without a media extension) are the slices of one series, read as a whole.
        std::vector<fs::path> files;
        std::size_t other = 0, dicom = 0;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(f->second, ec)) {
            if (!e.is_regular_file(ec)) continue;
            if (isMediaFile(e.path())) {
                files.push_back(e.path());
                dicom += lower(e.path().extension().string()) == ".dcm";
            } else if (e.path().filename().string().rfind('.', 0) != 0) {
                ++other;
            }
        }
        std::sort(files.begin(), files.end());
        if (dicom > 4 || (files.empty() && other > 0)) return {f->second};
        if (!files.empty()) return files;
    }
    return {};
}

}  // namespace lumen::data
