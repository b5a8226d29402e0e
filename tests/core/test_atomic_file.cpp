// Qt Test suite for "nothing lost" (docs/reliability.md): util::writeFileAtomically (checked
// writes, nothing left behind on failure, both the in-memory and the producer form), the NIfTI
// writer on a full disk (RLIMIT_FSIZE), and the test helper that runs programs: a timeout is a
// failure, never exit 0.
#include "io/image_volume.h"
#include "io/nifti_reader.h"
#include "io/nifti_writer.h"
#include "util/atomic_file.h"

#include "test_support.h"

#include <QElapsedTimer>
#include <QTemporaryDir>

#include <random>
#include <stdexcept>

using namespace lumen;
namespace fs = std::filesystem;

namespace {

io::ImageVolume noiseVolume(int side) {
    io::ImageVolume v;
    v.depth = v.rows = v.columns = side;
    v.isVolume = true;
    v.values.resize(std::size_t(side) * side * side);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1000, 1000);
    for (auto& x : v.values) x = u(rng);  // noise: gzip cannot shrink it below the limit
    return v;
}

}  // namespace

class TestAtomicFile : public QObject {
    Q_OBJECT
private slots:
    void writesAndReplacesWhole() {
        QTemporaryDir dir;
        const fs::path f = dir.filePath("f.txt").toStdString();
        util::writeFileAtomically(f, "first");
        util::writeFileAtomically(f, std::string(100000, 'x'));
        QCOMPARE(readTextFile(f), std::string(100000, 'x'));
        util::writeFileAtomically(f, [](const fs::path& tmp) { std::ofstream(tmp) << "produced"; });
        QCOMPARE(readTextFile(f), std::string("produced"));
        QCOMPARE(namesIn(dir.path().toStdString()), std::vector<std::string>{"f.txt"});
    }

    // A full disk mid-write: an error naming the file, the old content intact, no temporary
    // file left.
    void fullDiskLeavesTheOldFileAndNoTemporary() {
        QTemporaryDir dir;
        const fs::path f = dir.filePath("f.bin").toStdString();
        util::writeFileAtomically(f, "old");
        {
            FileSizeLimit limit(4096);
            const std::string error =
                errorOf<std::runtime_error>([&] { util::writeFileAtomically(f, std::string(1 << 20, 'y')); });
            QVERIFY2(error.find(f.string()) != std::string::npos && error.find("cannot write") != std::string::npos,
                     error.c_str());
        }
        QCOMPARE(readTextFile(f), std::string("old"));
        QCOMPARE(namesIn(dir.path().toStdString()), std::vector<std::string>{"f.bin"});
        // A producer that fails after writing part of its file leaves nothing either.
        const std::string error = errorOf<std::runtime_error>([&] {
            util::writeFileAtomically(dir.filePath("g.bin").toStdString(), [](const fs::path& tmp) {
                std::ofstream(tmp) << "partial";
                throw std::runtime_error("producer failed");
            });
        });
        QCOMPARE(error, std::string("producer failed"));
        QCOMPARE(namesIn(dir.path().toStdString()), std::vector<std::string>{"f.bin"});
        const std::string missing = errorOf<std::runtime_error>(
            [&] { util::writeFileAtomically(dir.filePath("no/such/dir/h.txt").toStdString(), "x"); });
        QVERIFY2(missing.find("no/such/dir/h.txt") != std::string::npos, missing.c_str());
    }

    // nifti_image_write reports nothing: a short file must still be an error, and no file
    // (temporary or truncated target) stays behind. Good writes round-trip.
    void niftiWriterOnAFullDisk_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("nii") << "v.nii";
        QTest::newRow("nii.gz") << "v.nii.gz";
    }
    void niftiWriterOnAFullDisk() {
        QFETCH(QString, name);
        QTemporaryDir dir;
        const fs::path f = dir.filePath(name).toStdString();
        const io::ImageVolume v = noiseVolume(48);  // 442 KB of floats
        {
            FileSizeLimit limit(64 * 1024);
            const std::string error = errorOf<std::runtime_error>([&] { io::writeNifti(f, v); });
            QVERIFY2(error.find(f.string()) != std::string::npos, error.c_str());
        }
        QCOMPARE(namesIn(dir.path().toStdString()), std::vector<std::string>{});
        io::writeNifti(f, v);
        QCOMPARE(io::readNifti(f).values, v.values);
        QCOMPARE(namesIn(dir.path().toStdString()), std::vector<std::string>{name.toStdString()});
    }

    // The helper behind runLumenCli: a program still running at the timeout is killed and
    // reads as a failure (code -1, timedOut), not as exit 0.
    void processTimeoutIsAFailure() {
        QElapsedTimer clock;
        clock.start();
        const CliOutcome r = runProcess("/bin/sleep", {"30"}, 300);
        QVERIFY(r.timedOut);
        QCOMPARE(r.code, -1);
        QVERIFY2(r.err.find("timed out") != std::string::npos, r.err.c_str());
        QVERIFY(clock.elapsed() < 15000);
        const CliOutcome ok = runProcess("/bin/sh", {"-c", "exit 3"}, 30000);
        QVERIFY(!ok.timedOut);
        QCOMPARE(ok.code, 3);
    }
};

QTEST_GUILESS_MAIN(TestAtomicFile)
#include "test_atomic_file.moc"
