// facekit/core/thread_pool.hpp: a small std::thread pool for data-parallel loops.
//
// parallel_for(n, fn) runs fn(i) for every i in [0, n) on the pool's threads and the caller, and returns
// when all are done. Tasks write disjoint outputs and each is computed by exactly one thread with a fixed
// order of arithmetic, so results never depend on the number of threads. Workers spin briefly before
// sleeping: the networks issue a few hundred short loops per image, and waking a sleeping thread costs
// more than many of those loops take. A pool of size 1 runs everything on the caller (embedded use).
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace facekit {

class ThreadPool {
public:
    /// threads = total threads that work, the caller included; 0 means one per hardware thread.
    explicit ThreadPool(int threads = 0) {
        if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
        ranges_ = std::vector<Range>(std::size_t(threads));
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

    int size() const noexcept { return int(workers_.size()) + 1; }

    /// Runs fn(i) for i in [0, n). Exceptions thrown by fn are rethrown here (the first one wins).
    /// Called from inside a task, or while another thread owns the pool, it runs serially instead.
    template <class F>
    void parallel_for(std::int64_t n, F&& fn) {
        if (n <= 0) return;
        std::unique_lock<std::mutex> owner(run_mutex_, std::try_to_lock);
        if (workers_.empty() || n == 1 || in_task() || !owner.owns_lock()) {
            for (std::int64_t i = 0; i < n; ++i) fn(i);
            return;
        }
        using Fn = std::remove_reference_t<F>;
        job_ = Job{[](void* ctx, std::int64_t i) { (*static_cast<Fn*>(ctx))(i); }, &fn, n};
        const std::int64_t threads = std::int64_t(ranges_.size());
        for (std::int64_t t = 0; t < threads; ++t) {
            ranges_[std::size_t(t)].next.store(n * t / threads, std::memory_order_relaxed);
            ranges_[std::size_t(t)].end = n * (t + 1) / threads;
        }
        pending_.store(int(workers_.size()), std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        work(0);
        while (pending_.load(std::memory_order_acquire) != 0) spin_pause();
        if (error_) {
            auto e = error_;
            error_ = nullptr;
            std::rethrow_exception(e);
        }
    }

private:
    struct Job {
        void (*call)(void*, std::int64_t) = nullptr;
        void* ctx = nullptr;
        std::int64_t n = 0;
    };

    static bool& in_task() {
        thread_local bool flag = false;
        return flag;
    }
    static void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        std::this_thread::yield();
#endif
    }

    /// Thread `self` runs its own range of tasks first, front to back, then helps with the others'. The
    /// same task numbers fall to the same thread from one loop to the next (a layer's rows, then the
    /// next layer's same rows), so a thread mostly reads what it wrote, from its own cache: on two cores
    /// a shared counter scattered them, and each of MobileFaceNet's layers moved its input between caches.
    void work(int self) {
        in_task() = true;
        const std::size_t threads = ranges_.size();
        for (std::size_t k = 0; k < threads; ++k) {
            Range& r = ranges_[(std::size_t(self) + k) % threads];
            for (;;) {
                std::int64_t i = r.next.fetch_add(1, std::memory_order_relaxed);
                if (i >= r.end) break;
                try {
                    job_.call(job_.ctx, i);
                } catch (...) {
                    std::lock_guard<std::mutex> lock(mutex_);
                    if (!error_) error_ = std::current_exception();
                    for (Range& q : ranges_) q.next.store(q.end, std::memory_order_relaxed);
                }
            }
        }
        in_task() = false;
    }

    void worker_loop(int self) {
        std::uint64_t seen = 0;
        for (;;) {
            // Spin a little (about 50 µs) before sleeping: the next loop usually starts within that.
            std::uint64_t g = generation_.load(std::memory_order_acquire);
            for (int spin = 0; g == seen && spin < 20000; ++spin) {
                spin_pause();
                g = generation_.load(std::memory_order_acquire);
            }
            if (g == seen) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
                g = generation_.load(std::memory_order_acquire);
            }
            seen = g;
            if (stop_) return;
            work(self);
            pending_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }

    std::vector<std::thread> workers_;
    std::mutex mutex_, run_mutex_;
    std::condition_variable wake_;
    std::atomic<std::uint64_t> generation_{0};
    /// Each thread's tasks [next, end) of the current loop, a cache line apart.
    struct alignas(64) Range {
        std::atomic<std::int64_t> next{0};
        std::int64_t end = 0;
        Range() = default;
        Range(const Range&) : Range() {}  // for std::vector; never copied while in use
        Range& operator=(const Range&) { return *this; }
    };
    std::vector<Range> ranges_;
    std::atomic<int> pending_{0};
    Job job_;
    std::exception_ptr error_;
    bool stop_ = false;
};

}  // namespace facekit
