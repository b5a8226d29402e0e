#include "runs/run_lock.h"

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace lumen::runs {

RunLock::RunLock(const std::filesystem::path& runDir) {
    const auto file = fileIn(runDir);
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw RunStoreError(file.string() + ": cannot create the run lock: " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        ::close(fd_);
        fd_ = -1;
        throw RunStoreError(file.string() + (error == EWOULDBLOCK
                                                 ? ": the run is held by another process"
                                                 : ": cannot lock: " + std::string(std::strerror(error))));
    }
}

RunLock::~RunLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

bool RunLock::isHeld(const std::filesystem::path& runDir) {
    const int fd = ::open(fileIn(runDir).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;  // no lock file: nobody is running it
    const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    return !free;
}

std::vector<std::int64_t> markInterruptedRuns(RunStore& store, const Workspace& workspace) {
    std::vector<std::int64_t> marked;
    for (const auto& r : store.runs(RunStatus::Running)) {
        if (RunLock::isHeld(workspace.runDir(r.id, r.task))) continue;
        if (store.markInterrupted(r.id, "interrupted: the process running it stopped without finishing it"))
            marked.push_back(r.id);
    }
    return marked;
}

}  // namespace lumen::runs
