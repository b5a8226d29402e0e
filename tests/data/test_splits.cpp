// Patient-level splits: ratios, seeds, the zero-overlap proof (checked independently with
// pandas on the written files), the report JSON and id lists, and overlap detection.
#include "data/splits.h"

#include "data_test_support.h"
#include "test_support.h"

#include <QTemporaryDir>

#include <fstream>
#include <map>
#include <set>

using namespace lumen::data;
namespace fs = std::filesystem;

namespace {

// 400 patients with 1..7 images each (skewed), a few rows without a patient id.
Manifest syntheticManifest() {
    Manifest m;
    m.file = "/data/source.csv";
    m.labelNames = {"A", "B"};
    int image = 0;
    for (int p = 0; p < 400; ++p) {
        const int images = 1 + (p * 7919) % 7;
        for (int i = 0; i < images; ++i)
            m.rows.push_back({"img" + std::to_string(image++), "P" + std::to_string(p), "x.png",
                              (p % 3 == 0) ? std::vector<std::string>{"A"} : std::vector<std::string>{}, ""});
    }
    for (int i = 0; i < 5; ++i) m.rows.push_back({"lonely" + std::to_string(i), "", "x.png", {"B"}, ""});
    return m;
}

const char* kPandasCheck = R"PY(
import sys, json, itertools
import pandas as pd
d = sys.argv[1]
ratios = [float(x) for x in sys.argv[2].split(',')]
names = ['train', 'val', 'test']
m = pd.read_csv(d + '/manifest.csv', dtype=str, keep_default_na=False)
m['patient'] = [p if p else '#' + i for p, i in zip(m['patient_id'], m['id'])]
res = {'rows': len(m), 'patients': int(m['patient'].nunique()), 'splits': {}, 'overlap': {}, 'files_agree': True}
groups = {n: set(m[m['split'] == n]['patient']) for n in names}
for a, b in itertools.combinations(names, 2):
    res['overlap'][a + '/' + b] = len(groups[a] & groups[b])
for n, r in zip(names, ratios):
    part = pd.read_csv(d + '/' + n + '.csv', dtype=str, keep_default_na=False)
    ids = open(d + '/' + n + '_ids.txt').read().split()
    res['files_agree'] &= sorted(part['id']) == ids and set(part['id']) == set(m[m['split'] == n]['id'])
    res['splits'][n] = {'patients': len(groups[n]), 'images': int((m['split'] == n).sum()),
                        'patient_fraction': len(groups[n]) / res['patients'], 'ratio': r}
rep = json.load(open(d + '/split_report.json'))
res['report_disjoint'] = rep['disjoint']
res['report_overlaps'] = [o['patients'] for o in rep['overlaps']]
print(json.dumps(res))
)PY";

}  // namespace

class TestSplits : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path dir() const { return tmp_.path().toStdString(); }

