#include "config/environment.h"

#include "util/sibling_library.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <opencv2/core/version.hpp>
#include <sqlite3.h>

#include <dlfcn.h>
#include <sys/utsname.h>

#include <cstdlib>
#include <filesystem>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#ifndef LUMEN_VERSION
#define LUMEN_VERSION "unknown"
#endif
#ifndef LUMEN_BUILD_TYPE
#define LUMEN_BUILD_TYPE "unknown"
#endif

namespace lumen::config {
namespace {

std::string osPrettyName() {
    std::ifstream in("/etc/os-release");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("PRETTY_NAME=", 0) == 0) {
            std::string value = line.substr(12);
            if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
            return value;
        }
    }
    return "unknown";
}

nlohmann::json cpuInfo() {
    std::ifstream in("/proc/cpuinfo");
    std::string model = "unknown";
    std::set<std::string> flags;
    for (std::string line; std::getline(in, line);) {
        auto value = [&] {
            auto colon = line.find(':');
            return colon == std::string::npos ? std::string() : line.substr(colon + 2);
        };
        if (line.rfind("model name", 0) == 0 && model == "unknown") model = value();
        if (line.rfind("flags", 0) == 0 && flags.empty()) {
            std::istringstream words(value());
            for (std::string w; words >> w;) flags.insert(w);
        }
    }
    nlohmann::json simd = nlohmann::json::array();
    for (const char* f : {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"})
        if (flags.count(f)) simd.push_back(f);
    return {{"model", model},
            {"logical_cores", std::thread::hardware_concurrency()},
            {"simd", simd},
            {"bf16", flags.count("avx512_bf16") > 0 || flags.count("amx_bf16") > 0}};
}

// LibTorch's part comes from liblumen_ml, loaded from beside this library on demand.
nlohmann::json torchPart() {
    try {
        using Fn = char* (*)();
        auto fn = reinterpret_cast<Fn>(util::siblingLibrarySymbol("liblumen_ml.so", "lumen_ml_torch_environment_json"));
        char* text = fn();
        nlohmann::json j = nlohmann::json::parse(text ? text : "null");
        std::free(text);
        return j;
    } catch (const std::exception& e) {
        return {{"error", e.what()}};
    }
}

// The kernel set a DYNAMIC_ARCH OpenBLAS runs (its openblas_get_corename: what it detected, or
// what OPENBLAS_CORETYPE asked for), or "" for another BLAS. It decides the GEMMs' rounding, so
// a run records it (docs/building.md, "BLAS kernels").
std::string openBlasCore(const std::string& path) {
    void* lib = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (!lib) return "";
    std::string core;
    if (auto* corename = reinterpret_cast<char* (*)()>(::dlsym(lib, "openblas_get_corename")))
        if (const char* c = corename()) core = c;
    ::dlclose(lib);
    return core;
}

}  // namespace

nlohmann::json loadedBlas() {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        auto slash = line.find('/');
        if (slash == std::string::npos) continue;
        const std::string path = line.substr(slash);
        const std::string file = path.substr(path.rfind('/') + 1);
        if (file.find("blas") == std::string::npos) continue;
        std::string name = "other";
        if (path.find("openblas-openmp") != std::string::npos) name = "openblas-openmp";
        else if (path.find("openblas-pthread") != std::string::npos) name = "openblas-pthread";
        else if (path.find("openblas") != std::string::npos) name = "openblas";
        else if (path.find("/blas/") != std::string::npos) name = "reference";
        else if (path.find("mkl") != std::string::npos) name = "mkl";
        return {{"name", name}, {"path", path}, {"core", openBlasCore(path)}};
    }
    return {{"name", ""}, {"path", ""}, {"core", ""}};
}

nlohmann::json captureEnvironment() {
    utsname uts{};
    uname(&uts);
    nlohmann::json env;
    env["lumen"] = {{"version", LUMEN_VERSION}, {"build_type", LUMEN_BUILD_TYPE}};
    env["compiler"] = std::string("GCC ") + __VERSION__;
    env["os"] = {
        {"name", osPrettyName()}, {"kernel", std::string(uts.sysname) + " " + uts.release}, {"machine", uts.machine}};
    env["cpu"] = cpuInfo();
    const nlohmann::json torch = torchPart();
    const bool haveTorch = torch.is_object() && torch.contains("libtorch");
    env["threads"] = {{"hardware", std::thread::hardware_concurrency()},
                      {"torch_intra_op", haveTorch ? torch["threads"]["intra_op"] : nlohmann::json(nullptr)},
                      {"torch_inter_op", haveTorch ? torch["threads"]["inter_op"] : nlohmann::json(nullptr)}};
    env["libraries"] = {{"libtorch", haveTorch ? torch["libtorch"] : nlohmann::json(nullptr)},
                        {"opencv", CV_VERSION},
                        {"dcmtk", OFFIS_DCMTK_VERSION_STRING},
                        {"sqlite", sqlite3_libversion()},
                        {"nlohmann_json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                              std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                              std::to_string(NLOHMANN_JSON_VERSION_PATCH)}};
    env["torch"] = torch;
    env["blas"] = loadedBlas();  // after torchPart(): LibTorch is what maps libblas
    return env;
}

}  // namespace lumen::config
