// facekit/engine/thread_pool.hpp: a small std::thread pool for data-parallel loops, built for a CPU it
// shares with other programs.
//
// parallel_for(n, fn) runs fn(i) for every i in [0, n) on the caller and on whichever of the pool's threads
// join in, and returns when all are done. Tasks write disjoint outputs and each is computed by exactly one
// thread with a fixed order of arithmetic, so results never depend on the number of threads, nor on which
// thread ran what. A pool of size 1 runs everything on the caller (embedded use).
//
// How it behaves when another program takes a core (the networks issue a few hundred loops per image, so
// the end of a loop is where time is lost):
// - The caller never waits for a thread to arrive. It starts on its own share at once; a worker that is
//   still asleep or descheduled when the tasks run out is not waited for, and joins a later loop instead.
// - Work moves to where the CPU is: thread t owns tasks [n·t/T, n·(t+1)/T) and runs them front to back
//   (the same rows fall to the same thread from one layer to the next, so it reads what it wrote, from its
//   own cache); when its own run out it takes the others' remaining tasks one at a time.
// - Every wait is bounded: spin for a short measured time (ThreadPool::Waits), then sleep on a condition
//   variable. The caller waits only for tasks already running; while it sleeps, its core is free for the
//   late thread to be moved onto, instead of burning it on a spin that the late thread cannot use.
// - When the pool's threads are being preempted (detail::ContentionMonitor: another program wants these
//   cores), idle workers do not spin at all. A spinning worker keeps its core from ever going idle, so the
//   kernel never moves the caller there when the caller shares a core with the other program: on 2 cores
//   with one spinning program, Inception-ResNet-v1 took 21 ms on 2 threads this way, 16 ms sleeping at once
//   (15.3 ms on 1 thread). On a quiet machine sleeping at once costs 10 % (9.7 → 10.7 ms), hence the test.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "error.hpp"

#if defined(__linux__)
#include <sys/resource.h>
#endif

namespace facekit {
namespace detail {

/// The calling thread's involuntary context switches so far: how often the kernel took its core away
/// while it could still run. Linux only; elsewhere 0, and the pool never sees contention.
inline long involuntary_switches() noexcept {
#if defined(__linux__) && defined(RUSAGE_THREAD)
    rusage ru{};
    if (getrusage(RUSAGE_THREAD, &ru) == 0) return ru.ru_nivcsw;
#endif
    return 0;
}

/// Whether the threads of a pool are being preempted: another program wants these cores. Each thread
/// samples its own count every 10 ms at most (one getrusage call); a rate above 200 a second marks
/// the pool contended for the next 100 ms. A quiet machine preempts a busy thread 20 to 60 times a
/// second (kernel threads, the thread's own wake-ups), a core shared with one spinning program 1000 to
/// 2000 times (2 cores, Linux 6.18, `facekit bench --busy 1`).
class ContentionMonitor {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr auto kSample = std::chrono::milliseconds(10), kHold = std::chrono::milliseconds(100);
    static constexpr double kPreemptionsPerSecond = 200;

    /// One thread's samples of its count (per thread: each reads its own).
    struct Sample {
        const ContentionMonitor* owner = nullptr;
        long count = 0;
        Clock::time_point at{};
    };

    bool contended(Clock::time_point now) const noexcept {
        return now.time_since_epoch().count() < until_.load(std::memory_order_relaxed);
    }
    /// Samples the calling thread's count if its last sample is old enough.
    void sample(Clock::time_point now) noexcept {
        Sample& mine = own();
        if (mine.owner != this) mine = Sample{this, involuntary_switches(), now};
        if (now - mine.at >= kSample) observe(mine, now, involuntary_switches());
    }
    /// Takes `count` switches at `now` into `mine`'s rate (the seam the tests drive with made-up counts).
    void observe(Sample& mine, Clock::time_point now, long count) noexcept {
        const auto elapsed = now - mine.at;
        if (elapsed < kSample) return;
        const double rate = double(count - mine.count) / std::chrono::duration<double>(elapsed).count();
        mine.count = count, mine.at = now;
        if (rate > kPreemptionsPerSecond) until_.store((now + kHold).time_since_epoch().count(), std::memory_order_relaxed);
    }

private:
    static Sample& own() noexcept {
        thread_local Sample s;
        return s;
    }
    std::atomic<Clock::rep> until_{0};
};

}  // namespace detail

class ThreadPool {
public:
    /// How long a thread spins before it sleeps. A wake-up from sleep costs a few microseconds to tens of
    /// them (futex, scheduler); the networks' loops follow each other within a microsecond, so a short spin
    /// keeps them on time without holding a core that another program needs for longer than that.
    struct Waits {
        std::chrono::microseconds idle{100};  ///< a worker waiting for the next loop
        std::chrono::microseconds join{20};   ///< the caller waiting for the last running tasks of a loop
    };

