// NIH ChestX-ray14 importer on the demo workspace's NIH layout, cross-checked with pandas;
// missing images, the nested images_NNN/images/ layout and malformed inputs.
#include "data/nih_import.h"

#include "data/loader.h"
#include "demo/demo_workspace.h"

#include "data_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <chrono>
#include <fstream>

using namespace lumen::data;
namespace fs = std::filesystem;

namespace {

fs::path makeDemo(const fs::path& dir, int images) {
    lumen::demo::DemoOptions o;
    o.chestImages = images;
    o.ctVolumes = 0;
    o.angioStudies = 0;
    o.predictionStudies = 0;
    lumen::demo::createDemoWorkspace(dir, o);
    return dir / "chest_xray";
}

const char* kPandasCheck = R"PY(
import sys, json
import pandas as pd
src, out = sys.argv[1], sys.argv[2]
e = pd.read_csv(src + '/Data_Entry_2017.csv')
tv = set(open(src + '/train_val_list.txt').read().split())
te = set(open(src + '/test_list.txt').read().split())
def labels(s):
    return sorted('Normal' if l == 'No Finding' else l for l in s.split('|'))
ref = {r['Image Index']: (str(r['Patient ID']), labels(r['Finding Labels'])) for _, r in e.iterrows()}
counts = {}
for _, (p, ls) in ref.items():
    for l in ls: counts[l] = counts.get(l, 0) + 1
res = {'entries': len(e), 'train_val': len(tv & set(ref)), 'test': len(te & set(ref)),
       'patients': int(e['Patient ID'].nunique()), 'label_counts': counts, 'mismatches': []}
for name, want in (('all', None), ('train_val', 'train'), ('test', 'test')):
    m = pd.read_csv(out + '/' + name + '.csv', dtype=str, keep_default_na=False)
    res['rows_' + name] = len(m)
    for _, r in m.iterrows():
        p, ls = ref[r['id']]
        got = sorted(r['labels'].split('|')) if r['labels'] else []
        cols = sorted(l for l in m.columns[5:] if r[l] == '1')
        if r['patient_id'] != p or got != ls or cols != ls:
            res['mismatches'].append([name, r['id'], r['patient_id'], p, got, ls, cols])
        split = 'train' if r['id'] in tv else ('test' if r['id'] in te else '')
        if r['split'] != split or (want is not None and r['split'] != want):
            res['mismatches'].append([name, r['id'], 'split', r['split'], split])
print(json.dumps(res))
)PY";

}  // namespace

class TestNihImport : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path dir() const { return tmp_.path().toStdString(); }

