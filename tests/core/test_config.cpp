// Qt Test suite for core/config: schema validation messages, defaults, canonical hash,
// seeding and the environment record.
#include "config/config.h"
#include "config/environment.h"
#include "config/seed.h"
#include "util/sha256.h"

#include "test_support.h"

#include <QTemporaryDir>

#include <fstream>

using namespace lumen::config;

namespace {

Schema clipSchema() {
    Schema s("clip");
    s.merge(commonSchema());
    s.addFloat("temperature", 0.07, "Initial softmax temperature.", 0).minExclusive = true;
    s.addFloat("loss_weights.contrastive", 1.0, "Weight of the InfoNCE loss.", 0);
    s.addFloat("loss_weights.captioning", 0.0, "Weight of the captioning loss.", 0);
    s.addChoice("loss", "clip", {"clip", "siglip", "multi_positive"}, "Contrastive loss.");
    s.addStringList("labels", {"a", "b"}, "Label names.");
    return s;
}

}  // namespace

class TestConfig : public QObject {
    Q_OBJECT
private slots:
    // Inference takes a checkpoint's model-shaping keys: nested and top-level keys are
    // replaced (creating levels that are missing), absent ones left alone, changes reported.
    void withKeysFromTakesTheStoredValues() {
        const YAML::Node asked = parseYaml("model:\n  widths: [8, 16]\n  pool: avg\nlr: 0.1\n");
        const YAML::Node stored =
            parseYaml("model:\n  widths: [4, 8]\n  pool: avg\npreprocess:\n  size: [32, 32, 24]\n");
        QStringList changed;
        const YAML::Node out =
            withKeysFrom(asked, stored, {"model.widths", "model.pool", "preprocess.size", "labels"},
                         [&](const std::string& key, const std::string&) { changed << QString::fromStdString(key); });
        QCOMPARE(changed, (QStringList{"model.widths", "preprocess.size"}));
        QCOMPARE(lookup(out, "model.widths")[0].as<int>(), 4);
        QCOMPARE(lookup(out, "preprocess.size")[2].as<int>(), 24);
        QCOMPARE(lookup(out, "lr").as<double>(), 0.1);
        QVERIFY(!lookup(out, "labels").IsDefined());
        QCOMPARE(lookup(asked, "model.widths")[0].as<int>(), 8);  // the input is untouched
    }

    void nonScalarKeysAreIssuesNotCrashes() {
        // Found by tests/fuzz/fuzz_yaml: "? :" (a null key) threw YAML::TypedBadConversion.
        for (const char* text : {"? :\n", "[a, b]: 1\n", "task: roi_consistency\n{x: 1}: 2\n"}) {
            const YAML::Node root = parseYaml(text, "k.yaml");
            std::vector<ConfigIssue> issues;
            try {
                issues = validate(root, commonSchema());
            } catch (const std::exception& e) {
                QFAIL(e.what());
            }
            bool named = false;
            for (const auto& i : issues)
                named = named || i.message.find("keys must be plain names") != std::string::npos;
            QVERIFY2(named, text);
            QVERIFY_THROWS_EXCEPTION(ConfigError, makeConfig(root, commonSchema(), "k.yaml"));
        }
    }

