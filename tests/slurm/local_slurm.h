#pragma once
// A real single-node Slurm for the tests: scripts/slurm-local.sh starts munged, slurmctld and
// slurmd on loopback with a generated slurm.conf in a folder of the test's, and stops them by
// their PIDs when the fixture is destroyed (also when a test fails). Each test process notes
// its cluster's folder in the temp folder (lumen-test-slurm-<pid>), so the daemons of a test
// killed before its cleanup are stopped by the next start.

#include <QByteArray>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QStringList>

#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace lumen::test {

class LocalSlurm {
public:
    /// The Debian packages the local cluster needs.
    static QString packages() { return "slurmctld slurmd slurm-client munge"; }

    /// The programs it needs that are not installed (PATH plus /usr/sbin).
    static QStringList missingPrograms() {
        QStringList missing;
        const QStringList path = QString::fromLocal8Bit(qgetenv("PATH")).split(':') + QStringList{"/usr/sbin", "/sbin"};
        for (const char* program :
             {"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "srun", "sinfo"})
            if (QStandardPaths::findExecutable(program, path).isEmpty()) missing << program;
        return missing;
    }

    LocalSlurm() = default;
    LocalSlurm(const LocalSlurm&) = delete;
    LocalSlurm& operator=(const LocalSlurm&) = delete;
    ~LocalSlurm() { stop(); }

    /// Starts the cluster in `dir` and sets SLURM_CONF in this process's environment (children
    /// inherit it). "" on success, else the script's output.
    QString start(const QString& dir) {
        stopOrphans();
        QFile mine(rememberFile(::getpid()));
        if (mine.open(QIODevice::WriteOnly)) mine.write(dir.toUtf8());
        mine.close();
        const QString out = script("start", dir);
        if (!out.isNull()) return out;
        dir_ = dir;
        qputenv("SLURM_CONF", (dir + "/slurm.conf").toUtf8());
        return {};
    }

    void stop() {
        if (dir_.isEmpty()) return;
        script("stop", dir_);
        QFile::remove(rememberFile(::getpid()));
        dir_.clear();
    }

    QString dir() const { return dir_; }
    double startSeconds() const { return startSeconds_; }

private:
    /// Where a test process notes the folder of the cluster it started.
    static QString rememberFile(qint64 pid) { return QDir::tempPath() + QString("/lumen-test-slurm-%1").arg(pid); }

    /// Stops the clusters of test processes that died before their cleanup (never a live
    /// process's: two test runs may share the machine).
    void stopOrphans() {
        const QStringList notes = QDir(QDir::tempPath()).entryList({"lumen-test-slurm-*"}, QDir::Files);
        for (const QString& note : notes) {
            const qint64 pid = note.section('-', -1).toLongLong();
            if (pid <= 0 || (::kill(pid_t(pid), 0) == 0 || errno == EPERM)) continue;  // alive
            QFile f(QDir::tempPath() + "/" + note);
            if (!f.open(QIODevice::ReadOnly)) continue;
            const QString dir = QString::fromUtf8(f.readAll()).trimmed();
            f.close();
            if (!dir.isEmpty() && QFile::exists(dir + "/slurm.conf")) script("stop", dir);
            f.remove();
        }
    }

    /// Runs scripts/slurm-local.sh ACTION DIR; a null string on success, else its output.
    QString script(const QString& action, const QString& dir) {
        QElapsedTimer clock;
        clock.start();
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start("/bin/bash", {LUMEN_SOURCE_DIR "/scripts/slurm-local.sh", action, dir});
        const bool done = p.waitForFinished(90000);
        if (action == "start") startSeconds_ = clock.elapsed() / 1000.0;
        const QString out = QString::fromUtf8(p.readAll());
        if (done && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0) return QString();
        if (!done) p.kill();
        return QString("slurm-local.sh %1 %2 failed (exit %3):\n%4").arg(action, dir).arg(p.exitCode()).arg(out);
    }

    QString dir_;
    double startSeconds_ = 0;
};

}  // namespace lumen::test