private slots:
    void importsDemoMatchingPandas() {
        const fs::path src = makeDemo(dir() / "demo", 90);
        const fs::path out = dir() / "out";
        const NihImportReport r = importNih(src, out);
        const auto ref = lumen::datatest::runPython(
            kPandasCheck, {QString::fromStdString(src.string()), QString::fromStdString(out.string())});
        QVERIFY2(ref["mismatches"].empty(), ref["mismatches"].dump().c_str());
        QCOMPARE(r.entries, ref["entries"].get<std::size_t>());
        QCOMPARE(r.entries, std::size_t(90));
        QCOMPARE(r.imageFiles, std::size_t(90));
        QCOMPARE(r.allRows, ref["rows_all"].get<std::size_t>());
        QCOMPARE(r.allRows, std::size_t(90));
        QCOMPARE(r.trainValRows, ref["train_val"].get<std::size_t>());
        QCOMPARE(r.testRows, ref["test"].get<std::size_t>());
        QCOMPARE(r.trainValRows, ref["rows_train_val"].get<std::size_t>());
        QCOMPARE(r.testRows, ref["rows_test"].get<std::size_t>());
        QVERIFY(r.testRows > 0 && r.trainValRows > r.testRows);
        QCOMPARE(r.patients, ref["patients"].get<std::size_t>());
        for (const auto& [label, count] : ref["label_counts"].items())
            QCOMPARE(r.labelCounts.at(label), count.get<std::size_t>());
        QCOMPARE(r.labelCounts.size(), ref["label_counts"].size());
        QVERIFY(r.labelCounts.count("Normal") && !r.labelCounts.count("No Finding"));
        QCOMPARE(r.labelNames, nihLabelNames());
        QVERIFY(r.missingImages.empty());
        QVERIFY(r.notInAnyList.empty());
        QVERIFY(!fs::exists(out / "missing_images.txt"));
        const auto j = nlohmann::json::parse(std::ifstream(out / "nih_import.json"));
        QCOMPARE(j["entries"].get<std::size_t>(), std::size_t(90));

        // The manifests resolve to the images, and the loader reads them.
        const Manifest m = readManifest(out / "train_val.csv");
        QCOMPARE(m.labelNames, nihLabelNames());
        QVERIFY(m.missingFiles().empty());
        AugmentOptions a;
        a.resize = 64;
        a.crop = 64;
        BatchLoader loader(makeImageDataset(m, 1, a), {8, 2, 2, true, 0, false});
        loader.startEpoch(0);
        const auto batch = loader.next();
        QVERIFY(batch);
        QCOMPARE(batch->numTargets, 15);
        QCOMPARE(batch->h, 64);

        // Throughput of a training-like pipeline (256 -> random 224 crop, flip, rotation,
        // intensity, 3 channels) on the demo's 256x256 PNGs, for docs/data.md.
        AugmentOptions train;
        train.randomCrop = train.hflip = true;
        train.rotateDegrees = 10;
        train.brightness = train.contrast = 0.2;
        BatchLoader full(makeImageDataset(readManifest(out / "all.csv"), 3, train, {0.5f}, {0.25f}),
                         {16, 2, 4, true, 1, false});
        const auto t0 = std::chrono::steady_clock::now();
        full.startEpoch(0);
        std::size_t images = 0;
        while (auto b = full.next()) images += std::size_t(b->n);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QCOMPARE(images, std::size_t(90));
        qInfo("loader: %zu images (3x224x224, augmented) in %.3f s with 2 workers: %.0f images/s", images, s,
              double(images) / s);
    }

    void missingImagesReported() {
        const fs::path src = makeDemo(dir() / "demo2", 30);
        fs::remove(src / "images_001/00000001_000.png");
        const auto first = readManifest(dir() / "out/all.csv");  // from the first test: paths absolute
        QVERIFY(fs::path(first.rows[0].path).is_absolute());
        // Pick a second image to delete from the entries file's order.
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(src / "images_001")) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        fs::remove(src / "images_001" / names.back());
        const NihImportReport r = importNih(src, src / "manifests");
        QCOMPARE(r.missingImages.size(), std::size_t(2));
        QCOMPARE(r.missingImages[0], std::string("00000001_000.png"));
        QCOMPARE(r.missingImages[1], names.back());
        QCOMPARE(r.allRows, std::size_t(28));
        QCOMPARE(r.trainValRows + r.testRows, std::size_t(28));
        std::ifstream in(src / "manifests/missing_images.txt");
        std::string a, b;
        in >> a >> b;
        QCOMPARE(a, std::string("00000001_000.png"));
        QCOMPARE(b, names.back());
        // Output inside the data folder: relative paths.
        const Manifest m = readManifest(src / "manifests/all.csv");
        QVERIFY(m.rows[0].path.rfind("../images_001/", 0) == 0);
        QVERIFY(m.missingFiles().empty());

        NihImportOptions keep;
        keep.keepMissing = true;
        const NihImportReport k = importNih(src, src / "kept", keep);
        QCOMPARE(k.allRows, std::size_t(30));
        QCOMPARE(readManifest(src / "kept/all.csv").missingFiles().size(), std::size_t(2));
    }

    void nestedImagesFolder() {
        const fs::path src = makeDemo(dir() / "demo3", 12);
        fs::create_directories(src / "images_001/images");
        for (const auto& e : std::vector<fs::directory_entry>(fs::directory_iterator(src / "images_001"), {}))
            if (e.is_regular_file()) fs::rename(e.path(), src / "images_001/images" / e.path().filename());
        const NihImportReport r = importNih(src, dir() / "out3");
        QCOMPARE(r.imageFiles, std::size_t(12));
        QVERIFY(r.missingImages.empty());
        QVERIFY(readManifest(dir() / "out3/all.csv").rows[0].path.find("/images_001/images/") != std::string::npos);
    }

    void malformedInputs() {
        const fs::path src = makeDemo(dir() / "demo4", 6);
        const fs::path entry = src / "Data_Entry_2017.csv";
        std::string text;
        {
            std::ifstream in(entry);
            text.assign(std::istreambuf_iterator<char>(in), {});
        }
        auto e = errorOf<DataError>([&] { importNih(dir() / "nowhere", dir() / "o"); });
        QVERIFY2(e.find("nowhere: not a folder") != std::string::npos, e.c_str());
        writeTextFile(tmp_, "demo4/chest_xray/Data_Entry_2017.csv", text + "00000099_000.png,Mass\n");
        e = errorOf<DataError>([&] { importNih(src, dir() / "o"); });
        QVERIFY2(e.find("Data_Entry_2017.csv:8: column 3: 2 fields, the header has 12") != std::string::npos,
                 e.c_str());
        writeTextFile(tmp_, "demo4/chest_xray/Data_Entry_2017.csv", "Image,Finding Labels,Patient ID\n");
        e = errorOf<DataError>([&] { importNih(src, dir() / "o"); });
        QVERIFY2(e.find("Data_Entry_2017.csv:1: no column \"Image Index\"") != std::string::npos, e.c_str());
        writeTextFile(tmp_, "demo4/chest_xray/Data_Entry_2017.csv", text);
        fs::remove(src / "test_list.txt");
        e = errorOf<DataError>([&] { importNih(src, dir() / "o"); });
        QVERIFY2(e.find("test_list.txt: cannot open") != std::string::npos, e.c_str());
    }
};

QTEST_GUILESS_MAIN(TestNihImport)
#include "test_nih_import.moc"
