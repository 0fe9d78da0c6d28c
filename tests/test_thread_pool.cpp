// The thread pool on its own: every task runs once whatever the waits, a thread that is late has its share
// taken by the others, exceptions, small loops on the caller, and the contention monitor's decisions.
// Run under TSan in CI.
#include <atomic>
#include <mutex>
#include <thread>

#include "facekit/engine/workspace.hpp"
#include <doctest/doctest.h>

using namespace facekit;
using Clock = std::chrono::steady_clock;

namespace {
/// Waits that never spin: every hand-over goes through the sleeping paths (condition variables).
ThreadPool::Waits no_spinning() {
    ThreadPool::Waits w;
    w.idle = std::chrono::microseconds(0);
    w.join = std::chrono::microseconds(0);
    return w;
}
}  // namespace

TEST_CASE("every task runs exactly once, with spinning and with sleeping waits, on more threads than cores") {
    const int many = int(std::max(2u, std::thread::hardware_concurrency())) * 3;
    for (ThreadPool::Waits waits : {ThreadPool::Waits{}, no_spinning()}) {
        for (int threads : {2, 3, many}) {
            ThreadPool pool(threads, waits);
            std::vector<std::atomic<int>> runs(97);
            long bad = 0;
            for (int loop = 0; loop < 2000; ++loop) {
                const std::int64_t n = 1 + loop % 97;
                for (auto& r : runs) r.store(0, std::memory_order_relaxed);
                pool.parallel_for(n, [&](std::int64_t i) { runs[std::size_t(i)].fetch_add(1, std::memory_order_relaxed); });
                for (std::int64_t i = 0; i < 97; ++i) bad += runs[std::size_t(i)].load() != (i < n ? 1 : 0);
                if (loop % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // workers go to sleep
            }
            CAPTURE(threads);
            CHECK(bad == 0);
        }
    }
}

TEST_CASE("a late thread's share is taken by the caller, which runs its own share first, in order") {
    for (ThreadPool::Waits waits : {ThreadPool::Waits{}, no_spinning()}) {
        ThreadPool pool(2, waits);
        const std::thread::id caller = std::this_thread::get_id();
        std::mutex m;
        std::vector<std::int64_t> by_caller;
        std::atomic<bool> slept{false};
        pool.parallel_for(64, [&](std::int64_t i) {
            if (std::this_thread::get_id() != caller) {
                // the worker's first task holds it up for 50 ms: a thread the kernel has descheduled
                if (!slept.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
                return;
            }
            std::lock_guard<std::mutex> lock(m);
            by_caller.push_back(i);
        });
        REQUIRE(by_caller.size() >= 63);  // all but the one task the worker may have begun
        for (std::int64_t i = 0; i < 32; ++i) CHECK(by_caller[std::size_t(i)] == i);
    }
}

TEST_CASE("loops of tiny tasks, handed over through sleeping waits, never hang or lose a task") {
    // Most of these loops end before the worker wakes; the ones it joins race its wake-up, its join and
    // its leaving against the caller's close: a lost wake-up would hang here, a lost task show in the sum.
    ThreadPool pool(2, no_spinning());
    std::atomic<long> sum{0};
    for (int loop = 0; loop < 20000; ++loop)
        pool.parallel_for(2, [&](std::int64_t i) { sum.fetch_add(i + 1, std::memory_order_relaxed); });
    CHECK(sum.load() == 20000L * 3);
}

TEST_CASE("an exception in a task is rethrown to the caller, and the pool goes on working") {
    for (ThreadPool::Waits waits : {ThreadPool::Waits{}, no_spinning()}) {
        ThreadPool pool(3, waits);
        for (int rep = 0; rep < 50; ++rep) {
            CHECK_THROWS_WITH(pool.parallel_for(100, [&](std::int64_t i) {
                if (i == 77) throw std::runtime_error("task 77");
            }),
                              "task 77");
            std::atomic<int> count{0};
            pool.parallel_for(100, [&](std::int64_t) { count.fetch_add(1); });
            CHECK(count.load() == 100);
        }
    }
}

TEST_CASE("a loop below Context::kSerialFlops runs on the calling thread alone") {
    ThreadPool pool(2);
    Context ctx{&pool, nullptr};
    const std::thread::id caller = std::this_thread::get_id();
    for (int rep = 0; rep < 100; ++rep) {
        std::atomic<int> elsewhere{0};
        ctx.parallel_for(16, Context::kSerialFlops / 2, [&](std::int64_t) {
            if (std::this_thread::get_id() != caller) elsewhere.fetch_add(1);
        });
        REQUIRE(elsewhere.load() == 0);
    }
    std::atomic<int> count{0};
    ctx.parallel_for(16, Context::kSerialFlops * 2, [&](std::int64_t) { count.fetch_add(1); });
    CHECK(count.load() == 16);
}

TEST_CASE("the contention monitor: a quiet rate of preemptions is not contention, a busy one is for 100 ms") {
    using M = detail::ContentionMonitor;
    M monitor;
    M::Sample s{&monitor, 0, Clock::now()};
    Clock::time_point t = s.at;
    // 50 a second, sampled every 10 ms for a second: a quiet machine
    for (int i = 1; i <= 100; ++i) {
        t += std::chrono::milliseconds(10);
        monitor.observe(s, t, i / 2);
        REQUIRE_FALSE(monitor.contended(t));
    }
    // 1500 a second (a core shared with a spinning program)
    t += std::chrono::milliseconds(10);
    monitor.observe(s, t, s.count + 15);
    CHECK(monitor.contended(t));
    CHECK(monitor.contended(t + std::chrono::milliseconds(99)));
    CHECK_FALSE(monitor.contended(t + std::chrono::milliseconds(101)));
    // samples closer than 10 ms apart are not taken: a burst of two in 1 ms is not a rate
    M fresh;
    M::Sample f{&fresh, 0, t};
    fresh.observe(f, t + std::chrono::milliseconds(1), 2);
    CHECK_FALSE(fresh.contended(t + std::chrono::milliseconds(1)));
    CHECK(f.count == 0);
}

TEST_CASE("a pool keeps its results while other threads take its cores") {
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    std::atomic<bool> stop{false};
    std::vector<std::thread> spinners;
    for (int i = 0; i < cores; ++i)
        spinners.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
            }
        });
    ThreadPool pool(2);
    std::vector<double> out(1000), expected(1000);
    for (std::size_t i = 0; i < out.size(); ++i) expected[i] = double(i) * 0.5 + 1;
    long bad = 0;
    for (int loop = 0; loop < 300; ++loop) {
        std::fill(out.begin(), out.end(), 0.0);
        pool.parallel_for(1000, [&](std::int64_t i) { out[std::size_t(i)] = double(i) * 0.5 + 1; });
        bad += out != expected;
    }
    stop = true;
    for (auto& t : spinners) t.join();
    CHECK(bad == 0);
}
