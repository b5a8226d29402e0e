// libFuzzer target: YAML config parsing and validation against the common schema.
#include "config/config.h"
#include "config/schema.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const YAML::Node root = lumen::config::parseYaml(text, "fuzz.yaml");
        const auto issues = lumen::config::validate(root, lumen::config::commonSchema());
        if (issues.empty()) (void)lumen::config::makeConfig(root, lumen::config::commonSchema(), "fuzz.yaml");
    } catch (const lumen::config::ConfigError&) {
        // Bad input is reported as ConfigError naming the file: expected. Anything else escapes
        // and libFuzzer reports it as a finding.
    }
    return 0;
}
