// DICOM decode throughput of lumen::io::readDicom: each file is read and decoded repeatedly
// for at least --min-seconds; one JSON line per file with frames and the best time of one read.
// bench/run_dicom_bench.py runs it beside pydicom.
//
// Usage: dicom_decode_bench [--min-seconds 0.5] [--threads N] [--values as-pydicom|float] FILE...
//   --threads: frame-decoding threads (io::setDicomDecodeThreads; 0 = all cores, 1 = serial)
//   --values as-pydicom (default): what pydicom's pixel_array + apply_modality_lut hands back —
//     the stored samples, and float values only where a modality rescale changes them (a
//     stored-first read, then io::ensureValues); float: stored and float values always.
#include "io/dicom_reader.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    double minSeconds = 0.5;
    int threads = -1;
    bool asPydicom = true;
    std::vector<std::string> files;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--min-seconds" && i + 1 < argc) minSeconds = std::stod(argv[++i]);
        else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
        else if (a == "--values" && i + 1 < argc) asPydicom = std::string(argv[++i]) != "float";
        else files.push_back(a);
    }
    if (threads >= 0) lumen::io::setDicomDecodeThreads(unsigned(threads));
    for (const auto& f : files) {
        nlohmann::json row{{"file", f}};
        try {
            using clock = std::chrono::steady_clock;
            // CPU time too: on a shared, loaded machine it is what a quiet one would show as
            // wall time for serial work.
            auto cpuNow = [] {
                timespec t{};
                clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
                return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
            };
            double best = 1e30, total = 0, bestCpu = 1e30;
            int reps = 0;
            long frames = 0;
            while (total < minSeconds || reps < 3) {
                const auto t0 = clock::now();
                const double c0 = cpuNow();
                lumen::io::DicomReadOptions options;
                if (asPydicom) options.values = lumen::io::PixelValues::StoredFirst;
                auto v = lumen::io::readDicom(f, options);
                if (asPydicom && v.samples == 1 && lumen::io::hasRescale(v.meta)) lumen::io::ensureValues(v);
                const double s = std::chrono::duration<double>(clock::now() - t0).count();
                bestCpu = std::min(bestCpu, cpuNow() - c0);
                frames = long(v.time) * v.depth;
                best = std::min(best, s);
                total += s;
                ++reps;
            }
            row["frames"] = frames;
            row["seconds"] = best;
            row["cpu_seconds"] = bestCpu;
            row["reps"] = reps;
        } catch (const std::exception& e) {
            row["error"] = e.what();
        }
        std::cout << row.dump() << "\n" << std::flush;
    }
    return 0;
}
