#include "util/database_files.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <string_view>

namespace lumen::util {

namespace {
bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

bool isDatabaseFile(const std::filesystem::path& file) {
    std::string name = file.filename().string();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    for (std::string_view companion : {"-wal", "-shm", "-journal"})
        if (endsWith(name, companion)) name.resize(name.size() - companion.size());
    constexpr std::array<std::string_view, 4> kSuffixes{".db", ".sqlite", ".sqlite3", ".db3"};
    return std::any_of(kSuffixes.begin(), kSuffixes.end(), [&](std::string_view s) { return endsWith(name, s); });
}

}  // namespace lumen::util
