#include "data/nih_import.h"

#include "data/csv_records.h"
#include "jobs/job.h"
#include "util/atomic_file.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace lumen::data {
namespace fs = std::filesystem;

const std::vector<std::string>& nihLabelNames() {
    static const std::vector<std::string> names = {
        "Atelectasis", "Cardiomegaly", "Effusion",           "Infiltration",  "Mass",
        "Nodule",      "Pneumonia",    "Pneumothorax",       "Consolidation", "Edema",
        "Emphysema",   "Fibrosis",     "Pleural_Thickening", "Hernia",        "Normal"};
    return names;
}

namespace {

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::vector<std::string> readList(const fs::path& file) {
    std::ifstream in(file);
    if (!in) throw DataError(file, "cannot open (expected one image name per line)");
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        line = trim(line);
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

bool isImageName(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".dcm";
}

// File name -> full path, over images*/ (NIH ships images_001/images/*.png; unpacked copies
// often drop the inner folder).
std::unordered_map<std::string, fs::path> indexImages(const fs::path& dataDir, jobs::JobContext* job) {
    std::unordered_map<std::string, fs::path> out;
    std::vector<fs::path> folders;
    for (const auto& e : fs::directory_iterator(dataDir))
        if (e.is_directory() && e.path().filename().string().rfind("images", 0) == 0) folders.push_back(e.path());
    std::sort(folders.begin(), folders.end());
    std::size_t n = 0;
    for (const auto& folder : folders) {
        for (auto it = fs::recursive_directory_iterator(folder); it != fs::recursive_directory_iterator(); ++it) {
            if (it.depth() > 1) {
                it.disable_recursion_pending();
                continue;
            }
            if (!it->is_regular_file() || !isImageName(it->path())) continue;
            out.emplace(it->path().filename().string(), it->path());
            if (job && ++n % 4096 == 0) job->throwIfCancelled();
        }
    }
    return out;
}

bool isInside(const fs::path& p, const fs::path& dir) {
    const fs::path rel = p.lexically_relative(dir);
    return !rel.empty() && *rel.begin() != "..";
}

// Relative when the manifests move with the images: the output folder is inside the data
// folder, or the image inside the output folder. Absolute otherwise.
std::string manifestPath(const fs::path& image, const fs::path& outDir, const fs::path& dataDir) {
    if (isInside(outDir, dataDir) || outDir == dataDir || isInside(image, outDir))
        return image.lexically_relative(outDir).generic_string();
    return image.generic_string();
}

}  // namespace

namespace {

/// train_val_list.txt and test_list.txt as image -> split; an image in both is test (and reported).
std::unordered_map<std::string, std::string> splitOfImages(const std::vector<std::string>& trainVal,
                                                           const std::vector<std::string>& test,
                                                           NihImportReport& report) {
    std::unordered_map<std::string, std::string> splitOf;
    for (const auto& n : trainVal) splitOf[n] = "train";
    for (const auto& n : test) {
        auto [it, inserted] = splitOf.emplace(n, "test");
        if (!inserted) {
            report.inBothLists.push_back(n);
            it->second = "test";
        }
    }
    return splitOf;
}

/// all.csv, train_val.csv, test.csv, missing_images.txt (only when some are) and nih_import.json.
void writeOutputs(const Manifest& all, const fs::path& outDir, const std::string& missingText,
                  NihImportReport& report) {
    std::error_code ec;
    Manifest trainValManifest = all.filterSplit("train"), testManifest = all.filterSplit("test");
    report.allManifest = outDir / "all.csv";
    report.trainValManifest = outDir / "train_val.csv";
    report.testManifest = outDir / "test.csv";
    report.reportFile = outDir / "nih_import.json";
    writeManifest(all, report.allManifest);
    writeManifest(trainValManifest, report.trainValManifest);
    writeManifest(testManifest, report.testManifest);
    report.allRows = all.rows.size();
    report.trainValRows = trainValManifest.rows.size();
    report.testRows = testManifest.rows.size();
    const fs::path missingFile = outDir / "missing_images.txt";
    if (!report.missingImages.empty()) util::writeFileAtomically(missingFile, missingText);
    else fs::remove(missingFile, ec);
    util::writeFileAtomically(report.reportFile, toJson(report).dump(2) + "\n");
}

}  // namespace

NihImportReport importNih(const fs::path& dataDirIn, const fs::path& outDirIn, const NihImportOptions& options,
                          jobs::JobContext* job) {
    NihImportReport report;
    const fs::path dataDir = fs::weakly_canonical(fs::absolute(dataDirIn));
    std::error_code ec;
    if (!fs::is_directory(dataDir, ec)) throw DataError(dataDirIn, "not a folder");
    const fs::path entryFile = dataDir / "Data_Entry_2017.csv";
    if (!fs::exists(entryFile)) throw DataError(entryFile, "not found (is this the NIH ChestX-ray14 folder?)");
    fs::create_directories(outDirIn, ec);
    if (ec) throw DataError(outDirIn, "cannot create the output folder: " + ec.message());
    const fs::path outDir = fs::weakly_canonical(fs::absolute(outDirIn));
    report.dataDir = dataDir;
    report.outDir = outDir;

    if (job) job->progress(0.0, "reading Data_Entry_2017.csv");
    const auto records = readCsvRecords(entryFile);
    if (records.empty()) throw DataError(entryFile, "empty file");
    const auto& header = records.front().fields;
    auto column = [&](const std::string& name) {
        for (std::size_t c = 0; c < header.size(); ++c)
            if (trim(header[c]) == name) return c;
        throw DataError(entryFile, 1, 0, {}, "no column \"" + name + "\"");
    };
    const std::size_t cImage = column("Image Index"), cLabels = column("Finding Labels"),
                      cPatient = column("Patient ID");

    if (job) job->progress(0.1, "reading the split lists");
    const auto trainVal = readList(dataDir / "train_val_list.txt");
    const auto test = readList(dataDir / "test_list.txt");
    const auto splitOf = splitOfImages(trainVal, test, report);

    if (job) job->progress(0.2, "indexing image folders");
    const auto images = indexImages(dataDir, job);
    report.imageFiles = images.size();

    if (job) job->progress(0.5, "building manifests");
    std::vector<std::string> vocabulary = nihLabelNames();
    std::set<std::string> unknown;
    Manifest all;
    all.file = outDir / "all.csv";
    std::unordered_set<std::string> seen, patients;
    std::string missingText;
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        if (rec.fields.size() != header.size())
            throw DataError(
                entryFile, rec.line, std::min(rec.fields.size(), header.size()) + 1, {},
                std::to_string(rec.fields.size()) + " fields, the header has " + std::to_string(header.size()));
        ManifestRow row;
        row.id = trim(rec.fields[cImage]);
        if (row.id.empty()) throw DataError(entryFile, rec.line, cImage + 1, "Image Index", "empty image name");
        if (!seen.insert(row.id).second)
            throw DataError(entryFile, rec.line, cImage + 1, "Image Index", "image \"" + row.id + "\" listed twice");
        row.patientId = trim(rec.fields[cPatient]);
        if (row.patientId.empty()) throw DataError(entryFile, rec.line, cPatient + 1, "Patient ID", "empty patient id");
        patients.insert(row.patientId);
        for (auto l : splitLabels(rec.fields[cLabels])) {
            if (l == "No Finding") l = "Normal";
            if (std::find(vocabulary.begin(), vocabulary.end(), l) == vocabulary.end()) unknown.insert(l);
            if (std::find(row.labels.begin(), row.labels.end(), l) == row.labels.end()) row.labels.push_back(l);
        }
        if (row.labels.empty())
            throw DataError(entryFile, rec.line, cLabels + 1, "Finding Labels",
                            "no finding labels (expected \"No Finding\" or findings)");
        std::sort(row.labels.begin(), row.labels.end());
        for (const auto& l : row.labels) ++report.labelCounts[l];
        const auto s = splitOf.find(row.id);
        if (s != splitOf.end()) row.split = s->second;
        else report.notInAnyList.push_back(row.id);
        const auto img = images.find(row.id);
        if (img == images.end()) {
            report.missingImages.push_back(row.id);
            missingText += row.id + "\n";
            if (!options.keepMissing) continue;
            // Where NIH would have it: the first folder's layout is unknown, so point into images/.
            row.path = manifestPath(dataDir / "images" / row.id, outDir, dataDir);
        } else {
            row.path = manifestPath(img->second, outDir, dataDir);
        }
        all.rows.push_back(std::move(row));
        if (job && r % 4096 == 0) {
            job->throwIfCancelled();
            job->progress(0.5 + 0.4 * double(r) / double(records.size()), "building manifests");
        }
    }
    for (const auto& name : {std::cref(trainVal), std::cref(test)})
        for (const auto& n : name.get())
            if (!seen.count(n)) report.listedWithoutEntry.push_back(n);
    report.unknownLabels.assign(unknown.begin(), unknown.end());
    vocabulary.insert(vocabulary.end(), unknown.begin(), unknown.end());
    all.labelNames = vocabulary;
    report.labelNames = vocabulary;
    report.entries = records.size() - 1;
    report.patients = patients.size();

