#include "data/splits.h"

#include "data/augment.h"
#include "util/atomic_file.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace lumen::data {
namespace fs = std::filesystem;

namespace {
constexpr std::uint64_t kSplitStream = 0x73706c6974ull;  // "split"

std::string patientOf(const ManifestRow& r) { return r.patientId.empty() ? "\x01" + r.id : r.patientId; }
std::string shownPatient(const std::string& p) { return p.rfind("\x01", 0) == 0 ? "(no patient) " + p.substr(1) : p; }
}  // namespace

bool SplitReport::disjoint() const {
    return std::all_of(overlaps.begin(), overlaps.end(),
                       [](const SplitOverlap& o) { return o.patients == 0 && o.images == 0; });
}

Manifest splitByPatient(const Manifest& manifest, const SplitOptions& o, SplitReport* report) {
    if (o.ratios.empty()) throw std::invalid_argument("split: no ratios");
    double sum = 0;
    for (double r : o.ratios) {
        if (!(r > 0) || !std::isfinite(r)) throw std::invalid_argument("split: ratios must be positive numbers");
        sum += r;
    }
    if (std::abs(sum - 1) > 1e-6)
        throw std::invalid_argument("split: ratios sum to " + std::to_string(sum) + ", expected 1");
    std::vector<std::string> names = o.names;
    if (names.empty()) {
        if (o.ratios.size() == 3) names = {"train", "val", "test"};
        else if (o.ratios.size() == 2) names = {"train", "test"};
        else if (o.ratios.size() == 1) names = {"train"};
        else throw std::invalid_argument("split: give names for " + std::to_string(o.ratios.size()) + " ratios");
    }
    if (names.size() != o.ratios.size())
        throw std::invalid_argument("split: " + std::to_string(names.size()) + " names for " +
                                    std::to_string(o.ratios.size()) + " ratios");
    if (std::set<std::string>(names.begin(), names.end()).size() != names.size() ||
        std::find(names.begin(), names.end(), "") != names.end())
        throw std::invalid_argument("split: names must be distinct and not empty");

    std::vector<std::string> patients;
    {
        std::unordered_set<std::string> seen;
        for (const auto& r : manifest.rows)
            if (seen.insert(patientOf(r)).second) patients.push_back(patientOf(r));
    }
    // Sorted first so the result does not depend on the manifest's row order.
    std::sort(patients.begin(), patients.end());
    SampleRandom rng(mixSeed(o.seed, kSplitStream));
    for (std::size_t i = patients.size(); i > 1; --i) std::swap(patients[i - 1], patients[std::size_t(rng.below(i))]);

    std::unordered_map<std::string, std::size_t> splitOfPatient;
    const std::size_t p = patients.size();
    double cumulative = 0;
    std::size_t begin = 0;
    for (std::size_t s = 0; s < names.size(); ++s) {
        cumulative += o.ratios[s];
        const std::size_t end =
            s + 1 == names.size() ? p : std::min(p, std::size_t(std::llround(cumulative * double(p))));
        for (std::size_t i = begin; i < end; ++i) splitOfPatient[patients[i]] = s;
        begin = std::max(begin, end);
    }
    Manifest out = manifest;
    for (auto& r : out.rows) r.split = names[splitOfPatient.at(patientOf(r))];
    if (report) {
        // Splits in the given order, including empty ones.
        SplitReport rep = splitReport(out);
        std::vector<SplitCounts> ordered;
        for (const auto& n : names) {
            auto it =
                std::find_if(rep.splits.begin(), rep.splits.end(), [&](const SplitCounts& c) { return c.name == n; });
            ordered.push_back(it != rep.splits.end() ? *it : SplitCounts{n, 0, 0, 0, 0});
        }
        rep.splits = ordered;
        std::vector<SplitOverlap> overlaps;
        for (std::size_t a = 0; a < names.size(); ++a)
            for (std::size_t b = a + 1; b < names.size(); ++b) {
                auto it = std::find_if(rep.overlaps.begin(), rep.overlaps.end(), [&](const SplitOverlap& x) {
                    return (x.a == names[a] && x.b == names[b]) || (x.a == names[b] && x.b == names[a]);
                });
                overlaps.push_back(it != rep.overlaps.end() ? *it : SplitOverlap{names[a], names[b], 0, 0, {}});
                overlaps.back().a = names[a];
                overlaps.back().b = names[b];
            }
        rep.overlaps = overlaps;
        rep.seed = o.seed;
        rep.ratios = o.ratios;
        *report = rep;
    }
    return out;
}