private slots:
    void splitIsByPatientWithRatios() {
        const Manifest m = syntheticManifest();
        SplitOptions o;
        o.ratios = {0.7, 0.1, 0.2};
        o.seed = 3;
        SplitReport rep;
        const Manifest s = splitByPatient(m, o, &rep);
        QCOMPARE(s.rows.size(), m.rows.size());
        QVERIFY(rep.disjoint());
        QCOMPARE(rep.patients, std::size_t(405));
        QCOMPARE(rep.rowsWithoutPatient, std::size_t(5));
        QCOMPARE(rep.splits.size(), std::size_t(3));
        QCOMPARE(rep.splits[0].name, std::string("train"));
        QCOMPARE(rep.splits[0].patients, std::size_t(284));  // round(0.7 * 405)
        QCOMPARE(rep.splits[1].patients, std::size_t(324 - 284));
        QCOMPARE(rep.splits[2].patients, std::size_t(405 - 324));
        QCOMPARE(rep.overlaps.size(), std::size_t(3));
        // Every patient's images in one split.
        std::map<std::string, std::string> splitOf;
        for (const auto& r : s.rows) {
            if (r.patientId.empty()) continue;
            auto [it, inserted] = splitOf.emplace(r.patientId, r.split);
            QCOMPARE(it->second, r.split);
        }
        // Deterministic by seed, independent of row order, different for another seed.
        Manifest reversed = m;
        std::reverse(reversed.rows.begin(), reversed.rows.end());
        const Manifest again = splitByPatient(reversed, o);
        std::map<std::string, std::string> a, b;
        for (const auto& r : s.rows) a[r.id] = r.split;
        for (const auto& r : again.rows) b[r.id] = r.split;
        QVERIFY(a == b);
        o.seed = 4;
        std::map<std::string, std::string> c;
        for (const auto& r : splitByPatient(m, o).rows) c[r.id] = r.split;
        QVERIFY(a != c);
    }

    void writtenFolderCheckedWithPandas() {
        Manifest m = syntheticManifest();
        m.file = dir() / "source.csv";
        SplitOptions o;
        o.ratios = {0.7, 0.1, 0.2};
        o.seed = 11;
        SplitReport rep;
        const Manifest s = splitByPatient(m, o, &rep);
        writeSplitFolder(s, dir() / "split", rep);
        const auto ref = lumen::datatest::runPython(
            kPandasCheck, {QString::fromStdString((dir() / "split").string()), "0.7,0.1,0.2"});
        QCOMPARE(ref["rows"].get<std::size_t>(), m.rows.size());
        QCOMPARE(ref["patients"].get<std::size_t>(), std::size_t(405));
        for (const auto& [pair, n] : ref["overlap"].items()) QVERIFY2(n.get<int>() == 0, pair.c_str());
        QVERIFY(ref["files_agree"].get<bool>());
        QVERIFY(ref["report_disjoint"].get<bool>());
        QCOMPARE(ref["report_overlaps"].get<std::vector<int>>(), (std::vector<int>{0, 0, 0}));
        for (const auto& [name, v] : ref["splits"].items()) {
            // Patients within one of the ratio (rounding), images within 5 points.
            QVERIFY2(std::abs(v["patient_fraction"].get<double>() - v["ratio"].get<double>()) <= 1.0 / 405 + 1e-12,
                     name.c_str());
            QVERIFY2(std::abs(double(v["images"].get<int>()) / double(m.rows.size()) - v["ratio"].get<double>()) < 0.05,
                     name.c_str());
        }
        for (const char* f : {"manifest.csv", "train.csv", "val.csv", "test.csv", "train_ids.txt", "val_patients.txt",
                              "split_report.json"})
            QVERIFY2(fs::exists(dir() / "split" / f), f);
        const auto j = nlohmann::json::parse(std::ifstream(dir() / "split/split_report.json"));
        QCOMPARE(j["seed"].get<int>(), 11);
        QCOMPARE(j["manifest"].get<std::string>(), std::string("source.csv"));
        // The folder reads back as one manifest with the same report.
        const SplitReport back = splitReport(loadManifestOrFolder(dir() / "split"));
        QCOMPARE(back.splits.size(), std::size_t(3));
        QVERIFY(back.disjoint());
    }

    void overlapIsDetected() {
        // Two hand-made manifests sharing a patient and an image: a folder without manifest.csv.
        fs::create_directories(dir() / "leaky");
        writeTextFile(tmp_, "leaky/train.csv", "id,patient_id,path\na,P1,a.png\nb,P2,b.png\nc,P3,c.png\n");
        writeTextFile(tmp_, "leaky/test.csv", "id,patient_id,path\nd,P2,d.png\nc,P3,c.png\ne,P4,e.png\n");
        const Manifest m = loadManifestOrFolder(dir() / "leaky");
        QCOMPARE(m.rows.size(), std::size_t(6));
        const SplitReport r = splitReport(m);
        QVERIFY(!r.disjoint());
        QCOMPARE(r.overlaps.size(), std::size_t(1));
        QCOMPARE(r.overlaps[0].patients, std::size_t(2));
        QCOMPARE(r.overlaps[0].images, std::size_t(1));
        QCOMPARE(r.overlaps[0].firstPatients, (std::vector<std::string>{"P2", "P3"}));
        QCOMPARE(toJson(r)["disjoint"].get<bool>(), false);
    }

    void badOptions() {
        const Manifest m = syntheticManifest();
        SplitOptions o;
        o.ratios = {0.7, 0.2};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, splitByPatient(m, o));
        o.ratios = {0.8, -0.1, 0.3};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, splitByPatient(m, o));
        o.ratios = {0.5, 0.5};
        o.names = {"a", "a"};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, splitByPatient(m, o));
        o.names = {"a", "b"};
        const Manifest two = splitByPatient(m, o);
        QCOMPARE(splitReport(two).splits.size(), std::size_t(2));
    }
};

QTEST_GUILESS_MAIN(TestSplits)
#include "test_splits.moc"
