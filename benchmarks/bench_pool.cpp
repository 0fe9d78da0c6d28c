// Thread pool benchmark: what a parallel loop costs against the same tasks run on the calling thread, for
// loops from empty to ~20 µs of work, on a quiet machine and with N spinning threads of other work. The
// break-even (the smallest loop worth splitting) sets Context::kSerialFlops.
// Usage: bench_pool [--threads 2] [--busy N] [--reps 20000]
#include <facekit/engine/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;

/// A task of `steps` dependent multiply-adds (~1.3 ns each here) writing its own cache line.
struct Task {
    int steps;
    std::vector<double>* out;
    void operator()(std::int64_t i) const {
        double x = double(i);
        for (int k = 0; k < steps; ++k) x = x * 1.0000001 + 1e-9;
        (*out)[std::size_t(i) * 8] = x;
    }
};

template <class F>
double mean_us(int reps, F&& f) {
    f();
    const auto t0 = Clock::now();
    for (int r = 0; r < reps; ++r) f();
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / reps;
}
}  // namespace

int main(int argc, char** argv) {
    int threads = 2, busy = 0, reps = 20000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--threads") threads = std::atoi(argv[i + 1]);
        else if (a == "--busy") busy = std::atoi(argv[i + 1]);
        else if (a == "--reps") reps = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: bench_pool [--threads N] [--busy N] [--reps N]\n");
            return 2;
        }
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> spinners;
    for (int i = 0; i < busy; ++i)
        spinners.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
            }
        });
    facekit::ThreadPool pool(threads);
    std::printf("threads %d, busy %d: mean µs per loop of 8 tasks\n", threads, busy);
    std::printf("| work per loop (serial µs) | serial | parallel | parallel / serial |\n|---|---|---|---|\n");
    std::vector<double> out(64 * 8);
    for (int steps : {0, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800}) {
        const Task task{steps, &out};
        const int n = 8, r = std::max(200, reps / (1 + steps / 100));
        const double serial = mean_us(r, [&] {
            for (int i = 0; i < n; ++i) task(i);
        });
        const double parallel = mean_us(r, [&] { pool.parallel_for(n, task); });
        std::printf("| %.2f | %.2f | %.2f | %.2f |\n", serial, serial, parallel, parallel / serial);
    }
    stop = true;
    for (auto& t : spinners) t.join();
    return 0;
}