SplitReport splitReport(const Manifest& m) {
    SplitReport rep;
    rep.manifest = m.file.filename().string();
    const std::vector<std::string> names = m.splitNames();
    std::map<std::string, std::set<std::string>> patientsOf, idsOf;
    std::map<std::string, std::size_t> imagesOf;
    std::unordered_set<std::string> allPatients;
    for (const auto& r : m.rows) {
        ++imagesOf[r.split];
        patientsOf[r.split].insert(patientOf(r));
        idsOf[r.split].insert(r.id);
        allPatients.insert(patientOf(r));
        if (r.patientId.empty()) ++rep.rowsWithoutPatient;
    }
    rep.images = m.rows.size();
    rep.patients = allPatients.size();
    for (const auto& n : names) {
        SplitCounts c;
        c.name = n;
        c.images = imagesOf[n];
        c.patients = patientsOf[n].size();
        c.imageFraction = rep.images ? double(c.images) / double(rep.images) : 0;
        c.patientFraction = rep.patients ? double(c.patients) / double(rep.patients) : 0;
        rep.splits.push_back(c);
    }
    for (std::size_t a = 0; a < names.size(); ++a)
        for (std::size_t b = a + 1; b < names.size(); ++b) {
            SplitOverlap o{names[a], names[b], 0, 0, {}};
            const auto &pa = patientsOf[names[a]], &pb = patientsOf[names[b]];
            for (const auto& p : pa)
                if (pb.count(p)) {
                    ++o.patients;
                    if (o.firstPatients.size() < 10) o.firstPatients.push_back(shownPatient(p));
                }
            const auto &ia = idsOf[names[a]], &ib = idsOf[names[b]];
            for (const auto& id : ia) o.images += ib.count(id);
            rep.overlaps.push_back(o);
        }
    return rep;
}

nlohmann::json toJson(const SplitReport& r) {
    nlohmann::json j;
    j["format"] = "lumen-split-report";
    j["version"] = 1;
    j["manifest"] = r.manifest;
    j["seed"] = r.seed;
    j["ratios"] = r.ratios;
    j["images"] = r.images;
    j["patients"] = r.patients;
    j["rows_without_patient"] = r.rowsWithoutPatient;
    j["splits"] = nlohmann::json::array();
    for (const auto& s : r.splits)
        j["splits"].push_back({{"name", s.name},
                               {"images", s.images},
                               {"patients", s.patients},
                               {"image_fraction", s.imageFraction},
                               {"patient_fraction", s.patientFraction}});
    j["overlaps"] = nlohmann::json::array();
    for (const auto& o : r.overlaps)
        j["overlaps"].push_back({{"a", o.a},
                                 {"b", o.b},
                                 {"patients", o.patients},
                                 {"images", o.images},
                                 {"first_patients", o.firstPatients}});
    j["disjoint"] = r.disjoint();
    return j;
}

SplitReport writeSplitFolder(const Manifest& manifest, const fs::path& dir, const SplitReport& base) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw DataError(dir, "cannot create the folder: " + ec.message());
    // Paths are rewritten so they still resolve from the new folder.
    Manifest out = manifest;
    const fs::path target = fs::weakly_canonical(fs::absolute(dir));
    // One canonical call for the source folder; the rows are joined lexically (a realpath per
    // row costs seconds on millions of rows).
    const fs::path source = fs::weakly_canonical(
        fs::absolute(manifest.file.parent_path().empty() ? fs::path(".") : manifest.file.parent_path()));
    for (auto& r : out.rows) {
        const fs::path p(r.path);
        const fs::path abs = (p.is_absolute() ? p : source / p).lexically_normal();
        const fs::path rel = abs.lexically_relative(target);
        r.path = (!rel.empty() ? rel : abs).generic_string();
    }
    out.file = target / "manifest.csv";
    SplitReport rep = base.splits.empty() ? splitReport(out) : base;
    rep.manifest = manifest.file.filename().string();
    writeManifest(out, out.file);
    for (const auto& s : rep.splits) {
        const std::string name = s.name.empty() ? "unassigned" : s.name;
        Manifest part = out.filterSplit(s.name);
        part.file = target / (name + ".csv");
        writeManifest(part, part.file);
        std::vector<std::string> ids, patients;
        std::set<std::string> seenPatients;
        for (const auto& r : part.rows) {
            ids.push_back(r.id);
            if (!r.patientId.empty() && seenPatients.insert(r.patientId).second) patients.push_back(r.patientId);
        }
        std::sort(ids.begin(), ids.end());
        std::sort(patients.begin(), patients.end());
        std::string idText, patientText;
        for (const auto& i : ids) idText += i + "\n";
        for (const auto& p : patients) patientText += p + "\n";
        util::writeFileAtomically(target / (name + "_ids.txt"), idText);
        util::writeFileAtomically(target / (name + "_patients.txt"), patientText);
    }
    util::writeFileAtomically(target / "split_report.json", toJson(rep).dump(2) + "\n");
    return rep;
}

Manifest loadManifestOrFolder(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return readManifest(path);
    if (fs::exists(path / "manifest.csv")) return readManifest(path / "manifest.csv");
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path))
        if (e.is_regular_file() && e.path().extension() == ".csv") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw ManifestError(path, "no manifest (.csv) in this folder");
    Manifest merged;
    merged.file = path / "manifest.csv";
    for (const auto& f : files) {
        Manifest m = readManifest(f);
        for (const auto& l : m.labelNames)
            if (merged.labelIndex(l) < 0) merged.labelNames.push_back(l);
        for (auto& r : m.rows) {
            if (r.split.empty()) r.split = f.stem().string();
            // Paths relative to their own file.
            if (!fs::path(r.path).is_absolute())
                r.path = (f.parent_path() / r.path).lexically_relative(path).generic_string();
            merged.rows.push_back(std::move(r));
        }
    }
    return merged;
}

}  // namespace lumen::data
