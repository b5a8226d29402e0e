#pragma once
// SQLite files a scan must never open. Opening and closing any descriptor of a database
// file drops every POSIX lock this process holds on it (SQLite: "How To Corrupt An SQLite
// Database File", §2.2); another process closing its connection then believes it is the
// last one and deletes the -wal and -shm files under our open connection. So code that
// walks a folder (DICOM scans) recognises these files by name alone and skips them.

#include <filesystem>

namespace lumen::util {

/// True for lumen.db, any *.db / *.sqlite / *.sqlite3 file and SQLite's companions
/// (<db>-wal, <db>-shm, <db>-journal), decided from the name without touching the file.
bool isDatabaseFile(const std::filesystem::path& file);

}  // namespace lumen::util
