#include "cli_job.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QProcess>

#include <csignal>
#include <chrono>
#include <regex>
#include <stdexcept>

namespace lumen::app {

QString lumenCliPath() {
    // Installed and in the build tree, lumen-cli is beside lumen (bin/); test executables live
    // in the build tree's tests/, beside bin/.
    const QDir here(QCoreApplication::applicationDirPath());
    for (const QString& candidate : {here.filePath("lumen-cli"), here.filePath("../bin/lumen-cli")})
        if (QFileInfo(candidate).isExecutable()) return QDir::cleanPath(candidate);
    return QStringLiteral("lumen-cli");  // from PATH
}

namespace {

/// One line of the command's stderr into the job: progress or a log line.
void relayLine(const std::string& line, jobs::JobContext& job, std::string& lastError) {
    static const std::regex progress(R"(^\[\s*(\d+)%\]\s*(.*?)\s*(ETA\s+\d+\s*s)?\s*$)");
    std::smatch m;
    if (std::regex_match(line, m, progress)) {
        job.progress(std::stod(m[1]) / 100.0, m[2]);
        return;
    }
    auto starts = [&](const char* p) { return line.rfind(p, 0) == 0; };
    if (starts("info: ")) job.info(line.substr(6));
    else if (starts("warning: ")) job.warning(line.substr(9));
    else if (starts("error: ")) {
        lastError = line.substr(7);
        job.log(jobs::LogLevel::Error, lastError);
    } else if (!line.empty()) {
        if (line.find("lumen-cli:") != std::string::npos) lastError = line;
        job.info(line);
    }
}

}  // namespace

std::string runCliJob(const QStringList& args, jobs::JobContext& job, const std::function<void()>& tick) {
    QProcess p;
    p.start(lumenCliPath(), args);
    if (!p.waitForStarted(10000))
        throw std::runtime_error(lumenCliPath().toStdString() + ": cannot start (" + p.errorString().toStdString() +
                                 ")");
    std::string pending, lastError;
    bool interrupted = false;
    auto lastTick = std::chrono::steady_clock::now();
    auto drain = [&] {
        pending += p.readAllStandardError().toStdString();
        std::size_t cut;
        while ((cut = pending.find_first_of("\r\n")) != std::string::npos) {
            relayLine(pending.substr(0, cut), job, lastError);
            pending.erase(0, cut + 1);
        }
    };
    while (!p.waitForFinished(200)) {
        drain();
        if (job.isCancelled() && !interrupted) {
            ::kill(static_cast<pid_t>(p.processId()), SIGINT);
            interrupted = true;
        }
        if (tick && std::chrono::steady_clock::now() - lastTick > std::chrono::seconds(1)) {
            tick();
            lastTick = std::chrono::steady_clock::now();
        }
    }
    drain();
    relayLine(pending, job, lastError);
    if (tick) tick();
    const std::string out = p.readAllStandardOutput().toStdString();
    if (p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0) {
        const auto end = out.find_last_not_of('\n');
        if (end == std::string::npos) return {};
        const auto start = out.find_last_of('\n', end);
        return out.substr(start == std::string::npos ? 0 : start + 1,
                          end + 1 - (start == std::string::npos ? 0 : start + 1));
    }
    if (interrupted) throw jobs::Cancelled();
    throw std::runtime_error(lastError.empty() ? "lumen-cli " + args.join(' ').toStdString() +
                                                     " failed with exit code " + std::to_string(p.exitCode())
                                               : lastError);
}

}  // namespace lumen::app
