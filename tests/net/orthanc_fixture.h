#pragma once
// A real Orthanc PACS for the network tests: started on loopback with its own config (free
// ports, storage in a temporary folder, our test AE in DicomModalities so C-GET/C-MOVE are
// allowed, called-AE checking on), loaded with DCMTK's `storescu`, stopped by its PID when
// the fixture is destroyed (SIGTERM, then SIGKILL) — also when a test fails. If the test
// process dies, the kernel sends Orthanc SIGTERM (PR_SET_PDEATHSIG).

#include <QByteArray>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>
#include <QThread>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::test {

/// Debian's Orthanc; LUMEN_ORTHANC overrides it (another install, or a check of the
/// missing-binary message).
inline QString orthancBinary() {
    const QByteArray override = qgetenv("LUMEN_ORTHANC");
    return override.isEmpty() ? QString("/usr/sbin/Orthanc") : QString::fromLocal8Bit(override);
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
inline int freeLoopbackPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot bind a loopback port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

/// True when something accepts TCP connections on 127.0.0.1:port.
inline bool isListening(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return ok;
}

class OrthancServer {
public:
    static constexpr const char* kAeTitle = "LUMEN_ORTHANC";
    static constexpr const char* kClientAeTitle = "LUMEN_TEST";

    OrthancServer() = default;
    OrthancServer(const OrthancServer&) = delete;
    OrthancServer& operator=(const OrthancServer&) = delete;
    ~OrthancServer() { stop(); }

    /// Starts Orthanc and waits until its DICOM port accepts connections. Returns an empty
    /// string on success, else what went wrong (with Orthanc's log).
    QString start() {
        const QString binary = orthancBinary();
        if (!QFile::exists(binary))
            return QString("%1 is missing: run scripts/install-deps.sh (Debian package `orthanc`)").arg(binary);
        if (!dir_.isValid()) return "cannot create a temporary folder";
        dicomPort_ = freeLoopbackPort();
        httpPort_ = freeLoopbackPort();
        clientPort_ = freeLoopbackPort();
        const QString config = dir_.filePath("orthanc.json");
        QFile file(config);
        if (!file.open(QIODevice::WriteOnly)) return "cannot write " + config;
        file.write(QString(R"({
  "Name": "LumenTestOrthanc",
  "StorageDirectory": "%1",
  "IndexDirectory": "%1",
  "StorageCompression": false,
  "Plugins": [],
  "HttpServerEnabled": true,
  "HttpPort": %2,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": true,
  "DicomAet": "%3",
  "DicomPort": %4,
  "DicomCheckCalledAet": true,
  "DicomCheckModalityHost": false,
  "DicomModalities": { "lumen": [ "%5", "127.0.0.1", %6 ] },
  "DicomScpTimeout": 30,
  "UnknownSopClassAccepted": true,
  "ConcurrentJobs": 1,
  "SaveJobs": false
}
)")
                       .arg(dir_.filePath("storage"))
                       .arg(httpPort_)
                       .arg(kAeTitle)
                       .arg(dicomPort_)
                       .arg(kClientAeTitle)
                       .arg(clientPort_)
                       .toUtf8());
        file.close();
        // Debian's Orthanc uses Debian's DCMTK, which leaves Nagle's algorithm on: every
        // instance sent then waits ~90 ms for a delayed ACK (core/net/pacs_client.cpp).
        process_.setProcessEnvironment(withNagleOff());
        process_.setProgram(binary);
        process_.setArguments({config});
        process_.setProcessChannelMode(QProcess::MergedChannels);
        process_.setStandardOutputFile(dir_.filePath("orthanc.log"));
        process_.setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGTERM); });
        QElapsedTimer timer;
        timer.start();
        process_.start();
        if (!process_.waitForStarted(10000)) return "cannot start Orthanc: " + process_.errorString();
        pid_ = process_.processId();
        while (!isListening(dicomPort_)) {
            if (process_.state() != QProcess::Running) return "Orthanc exited at start-up:\n" + log();
            if (timer.elapsed() > 20000) return "Orthanc did not listen within 20 s:\n" + log();
            QThread::msleep(25);
        }
        startupMs_ = timer.elapsed();
        return {};
    }

    /// SIGTERM by PID, wait up to 15 s, then SIGKILL. Idempotent.
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_t(pid_), SIGTERM);
        if (!process_.waitForFinished(15000)) {
            ::kill(pid_t(pid_), SIGKILL);
            process_.waitForFinished(5000);
        }
        pid_ = 0;
    }

    /// Sends files with `storescu`; returns "" on success, else the command's output.
    QString store(const std::vector<std::filesystem::path>& files, const QStringList& extraOptions = {}) const {
        QStringList args = extraOptions;
        args << "-aet"
             << "STORESCU"
             << "-aec" << kAeTitle << "127.0.0.1" << QString::number(dicomPort_);
        for (const auto& f : files) args << QString::fromStdString(f.string());
        QProcess p;
        p.setProcessEnvironment(withNagleOff());
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start("storescu", args);
        if (!p.waitForFinished(120000)) return "storescu did not finish";
        const QString out = QString::fromUtf8(p.readAll());
        if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
            return QString("storescu exited with %1:\n%2").arg(p.exitCode()).arg(out);
        return {};
    }

    QString log() const {
        QFile f(dir_.filePath("orthanc.log"));
        return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()).right(4000) : QString();
    }

    int dicomPort() const { return dicomPort_; }
    int httpPort() const { return httpPort_; }
    /// The port Orthanc's DicomModalities gives our AE: where a C-MOVE sends the instances.
    int clientPort() const { return clientPort_; }
    qint64 pid() const { return pid_; }
    qint64 startupMs() const { return startupMs_; }
    bool running() const { return process_.state() == QProcess::Running; }

private:
    static QProcessEnvironment withNagleOff() {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("TCP_NODELAY", "1");
        return env;
    }

    QTemporaryDir dir_;
    QProcess process_;
    qint64 pid_ = 0;
    qint64 startupMs_ = 0;
    int dicomPort_ = 0, httpPort_ = 0, clientPort_ = 0;
};

}  // namespace lumen::test
