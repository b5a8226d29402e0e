// core/explain/localisation: CAMs against annotated boxes. The numbers (pointing game, IoU,
// AP@0.5/0.75, the control) against an independent Python reference on CAMs, images and boxes
// it writes (localisation_reference.py); the inverse of resize + centre crop by hand and
// against data::augmentImage on non-square images; the CAM region rule; parse errors naming
// file:line:column; the control's derangement.
#include "data/augment.h"
#include "data/data_error.h"
#include "explain/localisation.h"

#include "test_support.h"

#include <QProcess>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <cmath>
#include <fstream>
#include <set>

using namespace lumen;
using namespace lumen::explain;
namespace fs = std::filesystem;

namespace {

QString python() { return qEnvironmentVariable("LUMEN_PYTHON", "/usr/bin/python3"); }
QString reference() { return QStringLiteral(LUMEN_SOURCE_DIR "/tests/explain/localisation_reference.py"); }

bool runPython(const QStringList& args, QByteArray* log) {
    QProcess py;
    py.setProcessChannelMode(QProcess::MergedChannels);
    py.start(python(), QStringList{reference()} + args);
    const bool ok = py.waitForFinished(300000) && py.exitStatus() == QProcess::NormalExit && py.exitCode() == 0;
    *log = py.readAll();
    return ok;
}

nlohmann::json readJson(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

void compareScores(const LabelScores& s, const nlohmann::json& r, const std::string& what) {
    const auto near = [&](double a, double b, const char* name) {
        QVERIFY2(std::abs(a - b) <= 1e-9,
                 (what + " " + name + ": " + std::to_string(a) + " vs " + std::to_string(b)).c_str());
    };
    QCOMPARE(s.cams, r["cams"].get<std::size_t>());
    QCOMPARE(s.boxes, r["boxes"].get<std::size_t>());
    QCOMPARE(s.hits, r["pointing_hits"].get<std::size_t>());
    near(s.pointing, r["pointing_game"].get<double>(), "pointing");
    near(s.meanIou, r["mean_iou"].get<double>(), "mean IoU");
    near(s.ap50, r["ap50"].get<double>(), "AP@0.5");
    near(s.ap75, r["ap75"].get<double>(), "AP@0.75");
}

}  // namespace

class TestLocalisation : public QObject {
    Q_OBJECT
private slots:
    void againstPythonReference_data();
    void againstPythonReference();
    void inverseCropByHand();
    void inverseCropMatchesAugment();
    void camRegionRule();
    void camOnImageFollowsTheCrop();
    void derangementHasNoFixedPoint();
    void readsBothLayouts();
    void parseErrorsNameFileLineColumn();
    void noMatchingCamIsAnError();
    void cliOnTheDemoWorkspace();
};

void TestLocalisation::againstPythonReference_data() {
    QTest::addColumn<double>("threshold");
    QTest::addColumn<int>("seed");
    QTest::newRow("t0.5 seed20") << 0.5 << 20;
    QTest::newRow("t0.3 seed5") << 0.3 << 5;
}

void TestLocalisation::againstPythonReference() {
    QFETCH(double, threshold);
    QFETCH(int, seed);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    QByteArray log;
    QVERIFY2(runPython({"make", tmp.path(), "7"}, &log), log.constData());
    const fs::path cacheDir = root / "cache", boxesFile = root / "boxes.csv";
    QVERIFY2(runPython({"eval", QString::fromStdString(cacheDir.string()), QString::fromStdString(boxesFile.string()),
                        QString::fromStdString((root / "images").string()), QString::number(threshold, 'g', 17),
                        QString::number(seed), QString::fromStdString((root / "ref.json").string())},
                       &log),
             log.constData());
    LocalisationOptions o;
    o.threshold = threshold;
    o.seed = std::uint64_t(seed);
    o.imageSize = imageSizeFinder({root});
    const auto report = evaluateLocalisation(readCamCache(cacheDir), readBoxes(boxesFile), o);
    const auto ref = readJson(root / "ref.json");

    QCOMPARE(report.labels.size(), ref["labels"].size());
    for (std::size_t i = 0; i < report.labels.size(); ++i) {
        const auto& l = report.labels[i];
        const auto& r = ref["labels"][i];
        QCOMPARE(l.label, r["label"].get<std::string>());
        compareScores(l.real, r, l.label);
        QVERIFY(l.control.has_value());
        compareScores(*l.control, r["control"], l.label + " control");
    }
    QCOMPARE(report.pairs.size(), ref["pairs"].size());
    std::size_t empty = 0, hits = 0, nonSquareImages = 0;
    double maxDiff = 0;
    for (std::size_t i = 0; i < report.pairs.size(); ++i) {
        const auto& p = report.pairs[i];
        const auto& r = ref["pairs"][i];
        QCOMPARE(p.id, r["id"].get<std::string>());
        QCOMPARE(p.label, r["label"].get<std::string>());
        QCOMPARE(p.empty, r["empty"].get<bool>());
        QCOMPARE(p.hit, r["hit"].get<bool>());
        QCOMPARE(p.controlImage, r["control_image"].get<std::string>());
        QVERIFY(p.controlImage != p.image);
        QCOMPARE(p.controlHit, r["control_hit"].get<bool>());
        const double got[] = {p.hotX, p.hotY, p.camBox.x1, p.camBox.y1, p.camBox.x2, p.camBox.y2, p.iou, p.controlIou};
        const double want[] = {r["hot"][0],     r["hot"][1],     r["cam_box"][0], r["cam_box"][1],
                               r["cam_box"][2], r["cam_box"][3], r["iou"],        r["control_iou"]};
        for (int k = 0; k < 8; ++k) maxDiff = std::max(maxDiff, std::abs(got[k] - want[k]));
        for (int k = 0; k < 8; ++k)
            QVERIFY2(std::abs(got[k] - want[k]) <= 1e-9, (p.id + "/" + p.label + " value " + std::to_string(k) + ": " +
                                                          std::to_string(got[k]) + " vs " + std::to_string(want[k]))
                                                             .c_str());
        empty += p.empty, hits += p.hit, nonSquareImages += p.imageH != p.imageW;
    }
    qInfo("%zu pairs, %zu labels: largest difference to the reference %.3g (hot point, CAM box, IoU)",
          report.pairs.size(), report.labels.size(), maxDiff);
    // The data exercise what matters: a constant CAM, hits and misses, non-square images, AP > 0.
    QCOMPARE(empty, std::size_t(1));
    QVERIFY(hits > 0 && hits < report.pairs.size());
    QVERIFY(nonSquareImages > 10);
    if (threshold == 0.5) QVERIFY(report.overall.real.ap50 > 0.1);  // the boxes were drawn around 0.5 regions
    QVERIFY(report.overall.real.meanIou > report.overall.control->meanIou);
    QCOMPARE(report.boxesWithoutCam, std::size_t(1));  // img99.png

    // The files written say the same.
    writeLocalisation(report, cacheDir);
    const auto written = readJson(cacheDir / "localisation.json");
    QCOMPARE(written["labels"].size(), report.labels.size());
    QCOMPARE(written["overall"]["ap50"].get<double>(), report.overall.real.ap50);
    QCOMPARE(written["pairs"].size(), report.pairs.size());
    const auto csv = readTextFile(cacheDir / "localisation.csv");
    QCOMPARE(std::size_t(std::count(csv.begin(), csv.end(), '\n')), report.pairs.size() + 1);
    QVERIFY(localisationTable(report).find("Nodule") != std::string::npos);
}

void TestLocalisation::inverseCropByHand() {
    // 300 x 200 (portrait) at 100: width 200 -> 100 (scale 0.5), height 300 -> 150, crop rows 25..124.
    auto g = inputGeometry(300, 200, 100, 100);
    QCOMPARE(g.scaleX, 0.5);
    QCOMPARE(g.scaleY, 0.5);
    QCOMPARE(g.offsetX, 0.0);
    QCOMPARE(g.offsetY, 25.0);
    QCOMPARE(g.toImageY(0), 50.0);     // the crop's top edge is image row 50
    QCOMPARE(g.toImageY(100), 250.0);  // its bottom edge row 250
    QCOMPARE(g.toImageX(100), 200.0);
    // 101 x 333 (landscape) at 64: height -> 64, width -> round(333 * 64 / 101) = round(211.01) = 211,
    // crop columns from (211 - 64) / 2 = 73.
    g = inputGeometry(101, 333, 64, 64);
    QCOMPARE(g.scaleY, 64.0 / 101.0);
    QCOMPARE(g.scaleX, 211.0 / 333.0);
    QCOMPARE(g.offsetX, 73.0);
    QCOMPARE(g.offsetY, 0.0);
    QVERIFY(std::abs(g.toImageX(0) - 73.0 * 333.0 / 211.0) < 1e-12);
    QVERIFY(std::abs(g.toImageX(64) - 137.0 * 333.0 / 211.0) < 1e-12);
    // The shorter side already at the size: no resize, crop only.
    g = inputGeometry(64, 90, 64, 64);
    QCOMPARE(g.scaleX, 1.0);
    QCOMPARE(g.offsetX, 13.0);
    // A non-square input is a plain resize.
    g = inputGeometry(300, 200, 48, 64);
    QCOMPARE(g.scaleX, 64.0 / 200.0);
    QCOMPARE(g.scaleY, 48.0 / 300.0);
    QCOMPARE(g.offsetX, 0.0);
}

void TestLocalisation::inverseCropMatchesAugment() {
    // Images whose value is the x (or y) coordinate of the pixel centre: after the tasks'
    // transform each input pixel holds the image coordinate it came from (resampling keeps a
    // linear ramp), which the geometry must give for its centre.
    for (const auto& [rows, cols, size] :
         std::vector<std::tuple<int, int, int>>{{300, 200, 100}, {101, 333, 64}, {90, 120, 224}, {64, 90, 64}}) {
        cv::Mat rx(rows, cols, CV_32FC1), ry(rows, cols, CV_32FC1);
        for (int y = 0; y < rows; ++y)
            for (int x = 0; x < cols; ++x) rx.at<float>(y, x) = float(x + 0.5), ry.at<float>(y, x) = float(y + 0.5);
        data::AugmentOptions a;
        a.resize = size;
        a.crop = size;
        const cv::Mat ix = data::augmentImage(rx, a, 0), iy = data::augmentImage(ry, a, 0);
        QCOMPARE(ix.rows, size);
        const auto g = inputGeometry(std::size_t(rows), std::size_t(cols), std::size_t(size), std::size_t(size));
        // Upscaling (INTER_LINEAR) keeps a ramp exactly; OpenCV's INTER_AREA at non-integer
        // ratios leaves a sub-pixel sawtooth (±0.08 px at 333 -> 211) around the exact value, so
        // there the mean error must vanish (an offset off by one input pixel would be >= 1.5 px).
        double worst = 0, sum = 0;
        int n = 0;
        for (int v = 2; v < size - 2; ++v)
            for (int u = 2; u < size - 2; ++u) {
                const double ex = ix.at<float>(v, u) - g.toImageX(u + 0.5),
                             ey = iy.at<float>(v, u) - g.toImageY(v + 0.5);
                worst = std::max({worst, std::abs(ex), std::abs(ey)});
                sum += ex + ey;
                n += 2;
            }
        const bool down = std::min(rows, cols) > size;
        const std::string what = std::to_string(rows) + "x" + std::to_string(cols) + " at " + std::to_string(size) +
                                 ": max " + std::to_string(worst) + ", mean " + std::to_string(sum / n);
        QVERIFY2(worst < (down ? 0.1 : 2e-3), what.c_str());
        QVERIFY2(std::abs(sum / n) < (down ? 0.01 : 2e-3), what.c_str());
    }
}

void TestLocalisation::camOnImageFollowsTheCrop() {
    // A linear CAM at the input's resolution (value = col + 100 row) on a 300 x 200 portrait
    // image at 100: image rows whose centre lies outside the crop (rows 50..249) are 0; inside,
    // the value is the input coordinate of the pixel centre (bilinear keeps a linear map).
    Heatmap cam{{100, 100}, std::vector<float>(100 * 100)};
    for (int r = 0; r < 100; ++r)
        for (int c = 0; c < 100; ++c) cam.values[std::size_t(r * 100 + c)] = float(c + 100 * r);
    const Heatmap on = camOnImage(cam, 100, 100, 300, 200);
    QCOMPARE(on.shape, (std::vector<std::size_t>{300, 200}));
    for (std::size_t x = 0; x < 200; ++x) {
        QCOMPARE(on.values[49 * 200 + x], 0.0f);
        QCOMPARE(on.values[250 * 200 + x], 0.0f);
    }
    for (int y : {60, 100, 173, 240})
        for (int x : {4, 10, 99, 190}) {
            const double u = (x + 0.5) * 0.5 - 0.5, v = (y + 0.5) * 0.5 - 25 - 0.5;
            QVERIFY2(std::abs(on.values[std::size_t(y * 200 + x)] - (u + 100 * v)) < 2e-3,
                     (std::to_string(x) + "," + std::to_string(y)).c_str());
        }
}

void TestLocalisation::camRegionRule() {
    // Two components >= 0.5: a 3-pixel one (first) and a 4-pixel diagonal one (8-connected);
    // the hottest pixel is in the smaller one.
    Heatmap h{{5, 6}, {0.9f, 0.6f,  0,    0,    0,    0,  //
                       0.7f, 0,     0,    0,    0.5f, 0,  //
                       0,    0,     0,    0.6f, 0,    0,  //
                       0,    0,     0.8f, 0,    0,    0,  //
                       0,    0.55f, 0,    0,    0,    0.1f}};
    auto r = camRegion(h, 0.5);
    QVERIFY(!r.empty);
    QCOMPARE(r.hotRow, std::size_t(0));
    QCOMPARE(r.hotCol, std::size_t(0));
    QCOMPARE(r.pixels, std::size_t(4));
    QCOMPARE(r.rowMin, std::size_t(1));
    QCOMPARE(r.rowMax, std::size_t(4));
    QCOMPARE(r.colMin, std::size_t(1));
    QCOMPARE(r.colMax, std::size_t(4));
    // Equal sizes: the component met first in raster order.
    Heatmap tie{{2, 5}, {1, 0, 0, 0, 1, 1, 0, 0, 0, 1}};
    r = camRegion(tie, 0.5);
    QCOMPARE(r.colMax, std::size_t(0));
    Heatmap flat{{2, 2}, {0.3f, 0.3f, 0.3f, 0.3f}};
    QVERIFY(camRegion(flat, 0.5).empty);
}

void TestLocalisation::derangementHasNoFixedPoint() {
    for (std::size_t n = 2; n < 60; ++n) {
        const auto p = controlDerangement(n, 20);
        std::set<std::size_t> seen(p.begin(), p.end());
        QCOMPARE(seen.size(), n);
        for (std::size_t i = 0; i < n; ++i) QVERIFY(p[i] != i);
    }
    QCOMPARE(controlDerangement(1, 20), std::vector<std::size_t>{0});
    QVERIFY(controlDerangement(10, 1) != controlDerangement(10, 2));
    QCOMPARE(controlDerangement(10, 3), controlDerangement(10, 3));
}

void TestLocalisation::readsBothLayouts() {
    QTemporaryDir tmp;
    const auto demo = writeTextFile(tmp, "boxes.csv", "image,finding,x,y,w,h\na.png,Mass,10,20,5,6\n");
    auto t = readBoxes(demo);
    QCOMPARE(t.boxes.size(), std::size_t(1));
    QCOMPARE(t.boxes[0].box().x2, 15.0);
    QCOMPARE(t.boxes[0].box().y2, 26.0);
    const auto nih = writeTextFile(tmp, "BBox_List_2017.csv",
                                   "Image Index,Finding Label,Bbox [x,y,w,h],,,\r\n"
                                   "00013118_008.png,Atelectasis,225.084745762712,547.019216763771,86.7796610169491,"
                                   "79.1864406779661,,,\r\n"
                                   "00014716_007.png,Atelectasis,686.101694915254,131.543322290817,185.491525423729,"
                                   "313.491525423729\r\n");
    t = readBoxes(nih);
    QCOMPARE(t.boxes.size(), std::size_t(2));
    QCOMPARE(t.boxes[0].image, std::string("00013118_008.png"));
    QCOMPARE(t.boxes[0].label, std::string("Atelectasis"));
    QCOMPARE(t.boxes[1].h, 313.491525423729);
    QCOMPARE(t.boxes[1].line, std::size_t(3));
}

void TestLocalisation::parseErrorsNameFileLineColumn() {
    QTemporaryDir tmp;
    const auto check = [&](const std::string& text, const std::string& expected) {
        const auto f = writeTextFile(tmp, "b.csv", text);
        const auto msg = errorOf<data::DataError>([&] { readBoxes(f); });
        QVERIFY2(msg.find(f + expected) != std::string::npos, (msg + " lacks " + f + expected).c_str());
    };
    check("image,finding,x,y,w,h\na.png,Mass,1,2,3,4\na.png,Mass,1,y2,3,4\n",
          ":3: column 4 (y): expected a finite number");
    check("image,finding,x,y,w,h\na.png,Mass,1,2,0,4\n", ":2: column 5 (w): the width must be > 0");
    check("image,finding,x,y,w,h\na.png,Mass,1,2,3,-4\n", ":2: column 6 (h)");
    check("image,finding,x,y,w,h\na.png,Mass,1,2,3\n", ":2: expected 6 cells");
    check("Image Index,Finding Label,Bbox [x,y,w,h],,,\na.png,Mass,1,2,3,4,,9,\n", ":2: column 8: unexpected value");
    check("path,x,y\n", ":1: column 1 (path): expected a header");
    check("image,finding,x,y,w,h\n,Mass,1,2,3,4\n", ":2: column 1 (image): empty image name");
    check("image,finding,x,y,w,h\na.png,Mass,1,nan,3,4\n", ":2: column 4 (y)");
    const auto missing = errorOf<data::DataError>([&] { readBoxes(tmp.filePath("none.csv").toStdString()); });
    QVERIFY2(missing.find("none.csv") != std::string::npos, missing.c_str());
}

void TestLocalisation::noMatchingCamIsAnError() {
    QTemporaryDir tmp;
    CamCache cache;
    cache.dir = tmp.path().toStdString();
    CamEntry e;
    e.id = "x.png";
    e.label = "Mass";
    cache.entries.push_back(e);
    BoxTable t;
    t.file = "b.csv";
    t.boxes.push_back({"y.png", "Mass", 1, 2, 3, 4, 2});
    LocalisationOptions o;
    o.imageSize = [](const CamEntry&) { return std::pair<std::size_t, std::size_t>{10, 10}; };
    const auto msg = errorOf<std::runtime_error>([&] { evaluateLocalisation(cache, t, o); });
    QVERIFY2(msg.find("no CAM of") != std::string::npos && msg.find("b.csv") != std::string::npos, msg.c_str());
}

void TestLocalisation::cliOnTheDemoWorkspace() {
    // lumen-cli demo, data import-nih, a TorchScript model made by Python (random weights, the
    // 14 NIH outputs), explain --boxes on the test split; the files it writes against the
    // Python reference on the same cache.
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString(), ws = root / "ws";
    auto r = runLumenCli({"demo", "--out", QString::fromStdString(ws.string()), "--ct-volumes", "0"});
    QVERIFY2(r.code == 0, r.err.c_str());
    r = runLumenCli({"data", "import-nih", QString::fromStdString((ws / "chest_xray").string()), "--out",
                     QString::fromStdString((root / "nih").string())});
    QVERIFY2(r.code == 0, r.err.c_str());
    const fs::path model = root / "tiny.pt";
    QProcess py;
    py.setProcessChannelMode(QProcess::MergedChannels);
    const auto script = writeTextFile(
        tmp, "make_model.py",
        "import sys, torch, torch.nn as nn\n"
        "torch.manual_seed(3)\n"
        "class Net(nn.Module):\n"
        "    def __init__(s):\n"
        "        super().__init__()\n"
        "        s.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1),"
        " nn.ReLU(), nn.Conv2d(16, 16, 3, 1, 1))\n"
        "        s.head = nn.Linear(16, 14)\n"
        "    def forward(s, x):\n"
        "        return s.head(s.features(x).mean((2, 3)))\n"
        "torch.jit.script(Net()).save(sys.argv[1])\n");
    py.start(python(), {QString::fromStdString(script), QString::fromStdString(model.string())});
    QVERIFY(py.waitForFinished(120000));
    QVERIFY2(py.exitCode() == 0, py.readAll().constData());
    const QString names =
        "Atelectasis,Cardiomegaly,Effusion,Infiltration,Mass,Nodule,Pneumonia,Pneumothorax,"
        "Consolidation,Edema,Emphysema,Fibrosis,Pleural_Thickening,Hernia";
    const fs::path cacheDir = root / "cam", boxes = ws / "chest_xray" / "boxes.csv";
    r = runLumenCli({"explain", "--model", QString::fromStdString(model.string()), "--images",
                     QString::fromStdString((root / "nih" / "test.csv").string()), "--out",
                     QString::fromStdString(cacheDir.string()), "--size", "64", "--label-names", names, "--max-images",
                     "24", "--no-faithfulness", "--boxes", QString::fromStdString(boxes.string())},
                    600000);
    QVERIFY2(r.code == 0, (r.out + r.err).c_str());
    QVERIFY2(r.out.find("pointing") != std::string::npos && r.out.find("control") != std::string::npos, r.out.c_str());
    qInfo().noquote() << QString::fromStdString(r.out);
    const auto written = readJson(cacheDir / "localisation.json");
    QVERIFY(written["pairs"].size() >= 10);
    QVERIFY(fs::is_regular_file(cacheDir / "localisation.csv"));

    QByteArray log;
    QVERIFY2(runPython({"eval", QString::fromStdString(cacheDir.string()), QString::fromStdString(boxes.string()),
                        QString::fromStdString(ws.string() + "/chest_xray"), "0.5", "20",
                        QString::fromStdString((root / "ref.json").string())},
                       &log),
             log.constData());
    const auto ref = readJson(root / "ref.json");
    QCOMPARE(written["labels"].size(), ref["labels"].size());
    for (std::size_t i = 0; i < ref["labels"].size(); ++i)
        for (const char* k : {"pointing_game", "mean_iou", "ap50", "ap75"}) {
            QVERIFY(std::abs(written["labels"][i][k].get<double>() - ref["labels"][i][k].get<double>()) <= 1e-9);
            if (!ref["labels"][i]["control"].is_null())
                QVERIFY(std::abs(written["labels"][i]["control"][k].get<double>() -
                                 ref["labels"][i]["control"][k].get<double>()) <= 1e-9);
        }

    // The same cache without the model; errors exit 2 naming the file.
    r = runLumenCli({"explain", "--cache", QString::fromStdString(cacheDir.string()), "--boxes",
                     QString::fromStdString(boxes.string()), "--workspace", QString::fromStdString(ws.string())});
    QVERIFY2(r.code == 0, (r.out + r.err).c_str());
    const auto bad = writeTextFile(tmp, "bad.csv", "image,finding,x,y,w,h\na.png,Mass,1,2,x,4\n");
    r = runLumenCli(
        {"explain", "--cache", QString::fromStdString(cacheDir.string()), "--boxes", QString::fromStdString(bad)});
    QCOMPARE(r.code, 2);
    QVERIFY2(r.err.find(bad + ":2: column 5 (w)") != std::string::npos, r.err.c_str());
}

QTEST_GUILESS_MAIN(TestLocalisation)
#include "test_localisation.moc"
