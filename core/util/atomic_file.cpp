#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

namespace lumen::util {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& target, const std::string& what, int err) {
    throw std::runtime_error(target.string() + ": " + what + ": " + std::strerror(err));
}

fs::path folderOf(const fs::path& path) { return path.has_parent_path() ? path.parent_path() : fs::path("."); }

/// A temporary file beside the target: `.lumen-tmp-<random>-<name>`; removed unless committed.
class TempFile {
public:
    explicit TempFile(const fs::path& target) : target_(target) {
        std::random_device rd;
        path_ = folderOf(target) / (".lumen-tmp-" + std::to_string(rd()) + "-" + target.filename().string());
    }
    ~TempFile() {
        if (!committed_) ::unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const fs::path& path() const { return path_; }

    /// Renames the (synced) temporary file over the target, then syncs the folder.
    void commit() {
        if (::rename(path_.c_str(), target_.c_str()) != 0) fail(target_, "cannot replace the file", errno);
        committed_ = true;
        sync(folderOf(target_), O_RDONLY | O_DIRECTORY, "cannot sync its folder");
    }

    /// fsync of an existing file or folder, every call checked.
    void sync(const fs::path& what, int flags, const char* message) const {
        const int fd = ::open(what.c_str(), flags | O_CLOEXEC);
        if (fd < 0) fail(target_, message, errno);
        if (::fsync(fd) != 0) {
            const int err = errno;
            ::close(fd);
            fail(target_, message, err);
        }
        if (::close(fd) != 0) fail(target_, message, errno);
    }

private:
    fs::path target_, path_;
    bool committed_ = false;
};

}  // namespace

void writeFileAtomically(const fs::path& path, std::string_view content) {
    TempFile tmp(path);
    const int fd = ::open(tmp.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail(path, "cannot write", errno);
    std::size_t written = 0;
    while (written < content.size()) {
        const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            ::close(fd);
            fail(path, "cannot write", err);
        }
        written += std::size_t(n);
    }
    if (::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        fail(path, "cannot write", err);
    }
    if (::close(fd) != 0) fail(path, "cannot write", errno);
    tmp.commit();
}

void writeFileAtomically(const fs::path& path, const std::function<void(const fs::path& tmp)>& produce) {
    TempFile tmp(path);
    produce(tmp.path());
    std::error_code ec;
    if (!fs::is_regular_file(tmp.path(), ec))
        throw std::runtime_error(path.string() + ": cannot write: the writer produced no file");
    tmp.sync(tmp.path(), O_RDONLY, "cannot write");
    tmp.commit();
}

bool samePath(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
    return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

}  // namespace lumen::util