    /// threads = total threads that work, the caller included; 0 means one per hardware thread.
    explicit ThreadPool(int threads = 0) : ThreadPool(threads, Waits()) {}
    ThreadPool(int threads, Waits waits) : waits_(waits) {
        if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
        if (threads > kMaxThreads) FACEKIT_THROW(InvalidArgument("ThreadPool: at most 4096 threads"));
        ranges_ = std::vector<Range>(std::size_t(threads));
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_.store(true, std::memory_order_relaxed);
            state_.store(state_.load() + kGeneration, std::memory_order_seq_cst);  // closed, nobody joined
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

    int size() const noexcept { return int(workers_.size()) + 1; }

    /// Runs fn(i) for i in [0, n). Exceptions thrown by fn are rethrown here (the first one wins; the
    /// tasks not yet started are skipped). Called from inside a task, or while another thread runs a loop
    /// on this pool, it runs serially on the calling thread instead.
    template <class F>
    void parallel_for(std::int64_t n, F&& fn) {
        if (n <= 0) return;
        std::unique_lock<std::mutex> owner(run_mutex_, std::try_to_lock);
        if (workers_.empty() || n == 1 || in_task() || !owner.owns_lock()) {
            for (std::int64_t i = 0; i < n; ++i) fn(i);
            return;
        }
        // Nobody has joined and the loop is closed: the job and the ranges are the caller's to write.
        using Fn = std::remove_reference_t<F>;
        job_ = Job{[](const void* ctx, std::int64_t i) { (*static_cast<Fn*>(const_cast<void*>(ctx)))(i); }, &fn};
        const std::int64_t threads = std::int64_t(ranges_.size());
        for (std::int64_t t = 0; t < threads; ++t) {
            ranges_[std::size_t(t)].next.store(n * t / threads, std::memory_order_relaxed);
            ranges_[std::size_t(t)].end = n * (t + 1) / threads;
        }
        open_loop();
        work(0);
        close_loop_and_wait();
#ifndef FACEKIT_NO_EXCEPTIONS
        if (error_) {
            auto e = error_;
            error_ = nullptr;
            std::rethrow_exception(e);
        }
#endif
    }

private:
    // state_ packs the loop's generation, whether it is open to join, and how many workers have joined:
    // one atomic, so that "join only while open" and "close, then count who is in" cannot interleave.
    static constexpr int kMaxThreads = 4096;
    static constexpr std::uint64_t kJoinedMask = 0xffff, kOpen = 1u << 16, kGeneration = 1u << 17;
    static std::uint64_t generation(std::uint64_t s) { return s / kGeneration; }

    struct Job {
        void (*call)(const void*, std::int64_t) = nullptr;
        const void* ctx = nullptr;  // the caller's fn, const or not (call restores its type)
    };
    /// Each thread's tasks [next, end) of the current loop, a cache line apart.
    struct alignas(64) Range {
        std::atomic<std::int64_t> next{0};
        std::int64_t end = 0;
        Range() = default;
        Range(const Range&) : Range() {}  // for std::vector; never copied while in use
        Range& operator=(const Range&) { return *this; }
    };

    static bool& in_task() {
        thread_local bool flag = false;
        return flag;
    }
    static void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__ARM_ARCH) && __ARM_ARCH >= 7)
        __asm__ __volatile__("yield");
#endif
    }
    /// Spins until done() or until `limit` has passed; true if done(). The clock is read every 64 pauses.
    template <class Done>
    static bool spin_until(Done&& done, std::chrono::microseconds limit) {
        if (limit.count() <= 0) return done();
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (unsigned i = 1;; ++i) {
            if (done()) return true;
            spin_pause();
            if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) return done();
        }
    }

    /// Publishes the next generation, open to join, and wakes the workers that sleep.
    void open_loop() {
        const std::uint64_t s = state_.load(std::memory_order_relaxed);
        state_.store((generation(s) + 1) * kGeneration | kOpen, std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_seq_cst) > 0) {
            { std::lock_guard<std::mutex> lock(mutex_); }  // a sleeper between its check and its wait holds it
            wake_.notify_all();
        }
    }

    /// Closes the loop to late arrivals and waits for the workers that joined: every task has been taken
    /// when the caller's work() returns, so these are the tasks still running.
    void close_loop_and_wait() {
        std::uint64_t s = state_.fetch_and(~kOpen, std::memory_order_acq_rel);
        auto all_left = [&] { return (state_.load(std::memory_order_acquire) & kJoinedMask) == 0; };
        monitor_.sample(std::chrono::steady_clock::now());  // the caller is the thread a busy machine hurts
        if ((s & kJoinedMask) == 0 || spin_until(all_left, waits_.join)) return;
        // The last worker out takes the mutex before it notifies: either it took it before this thread did
        // (then its count is visible here), or this thread is already waiting. A flag "the caller sleeps",
        // read by the worker instead, needs store-load ordering between two atomics, which qemu-user's
        // Arm emulation on x86 does not give: the caller slept through its wake-up (test_thread_pool).
        std::unique_lock<std::mutex> lock(mutex_);
        while ((state_.load(std::memory_order_acquire) & kJoinedMask) != 0) done_.wait(lock);
    }

    /// Thread `self` runs its own range of tasks first, front to back, then takes the others' remaining
    /// tasks one at a time, starting with the next thread's.
    void work(int self) {
        in_task() = true;
        const std::size_t threads = ranges_.size();
        for (std::size_t k = 0; k < threads; ++k) {
            Range& r = ranges_[(std::size_t(self) + k) % threads];
            for (;;) {
                std::int64_t i = r.next.fetch_add(1, std::memory_order_relaxed);
                if (i >= r.end) break;
#ifdef FACEKIT_NO_EXCEPTIONS
                job_.call(job_.ctx, i);  // a failure calls the error hook, which does not return
#else
                try {
                    job_.call(job_.ctx, i);
                } catch (...) {
                    std::lock_guard<std::mutex> lock(mutex_);
                    if (!error_) error_ = std::current_exception();
                    for (Range& q : ranges_) q.next.store(q.end, std::memory_order_relaxed);
                }
#endif
            }
        }
        in_task() = false;
    }

    void worker_loop(int self) {
        std::uint64_t seen = 0;  // the last generation this thread has looked at
        for (;;) {
            std::uint64_t s = state_.load(std::memory_order_acquire);
            auto news = [&] { return generation(s = state_.load(std::memory_order_acquire)) != seen; };
            const auto now = std::chrono::steady_clock::now();
            monitor_.sample(now);
            if (!spin_until(news, monitor_.contended(now) ? std::chrono::microseconds(0) : waits_.idle)) {
                std::unique_lock<std::mutex> lock(mutex_);
                sleepers_.fetch_add(1, std::memory_order_seq_cst);
                while (generation(s = state_.load(std::memory_order_seq_cst)) == seen) wake_.wait(lock);
                sleepers_.fetch_sub(1, std::memory_order_relaxed);
            }
            if (stop_.load(std::memory_order_relaxed)) return;
            seen = generation(s);
            // Join while the loop is open; a loop that closed before this thread got here is not its business.
            while ((s & kOpen) && generation(s) == seen) {
                if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire))
                    continue;
                work(self);
                const std::uint64_t before = state_.fetch_sub(1, std::memory_order_seq_cst);
                if ((before & kJoinedMask) == 1) {  // the last one out: the caller may be waiting
                    { std::lock_guard<std::mutex> lock(mutex_); }  // it is in its wait, or will see zero
                    done_.notify_one();
                }
                break;
            }
        }
    }

    Waits waits_;
    detail::ContentionMonitor monitor_;
    std::vector<std::thread> workers_;
    std::vector<Range> ranges_;
    Job job_;
    std::exception_ptr error_;
    std::atomic<std::uint64_t> state_{0};
    std::atomic<int> sleepers_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_, run_mutex_;
    std::condition_variable wake_, done_;
};

}  // namespace facekit
