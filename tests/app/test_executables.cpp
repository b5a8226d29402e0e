// Runs the built executables as a user would: lumen-cli's commands and exit codes, and
// `lumen --demo --screenshot` producing a non-blank window image.
#include "test_support.h"

#include <QImage>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>

namespace {

struct Result {
    int code = -1;
    QString out, err;
};

Result run(const QString& program, const QStringList& args,
           const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment(), int timeoutMs = 120000) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(program, args);
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return {-1, {}, "timed out"};
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

const QString kCli = LUMEN_BINARY_DIR "/bin/lumen-cli";
const QString kGui = LUMEN_BINARY_DIR "/bin/lumen";
const QString kTestPlugins = LUMEN_BINARY_DIR "/tests/plugins";

}  // namespace

class TestExecutables : public QObject {
    Q_OBJECT
private slots:
    void helpOnEveryCommand_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        QTest::newRow("top") << QStringList{"--help"} << "Commands:";
        QTest::newRow("env") << QStringList{"env", "--help"} << "Usage: lumen-cli env";
        QTest::newRow("config") << QStringList{"config", "--help"} << "Usage: lumen-cli config check";
        QTest::newRow("demo") << QStringList{"demo", "--help"} << "Usage: lumen-cli demo";
        QTest::newRow("data") << QStringList{"data", "--help"} << "Usage: lumen-cli data import-nih";
        QTest::newRow("train") << QStringList{"train", "--help"} << "Usage: lumen-cli train --config";
        QTest::newRow("infer") << QStringList{"infer", "--help"} << "Usage: lumen-cli infer --config";
    }
    void helpOnEveryCommand() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const Result r = run(kCli, args);
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains(expected), qPrintable(r.out));
    }

    void usageErrorsExitTwo_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("message");
        QTest::newRow("nothing") << QStringList{} << "Usage:";
        QTest::newRow("unknown command") << QStringList{"frobnicate"} << "unknown command \"frobnicate\"";
        QTest::newRow("unknown option") << QStringList{"env", "--fast"} << "unknown option --fast";
        QTest::newRow("demo without out") << QStringList{"demo"} << "demo needs --out DIR";
        QTest::newRow("bad seed") << QStringList{"demo", "--out", "/tmp/x", "--seed", "abc"}
                                  << "--seed: expected a non-negative integer, got \"abc\"";
        QTest::newRow("missing config") << QStringList{"config", "check", "/nonexistent/c.yaml"}
                                        << "/nonexistent/c.yaml: no such file";
        QTest::newRow("train without config") << QStringList{"train"} << "train needs --config C.yaml";
        QTest::newRow("infer without config") << QStringList{"infer", "--out", "o"} << "infer needs --config";
        QTest::newRow("infer baseline without out")
            << QStringList{"infer", "--config", "c.yaml", "--baseline", "b.csv"} << "--baseline needs --out";
        QTest::newRow("train missing config")
            << QStringList{"train", "--config", "/nonexistent/c.yaml"} << "/nonexistent/c.yaml: no such file";
    }
    void usageErrorsExitTwo() {
        QFETCH(QStringList, args);
        QFETCH(QString, message);
        const Result r = run(kCli, args);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
    }

    void envPrintsJson() {
        const Result r = run(kCli, {"env"});
        QCOMPARE(r.code, 0);
        const QJsonObject env = QJsonDocument::fromJson(r.out.toUtf8()).object();
        const QJsonObject libs = env["libraries"].toObject();
        QVERIFY2(libs["qt"].toString().startsWith("6."), qPrintable(r.out));
        QVERIFY(libs["vtk"].toString().startsWith("9."));
        QVERIFY(libs["libtorch"].toString().startsWith("1."));
        QVERIFY(libs["opencv"].toString().startsWith("4."));
        QVERIFY(!env["blas"].toObject()["name"].toString().isEmpty());
        QVERIFY(env["cpu"].toObject()["logical_cores"].toInt() >= 1);
        // OpenBLAS's kernel set is recorded, and it is the one the process runs: forced to
        // Prescott (SSE3, which every x86-64 CPU here runs), it says so. (Debian's LibTorch maps
        // OpenBLAS.)
        QVERIFY2(env["blas"].toObject()["name"].toString().startsWith("openblas"), qPrintable(r.out));
        QVERIFY2(!env["blas"].toObject()["core"].toString().isEmpty(), qPrintable(r.out));
        QProcessEnvironment forced = QProcessEnvironment::systemEnvironment();
        forced.insert("OPENBLAS_CORETYPE", "Prescott");
        QProcess p;
        p.setProcessEnvironment(forced);
        p.start(kCli, {"env"});
        QVERIFY(p.waitForFinished(60000));
        const QJsonObject e = QJsonDocument::fromJson(p.readAllStandardOutput()).object();
        QCOMPARE(e["blas"].toObject()["core"].toString().toLower(), QString("prescott"));
    }

    void configCheck() {
        QTemporaryDir dir;
        auto write = [&](const QString& name, const QByteArray& text) {
            QFile f(dir.filePath(name));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(text);
        };
        write("good.yaml", "task: test_echo\nrows: 4\nlr: 3e-4\n");
        write("bad.yaml", "task: test_echo\nrows: 0\nloss_weight: 1\n");
        write("unknown.yaml", "task: nope\n");
        Result r = run(kCli, {"--plugin-dir", kTestPlugins, "config", "check", dir.filePath("good.yaml"), "--print"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.err.contains("OK (task test_echo"), qPrintable(r.err));
        QVERIFY(r.out.contains("rows: 4"));
        QVERIFY(r.out.contains("epochs: 8"));  // default filled in
        r = run(kCli, {"--plugin-dir", kTestPlugins, "config", "check", dir.filePath("bad.yaml")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(dir.filePath("bad.yaml") + ":2: rows: expected an integer in [1, 100000], got \"0\""),
                 qPrintable(r.err));
        QVERIFY(r.err.contains(":3: loss_weight: unknown key"));
        r = run(kCli, {"--plugin-dir", kTestPlugins, "config", "check", dir.filePath("unknown.yaml")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("task: unknown task \"nope\""), qPrintable(r.err));
    }

    void demoWritesAWorkspace() {
        QTemporaryDir dir;
        const Result r = run(kCli, {"demo", "--out", dir.filePath("demo"), "--seed", "3"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("demo workspace written to"));
        QVERIFY(QFile::exists(dir.filePath("demo/demo.json")));
        QVERIFY(QFile::exists(dir.filePath("demo/predictions/baseline.csv")));
        QVERIFY(r.err.contains("%"));  // progress went to stderr
    }

    void guiHelpWithoutADisplay() {
        // --help and --version answer without a display; the GUI itself says it needs one
        // instead of aborting in Qt's platform plugin.
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}) env.remove(name);
        const Result help = run(kGui, {"--help"}, env);
        QCOMPARE(help.code, 0);
        QVERIFY2(help.out.contains("--workspace <DIR>") && help.out.contains("--screenshot <FILE>"),
                 qPrintable(help.out));
        const Result version = run(kGui, {"--version"}, env);
        QCOMPARE(version.code, 0);
        QVERIFY2(QRegularExpression("^Lumen \\d+\\.\\d+").match(version.out).hasMatch(), qPrintable(version.out));
        const Result none = run(kGui, {}, env);
        QCOMPARE(none.code, 2);
        QVERIFY2(none.err.contains("lumen: no display"), qPrintable(none.err));
    }

    void guiScreenshotOfTheDemo() {
        QTemporaryDir dir;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("XDG_DATA_HOME", dir.filePath("data"));
        env.insert("XDG_CONFIG_HOME", dir.filePath("config"));
        if (env.value("QT_QPA_PLATFORM") == "offscreen") env.remove("QT_QPA_PLATFORM");
        const QString png = dir.filePath("main.png");
        const Result r = run(kGui, {"--demo", "--screenshot", png}, env, 240000);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QImage image(png);
        QVERIFY(!image.isNull());
        QVERIFY(image.width() >= 1000 && image.height() >= 600);
        QSet<QRgb> colours;
        for (int y = 0; y < image.height(); y += 7)
            for (int x = 0; x < image.width(); x += 7) colours.insert(image.pixel(x, y));
        QVERIFY2(colours.size() > 20, qPrintable(QString::number(colours.size())));
        QVERIFY(QFile::exists(dir.filePath("data/Lumen/Lumen/demo/demo.json")));
    }
};

QTEST_GUILESS_MAIN(TestExecutables)
#include "test_executables.moc"