    void sha256KnownVectors_data() {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<QString>("hex");
        QTest::newRow("empty") << QByteArray("") << "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        QTest::newRow("abc") << QByteArray("abc") << "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        QTest::newRow("two blocks") << QByteArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                                    << "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
        QTest::newRow("million a") << QByteArray(1000000, 'a')
                                   << "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    }
    void sha256KnownVectors() {
        QFETCH(QByteArray, input);
        QFETCH(QString, hex);
        // Both the portable code and (where the CPU has them) the SHA extensions.
        for (bool accelerated : {false, true}) {
            lumen::util::setSha256HardwareAcceleration(accelerated);
            QCOMPARE(QString::fromStdString(lumen::util::sha256Hex(input.toStdString())), hex);
            // Fed in odd-sized pieces, the digest is the same.
            lumen::util::Sha256 h;
            for (int i = 0; i < input.size(); i += 1037)
                h.update(input.constData() + i, std::min<qsizetype>(1037, input.size() - i));
            QCOMPARE(QString::fromStdString(h.hexDigest()), hex);
        }
        lumen::util::setSha256HardwareAcceleration(true);
    }

    void sha256OfMissingFileNamesIt() {
        try {
            lumen::util::sha256File("/nonexistent/baseline.csv");
            QFAIL("no exception");
        } catch (const std::runtime_error& e) {
            QVERIFY(std::string(e.what()).find("/nonexistent/baseline.csv") != std::string::npos);
        }
    }

    void validConfigGetsDefaults() {
        const Config c = makeConfig(parseYaml("task: clip_contrastive\nlr: 3e-4\n"
                                              "loss_weights:\n  contrastive: 0.5\n"),
                                    clipSchema());
        QCOMPARE(c.get<std::string>("task"), std::string("clip_contrastive"));
        QCOMPARE(c.get<double>("lr"), 3e-4);
        QCOMPARE(c.get<double>("loss_weights.contrastive"), 0.5);
        QCOMPARE(c.get<double>("loss_weights.captioning"), 0.0);  // default filled
        QCOMPARE(c.get<int>("batch_size"), 8);
        QCOMPARE(c.get<double>("temperature"), 0.07);
        QCOMPARE(c.get<std::string>("loss"), std::string("clip"));
        QCOMPARE(c.get<std::vector<std::string>>("labels"), (std::vector<std::string>{"a", "b"}));
        QVERIFY(c.has("seed"));
        QVERIFY(!c.has("nonexistent.key"));
    }

    void errorsNameKeyPathAndExpectation_data() {
        QTest::addColumn<QString>("yaml");
        QTest::addColumn<QString>("expected");
        QTest::newRow("string for number") << "task: x\nloss_weights:\n  contrastive: high\n"
                                           << "line 3: loss_weights.contrastive: expected a number ≥ 0, got \"high\"";
        QTest::newRow("negative") << "task: x\nloss_weights: {contrastive: -1}\n"
                                  << "line 2: loss_weights.contrastive: expected a number ≥ 0, got \"-1\"";
        QTest::newRow("float for int") << "task: x\nbatch_size: 8.5\n"
                                       << "line 2: batch_size: expected an integer ≥ 1, got \"8.5\"";
        QTest::newRow("quoted number") << "task: x\nepochs: \"8\"\n"
                                       << "line 2: epochs: expected an integer ≥ 1, got \"8\"";
        QTest::newRow("nan") << "task: x\nlr: .nan\n"
                             << "line 2: lr: expected a number > 0, got \".nan\"";
        QTest::newRow("range") << "task: x\nema_decay: 1.5\n"
                               << "line 2: ema_decay: expected a number in [0, 1], got \"1.5\"";
        QTest::newRow("choice") << "task: x\nprecision: fp8\n"
                                << "line 2: precision: expected one of fp32, bf16, fp16, got \"fp8\"";
        QTest::newRow("bool") << "task: x\nchannels_last: maybe\n"
                              << "line 2: channels_last: expected true or false, got \"maybe\"";
        QTest::newRow("list") << "task: x\nlabels: a\n"
                              << "line 2: labels: expected a list of strings, got \"a\"";
        QTest::newRow("typo") << "task: x\nbatch_sise: 4\n"
                              << "line 2: batch_sise: unknown key (did you mean \"batch_size\"?)";
        QTest::newRow("nested typo") << "task: x\nloss_weights:\n  contrastiv: 1\n"
                                     << "line 3: loss_weights.contrastiv: unknown key (did you mean "
                                        "\"loss_weights.contrastive\"?)";
        QTest::newRow("section as scalar") << "task: x\nloss_weights: 3\n"
                                           << "line 2: loss_weights: expected a mapping of settings, got \"3\"";
        QTest::newRow("missing required") << "lr: 0.1\n"
                                          << "task: required key is missing";
        QTest::newRow("not a map") << "- a\n- b\n"
                                   << "line 1: expected a mapping of settings at the top, got a list";
    }
    void errorsNameKeyPathAndExpectation() {
        QFETCH(QString, yaml);
        QFETCH(QString, expected);
        const auto issues = validate(parseYaml(yaml.toStdString()), clipSchema());
        QCOMPARE(issues.size(), size_t(1));
        QCOMPARE(QString::fromStdString(issues[0].toString()), expected);
    }

    void everyIssueIsReportedAndFileNamed() {
        QTemporaryDir dir;
        const std::string path = dir.filePath("bad.yaml").toStdString();
        std::ofstream(path) << "task: x\nlr: fast\nepochs: 0\nunknown_thing: 1\n";
        try {
            loadConfigFile(path, clipSchema());
            QFAIL("no exception");
        } catch (const ConfigError& e) {
            QCOMPARE(e.issues().size(), size_t(3));
            const std::string text = e.what();
            QVERIFY2(text.find(path + ":2: lr: expected a number > 0, got \"fast\"") != std::string::npos,
                     text.c_str());
            QVERIFY(text.find(path + ":3: epochs:") != std::string::npos);
            QVERIFY(text.find(path + ":4: unknown_thing: unknown key") != std::string::npos);
        }
    }

    void syntaxErrorAndMissingFile() {
        try {
            parseYaml("task: [unclosed\n", "c.yaml");
            QFAIL("no exception");
        } catch (const ConfigError& e) {
            QVERIFY2(std::string(e.what()).rfind("c.yaml:", 0) == 0, e.what());
            QVERIFY(std::string(e.what()).find("YAML syntax error") != std::string::npos);
        }
        try {
            loadYamlFile("/nonexistent/config.yaml");
            QFAIL("no exception");
        } catch (const ConfigError& e) {
            QVERIFY(std::string(e.what()).find("/nonexistent/config.yaml") != std::string::npos);
        }
    }

    void canonicalHashIgnoresSpellingAndOrder() {
        const Schema s = clipSchema();
        const Config a = makeConfig(parseYaml("task: t\nlr: 1e-4\nchannels_last: yes\n"
                                              "loss_weights: {captioning: 0.5, contrastive: 1}\n"),
                                    s);
        const Config b = makeConfig(parseYaml("loss_weights:\n  contrastive: 1.0\n  captioning: .5\n"
                                              "channels_last: true\nlr: 0.0001\ntask: t\n"
                                              "batch_size: 8\n"),
                                    s);  // 8 is the default
        QCOMPARE(a.canonical(), b.canonical());
        QCOMPARE(a.hash(), b.hash());
        QCOMPARE(a.hash().size(), size_t(64));
        const Config c = makeConfig(parseYaml("task: t\nlr: 2e-4\n"), s);
        QVERIFY(a.hash() != c.hash());
        // The canonical text is sorted JSON of the effective config.
        QVERIFY(a.canonical().find("\"batch_size\":8") != std::string::npos);
        QVERIFY(a.canonical().find("\"lr\":0.0001") != std::string::npos);
        QVERIFY(a.canonical().find("\"channels_last\":true") != std::string::npos);
        // Round trip through YAML text gives the same hash.
        const Config d = makeConfig(parseYaml(a.toYaml()), s);
        QCOMPARE(d.hash(), a.hash());
    }

    void seedEverythingRepeats() {
        seedEverything(1234);
        const SeedProbe a = drawSeedProbe();
        const SeedProbe a2 = drawSeedProbe();
        seedEverything(1234);
        const SeedProbe b = drawSeedProbe();
        QCOMPARE(b.stdRand, a.stdRand);
        QCOMPARE(b.opencv, a.opencv);
        QCOMPARE(b.torch, a.torch);
        QVERIFY(a2.torch != a.torch && a2.opencv != a.opencv);  // generators do advance
        seedEverything(99);
        const SeedProbe c = drawSeedProbe();
        QVERIFY(c.torch != a.torch && c.opencv != a.opencv && c.stdRand != a.stdRand);
    }

    void environmentRecord() {
        const nlohmann::json env = captureEnvironment();
        QVERIFY(env["libraries"]["libtorch"].get<std::string>().rfind("1.", 0) == 0);
        QVERIFY(env["libraries"]["opencv"].get<std::string>().rfind("4.", 0) == 0);
        QVERIFY(env["libraries"]["dcmtk"].get<std::string>().rfind("3.", 0) == 0);
        QVERIFY(!env["libraries"]["sqlite"].get<std::string>().empty());
        QVERIFY(env["compiler"].get<std::string>().find("GCC") != std::string::npos);
        QVERIFY(env["cpu"]["logical_cores"].get<int>() >= 1);
        QVERIFY(env["threads"]["torch_intra_op"].get<int>() >= 1);
        QVERIFY(!env["os"]["name"].get<std::string>().empty());
        QVERIFY(env.contains("blas"));
        // LibTorch is linked, so a BLAS library is mapped into this process.
        QVERIFY2(!env["blas"]["name"].get<std::string>().empty(), env.dump().c_str());
    }
};

QTEST_GUILESS_MAIN(TestConfig)
#include "test_config.moc"
