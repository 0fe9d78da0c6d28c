// facekit/engine/tensor.hpp: 64-byte aligned owning buffers, NHWC tensors and non-owning views.
//
// Layout: every activation in facekit is NHWC (channels innermost). A convolution is then a matrix
// product whose rows are pixels and whose columns are output channels, read and written with unit stride;
// a 1x1 convolution needs no transform at all; depthwise layers vectorise across channels; and a channel
// concatenation is only a view with a larger pixel stride, so branches write straight into their slice.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "error.hpp"

namespace facekit {

inline constexpr std::size_t kAlignment = 64;  // one cache line, one AVX-512 register

/// An owning, 64-byte aligned, uninitialised array of trivially copyable T.
template <class T>
class AlignedBuffer {
public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t n) { resize(n); }
    AlignedBuffer(const AlignedBuffer& o) : AlignedBuffer(o.size_) {
        if (size_) std::memcpy(data_, o.data_, size_ * sizeof(T));
    }
    AlignedBuffer(AlignedBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    AlignedBuffer& operator=(AlignedBuffer o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        return *this;
    }
    ~AlignedBuffer() { std::free(data_); }

    /// Reallocates (dropping the contents) only when n exceeds the current size.
    void resize(std::size_t n) {
        if (n <= size_ && data_) return;
        if (n > std::numeric_limits<std::size_t>::max() / sizeof(T) - kAlignment) FACEKIT_THROW(std::bad_alloc());
        std::size_t bytes = (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
        void* p = std::aligned_alloc(kAlignment, bytes ? bytes : kAlignment);
        if (!p) FACEKIT_THROW(std::bad_alloc());
        std::free(data_);
        data_ = static_cast<T*>(p);
        size_ = n;
    }
    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

/// A layer's packed weights as its backend's kernels read them: either owned (packed at load, resize())
/// or borrowed, read-only, from a packed weights file that stays where it lies (flash, a mapped file;
/// borrow(), with the object that keeps those bytes alive). expect() records the size a packed file must
/// supply before borrow() is called (engine/prepacked.hpp).
class PackedArray {
public:
    PackedArray() = default;
    PackedArray(const PackedArray& o) : own_(o.borrowed_ ? AlignedBuffer<float>() : o.own_), owner_(o.owner_), size_(o.size_), borrowed_(o.borrowed_) {
        data_ = borrowed_ ? o.data_ : (size_ ? own_.data() : nullptr);
    }
    PackedArray(PackedArray&& o) noexcept { swap(o); }
    PackedArray& operator=(PackedArray o) noexcept { return swap(o), *this; }

    /// Owns n floats (uninitialised), to be filled through data() / operator[].
    void resize(std::size_t n) {
        own_.resize(n);
        data_ = n ? own_.data() : nullptr, size_ = n, borrowed_ = false, owner_.reset();
    }
    /// Holds nothing yet, but must be given n floats by borrow().
    void expect(std::size_t n) { own_ = AlignedBuffer<float>(), data_ = nullptr, size_ = n, borrowed_ = false, owner_.reset(); }
    /// Reads the size() floats at p from now on; `owner` keeps them alive (null for static storage).
    void borrow(const float* p, std::shared_ptr<const void> owner) {
        own_ = AlignedBuffer<float>(), data_ = p, borrowed_ = true, owner_ = std::move(owner);
    }

    const float* data() const noexcept { return data_; }
    float* data() noexcept { return borrowed_ ? nullptr : own_.data(); }  // writable only while owned
    std::size_t size() const noexcept { return size_; }
    bool borrowed() const noexcept { return borrowed_; }
    const float& operator[](std::size_t i) const noexcept { return data_[i]; }
    float& operator[](std::size_t i) noexcept { return own_[i]; }

private:
    void swap(PackedArray& o) noexcept {
        std::swap(own_, o.own_), std::swap(owner_, o.owner_), std::swap(data_, o.data_);
        std::swap(size_, o.size_), std::swap(borrowed_, o.borrowed_);
    }
    AlignedBuffer<float> own_;
    std::shared_ptr<const void> owner_;
    const float* data_ = nullptr;
    std::size_t size_ = 0;
    bool borrowed_ = false;
};

/// The extent of an NHWC tensor. Construction checks that every dimension is positive and that the
/// element count fits comfortably in memory arithmetic.
struct Shape {
    int n = 0, h = 0, w = 0, c = 0;

    Shape() = default;
    Shape(long long n_, long long h_, long long w_, long long c_) {
        constexpr long long kMaxDim = 1 << 28;
        if (n_ <= 0 || h_ <= 0 || w_ <= 0 || c_ <= 0 || n_ > kMaxDim || h_ > kMaxDim || w_ > kMaxDim || c_ > kMaxDim)
            FACEKIT_THROW(InvalidArgument("tensor shape " + str(n_, h_, w_, c_) + " has a dimension out of range"));
        if (static_cast<double>(n_) * h_ * w_ * c_ > double(1ull << 40))
            FACEKIT_THROW(InvalidArgument("tensor shape " + str(n_, h_, w_, c_) + " is too large"));
        n = int(n_), h = int(h_), w = int(w_), c = int(c_);
    }
    std::size_t pixels() const noexcept { return std::size_t(n) * h * w; }
    std::size_t numel() const noexcept { return pixels() * c; }
    bool operator==(const Shape& o) const noexcept { return n == o.n && h == o.h && w == o.w && c == o.c; }
    bool operator!=(const Shape& o) const noexcept { return !(*this == o); }
    std::string to_string() const { return str(n, h, w, c); }

private:
    static std::string str(long long a, long long b, long long c, long long d) {
        return "[" + std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(c) + "," + std::to_string(d) + "]";
    }
};

/// A non-owning NHWC view. `stride` is the distance in floats between consecutive pixels; it is larger
/// than `shape.c` when the view is a channel slice of a wider tensor (a branch of a concatenation).
template <class T>
struct BasicView {
    T* data = nullptr;
    Shape shape;
    std::ptrdiff_t stride = 0;

    BasicView() = default;
    BasicView(T* d, Shape s) : data(d), shape(s), stride(s.c) {}
    BasicView(T* d, Shape s, std::ptrdiff_t pixel_stride) : data(d), shape(s), stride(pixel_stride) {}
    template <class U, class = std::enable_if_t<std::is_convertible_v<U*, T*>>>
    BasicView(const BasicView<U>& o) : data(o.data), shape(o.shape), stride(o.stride) {}

    T* pixel(std::size_t flat_index) const noexcept { return data + std::ptrdiff_t(flat_index) * stride; }
    T* pixel(int n, int y, int x) const noexcept {
        return data + ((std::ptrdiff_t(n) * shape.h + y) * shape.w + x) * stride;
    }
    bool dense() const noexcept { return stride == shape.c; }
    /// Channels [c0, c0+count) of every pixel.
    BasicView channels(int c0, int count) const {
        if (c0 < 0 || count <= 0 || c0 + count > shape.c) FACEKIT_THROW(InvalidArgument("channel slice out of range"));
        return BasicView(data + c0, Shape(shape.n, shape.h, shape.w, count), stride);
    }
    /// Images [n0, n0+count) of the batch.
    BasicView batch(int n0, int count) const {
        if (n0 < 0 || count <= 0 || n0 + count > shape.n) FACEKIT_THROW(InvalidArgument("batch slice out of range"));
        return BasicView(data + std::ptrdiff_t(n0) * shape.h * shape.w * stride, Shape(count, shape.h, shape.w, shape.c), stride);
    }
};
using View = BasicView<float>;
using ConstView = BasicView<const float>;

/// An owning NHWC float tensor with aligned, densely packed storage.
class Tensor {
public:
    Tensor() = default;
    explicit Tensor(Shape s) : shape_(s), buf_(s.numel()) {}
    static Tensor zeros(Shape s) {
        Tensor t(s);
        std::memset(t.data(), 0, s.numel() * sizeof(float));
        return t;
    }
    /// Changes the shape; storage grows only when needed (no allocation in steady state).
    void reshape(Shape s) {
        buf_.resize(s.numel());
        shape_ = s;
    }
    const Shape& shape() const noexcept { return shape_; }
    float* data() noexcept { return buf_.data(); }
    const float* data() const noexcept { return buf_.data(); }
    std::size_t size() const noexcept { return shape_.numel(); }
    float& operator[](std::size_t i) noexcept { return buf_[i]; }
    float operator[](std::size_t i) const noexcept { return buf_[i]; }
    View view() noexcept { return View(data(), shape_); }
    ConstView view() const noexcept { return ConstView(data(), shape_); }
    operator View() noexcept { return view(); }
    operator ConstView() const noexcept { return view(); }

private:
    Shape shape_;
    AlignedBuffer<float> buf_;
};

}  // namespace facekit
