#include "train/checkpoint_retention.h"

#include "util/atomic_file.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

namespace lumen::train {

std::vector<std::filesystem::path> pruneEpochCheckpoints(const std::filesystem::path& dir, const std::string& task,
                                                         std::uint64_t seed, std::int64_t keep,
                                                         const std::filesystem::path& best) {
    const std::string prefix = task + "_epoch";
    const std::string suffix = "_seed" + std::to_string(seed) + ".pt";
    std::vector<std::pair<long long, std::filesystem::path>> found;  // (epoch, file)
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const std::string n = entry.path().filename().string();
        if (n.size() <= prefix.size() + suffix.size() || n.rfind(prefix, 0) != 0 ||
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0 || !entry.is_regular_file(ec))
            continue;
        std::size_t end = prefix.size();
        while (end < n.size() && std::isdigit(static_cast<unsigned char>(n[end]))) ++end;
        if (end == prefix.size()) continue;
        found.emplace_back(std::stoll(n.substr(prefix.size(), end - prefix.size())), entry.path());
    }
    if (ec) throw std::runtime_error(dir.string() + ": cannot list the checkpoints: " + ec.message());
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::filesystem::path> removed;
    for (std::size_t i = static_cast<std::size_t>(std::max<std::int64_t>(keep, 0)); i < found.size(); ++i) {
        const auto& file = found[i].second;
        if (!best.empty() && util::samePath(file, best)) continue;
        if (!std::filesystem::remove(file, ec) || ec)
            throw std::runtime_error(file.string() + ": cannot remove the old checkpoint (keep_checkpoints): " +
                                     (ec ? ec.message() : std::string("gone")));
        removed.push_back(file);
    }
    return removed;
}

}  // namespace lumen::train
