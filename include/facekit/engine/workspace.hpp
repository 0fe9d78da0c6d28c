// facekit/engine/workspace.hpp: scratch memory reused across forward passes.
// A network asks for numbered slots; a slot grows when a larger input arrives and is otherwise reused,
// so that steady-state inference performs no heap allocation.
#pragma once
#include <deque>
#include <vector>

#include "tensor.hpp"
#include "thread_pool.hpp"

namespace facekit {

class Workspace {
public:
    /// A scratch array of at least n elements in slot `slot` (contents unspecified).
    template <class T = float>
    T* scratch(std::size_t slot, std::size_t n) {
        if (slot >= bytes_.size()) bytes_.resize(slot + 1);
        bytes_[slot].resize(n * sizeof(T));
        return reinterpret_cast<T*>(bytes_[slot].data());
    }
    /// An activation tensor in slot `slot`, reshaped to s.
    Tensor& tensor(std::size_t slot, Shape s) {
        if (slot >= tensors_.size()) tensors_.resize(slot + 1);
        tensors_[slot].reshape(s);
        return tensors_[slot];
    }

    /// A table of n tensor views (a graph network's values by tensor id), reset to empty views.
    ConstView* views(std::size_t n) {
        if (views_.size() < n) views_.resize(n);
        std::fill(views_.begin(), views_.begin() + std::ptrdiff_t(n), ConstView());
        return views_.data();
    }

private:
    std::vector<ConstView> views_;
    // deques: growing them never moves the slots already handed out (a network holds several at once)
    std::deque<AlignedBuffer<unsigned char>> bytes_;
    std::deque<Tensor> tensors_;
};

/// Plans a network's workspace slots at construction: acquire() gives a slot no live tensor holds,
/// release() returns one whose tensor is read for the last time. Networks take their slot numbers from
/// it rather than writing them by hand, where two parts numbered alike would share memory unseen.
class SlotAllocator {
public:
    std::size_t acquire() {
        if (free_.empty()) return count_++;
        const std::size_t slot = free_.back();
        free_.pop_back();
        return slot;
    }
    void release(std::size_t slot) { free_.push_back(slot); }

private:
    std::vector<std::size_t> free_;
    std::size_t count_ = 0;
};

/// Where a layer runs: the thread pool (nullptr = the calling thread only) and its scratch memory.
struct Context {
    ThreadPool* pool = nullptr;
    Workspace* workspace = nullptr;

    /// Below this many floating-point operations a loop runs on the calling thread: handing half of it to
    /// a second thread and waiting for it costs more than it saves. The pool breaks even at about 2.5 µs of
    /// work on a quiet machine (`build/benchmarks/bench_pool`), 200 kflop of a small convolution here.
    static constexpr double kSerialFlops = 2e5;

    template <class F>
    void parallel_for(std::int64_t n, F&& fn) const {
        if (pool) pool->parallel_for(n, std::forward<F>(fn));
        else
            for (std::int64_t i = 0; i < n; ++i) fn(i);
    }
    /// The same for a loop of about `flops` operations in all: on the calling thread if below kSerialFlops.
    template <class F>
    void parallel_for(std::int64_t n, double flops, F&& fn) const {
        if (flops < kSerialFlops) Context{nullptr, workspace}.parallel_for(n, std::forward<F>(fn));
        else parallel_for(n, std::forward<F>(fn));
    }
    int threads() const noexcept { return pool ? pool->size() : 1; }
};

}  // namespace facekit
