#pragma once
// The bench programs' command line: `--key value` pairs over a map of defaults; an unknown
// key is named on stderr.

#include <cstdio>
#include <map>
#include <string>

namespace lumen::bench {

/// Overwrites `options` with the pairs of argv; false (after naming it) on an unknown key.
inline bool parseOptions(int argc, char** argv, std::map<std::string, std::string>& options, const char* program) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!options.count(argv[i])) {
            std::fprintf(stderr, "%s: unknown option %s\n", program, argv[i]);
            return false;
        }
        options[argv[i]] = argv[i + 1];
    }
    return true;
}

}  // namespace lumen::bench