    if (job) job->progress(0.9, "writing manifests");
    writeOutputs(all, outDir, missingText, report);
    if (job) job->progress(1.0, "imported " + std::to_string(report.allRows) + " images");
    return report;
}

nlohmann::json toJson(const NihImportReport& r) {
    auto some = [](const std::vector<std::string>& v) {
        return std::vector<std::string>(v.begin(), v.begin() + std::ptrdiff_t(std::min<std::size_t>(v.size(), 20)));
    };
    nlohmann::json j;
    j["format"] = "lumen-nih-import";
    j["version"] = 1;
    j["data_dir"] = r.dataDir.string();
    j["out_dir"] = r.outDir.string();
    j["entries"] = r.entries;
    j["image_files"] = r.imageFiles;
    j["patients"] = r.patients;
    j["rows"] = {{"all", r.allRows}, {"train_val", r.trainValRows}, {"test", r.testRows}};
    j["missing_images"] = r.missingImages.size();
    j["missing_images_first"] = some(r.missingImages);
    j["not_in_any_list"] = r.notInAnyList.size();
    j["not_in_any_list_first"] = some(r.notInAnyList);
    j["listed_without_entry"] = r.listedWithoutEntry.size();
    j["listed_without_entry_first"] = some(r.listedWithoutEntry);
    j["in_both_lists"] = r.inBothLists.size();
    j["unknown_labels"] = r.unknownLabels;
    j["label_names"] = r.labelNames;
    j["label_counts"] = r.labelCounts;
    j["manifests"] = {{"all", r.allManifest.filename().string()},
                      {"train_val", r.trainValManifest.filename().string()},
                      {"test", r.testManifest.filename().string()}};
    return j;
}

}  // namespace lumen::data
