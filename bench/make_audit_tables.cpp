// Writes a baseline and a new predictions table for the audit benchmark: ROWS rows × COLS
// numeric columns, string ids, the new table shuffled and perturbed by small noise, with a
// few missing cells and ids only on one side.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s BASELINE.csv NEW.csv [ROWS=1000000] [COLS=20]\n", argv[0]);
        return 2;
    }
    const long rows = argc > 3 ? std::atol(argv[3]) : 1000000;
    const int cols = argc > 4 ? std::atoi(argv[4]) : 20;
    std::mt19937_64 rng(2026);
    std::uniform_real_distribution<double> u(0, 1);
    std::normal_distribution<double> noise(0, 1e-4);
    std::FILE* b = std::fopen(argv[1], "w");
    std::FILE* n = std::fopen(argv[2], "w");
    if (!b || !n) {
        std::perror("open");
        return 2;
    }
    std::fprintf(b, "study_id");
    std::fprintf(n, "study_id");
    for (int c = 0; c < cols; ++c) {
        std::fprintf(b, ",col%02d", c);
        std::fprintf(n, ",col%02d", c);
    }
    std::fputc('\n', b);
    std::fputc('\n', n);
    std::vector<double> values(std::size_t(rows) * std::size_t(cols));
    for (auto& v : values) v = u(rng);
    for (long r = 0; r < rows; ++r) {
        std::fprintf(b, "%07ld", r);
        for (int c = 0; c < cols; ++c) {
            if ((r * 31 + c) % 100003 == 0) std::fputs(",", b);
            else std::fprintf(b, ",%.6f", values[std::size_t(r) * std::size_t(cols) + std::size_t(c)]);
        }
        std::fputc('\n', b);
    }
    std::vector<long> order(static_cast<std::size_t>(rows));
    std::iota(order.begin(), order.end(), 0L);
    std::shuffle(order.begin(), order.end(), rng);
    for (long r : order) {
        if (r % 50000 == 17) continue;  // only in baseline
        std::fprintf(n, "%07ld", r);
        for (int c = 0; c < cols; ++c)
            std::fprintf(n, ",%.6f", values[std::size_t(r) * std::size_t(cols) + std::size_t(c)] + noise(rng));
        std::fputc('\n', n);
    }
    std::fprintf(n, "9999999");
    for (int c = 0; c < cols; ++c) std::fprintf(n, ",0.5");
    std::fputc('\n', n);
    std::fclose(b);
    std::fclose(n);
    return 0;
}
