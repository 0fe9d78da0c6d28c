// facekit/engine/layers.hpp: the layers whose speed depends on the backend, as templates over it.
// A layer holds its weights in the backend's packed form and runs forward; nothing else.
#pragma once
#include <type_traits>

#include "backend.hpp"
#include "conv_spec.hpp"
#include "ops.hpp"
#include "prepacked.hpp"

namespace facekit::nn {

/// 2-D convolution (any kernel, stride, padding) with its fused epilogue (bias, residual, ReLU/PReLU).
template <class Backend>
class Conv2d {
    static_assert(is_backend_v<Backend>, "Conv2d<Backend>: Backend lacks a member of the interface in engine/backend.hpp");

public:
    Conv2d() = default;
    explicit Conv2d(const ConvSpec& spec)
        : window_(spec.window), cin_(spec.cin), cout_(spec.cout), packed_(Backend::pack(spec)) {}

    int in_channels() const noexcept { return cin_; }
    int out_channels() const noexcept { return cout_; }
    const Window& window() const noexcept { return window_; }
    Shape output_shape(const Shape& in) const {
        if (in.c != cin_)
            FACEKIT_THROW(InvalidArgument("Conv2d expects " + std::to_string(cin_) + " input channels, got " + std::to_string(in.c)));
        return Shape(in.n, window_.out_h(in.h), window_.out_w(in.w), cout_);
    }
    double flops(const Shape& in) const { return 2.0 * double(output_shape(in).pixels()) * cout_ * window_.taps() * cin_; }

    /// out = act(conv(in) + bias), or act(residual + scale·(conv(in) + bias)) when residual is given.
    void forward(ConstView in, View out, const Context& ctx, const ConstView* residual = nullptr) const {
        detail::check_output(output_shape(in.shape), out.shape, "Conv2d");
        detail::check_residual(residual, out.shape, "Conv2d");
        Backend::conv(packed_, in, out, residual, ctx);
    }
    const typename Backend::PackedConv& packed() const noexcept { return packed_; }
    /// f(name, array) for each of the backend's packed arrays (packed weights files: prepacked.hpp);
    /// none where the backend has no packed layout.
    template <class F>
    void for_each_packed_array(F&& f) {
        if constexpr (detail::has_packed_layout<Backend>::value) Backend::for_each_array(packed_, f);
    }

private:
    Window window_;
    int cin_ = 0, cout_ = 0;
    typename Backend::PackedConv packed_;
};

namespace detail {
template <class Backend, class = void>
struct fuses_conv_maxpool : std::false_type {};
template <class Backend>
struct fuses_conv_maxpool<Backend, std::void_t<decltype(Backend::conv_maxpool(
                                        std::declval<const typename Backend::PackedConv&>(), std::declval<const MaxPool2d&>(),
                                        std::declval<ConstView>(), std::declval<View>(), std::declval<const Context&>()))>>
    : std::true_type {};

template <class Backend, class = void>
struct has_max_pool : std::false_type {};
template <class Backend>
struct has_max_pool<Backend, std::void_t<decltype(Backend::max_pool(std::declval<const MaxPool2d&>(), std::declval<ConstView>(),
                                                                   std::declval<View>(), std::declval<const Context&>()))>>
    : std::true_type {};
}  // namespace detail

/// Max pooling on Backend: its max_pool where it has one (the same floats), else MaxPool2d::forward.
template <class Backend>
void max_pool(const MaxPool2d& pool, ConstView in, View out, const Context& ctx) {
    if constexpr (detail::has_max_pool<Backend>::value) {
        detail::check_output(pool.output_shape(in.shape), out.shape, "MaxPool2d");
        Backend::max_pool(pool, in, out, ctx);
    } else {
        pool.forward(in, out, ctx);
    }
}

/// Max pooling as a layer on Backend (max_pool<Backend> of its MaxPool2d).
template <class Backend>
class MaxPool {
public:
    MaxPool() = default;
    explicit MaxPool(const MaxPool2d& spec) : spec_(spec) {}

    const MaxPool2d& spec() const noexcept { return spec_; }
    Shape output_shape(const Shape& in) const { return spec_.output_shape(in); }
    double flops(const Shape& in) const { return spec_.flops(in); }
    void forward(ConstView in, View out, const Context& ctx) const { max_pool<Backend>(spec_, in, out, ctx); }

private:
    MaxPool2d spec_;
};

/// A convolution, then max pooling: in one pass where the backend has one for the geometry
/// (Backend::conv_maxpool returns true; the same floats), else one after the other.
template <class Backend>
class ConvMaxPool2d {
public:
    ConvMaxPool2d() = default;
    ConvMaxPool2d(const ConvSpec& conv, const MaxPool2d& pool) : conv_(conv), pool_(pool) {}

    Shape output_shape(const Shape& in) const { return pool_.output_shape(conv_.output_shape(in)); }
    double flops(const Shape& in) const { return conv_.flops(in) + pool_.flops(conv_.output_shape(in)); }
    Conv2d<Backend>& conv() noexcept { return conv_; }
    void forward(ConstView in, View out, const Context& ctx) const {
        detail::check_output(output_shape(in.shape), out.shape, "ConvMaxPool2d");
        if constexpr (detail::fuses_conv_maxpool<Backend>::value)
            if (Backend::conv_maxpool(conv_.packed(), pool_, in, out, ctx)) return;
        thread_local Tensor between;  // the convolution's output (no allocation once grown)
        between.reshape(conv_.output_shape(in.shape));
        conv_.forward(in, between, ctx);
        max_pool<Backend>(pool_, between, out, ctx);
    }

private:
    Conv2d<Backend> conv_;
    MaxPool2d pool_;
};

/// Depthwise 2-D convolution (one filter per channel) with the same fused epilogue.
template <class Backend>
class DepthwiseConv2d {
    static_assert(is_backend_v<Backend>,
                  "DepthwiseConv2d<Backend>: Backend lacks a member of the interface in engine/backend.hpp");

public:
    DepthwiseConv2d() = default;
    explicit DepthwiseConv2d(const DepthwiseSpec& spec)
        : window_(spec.window), channels_(spec.channels), packed_(Backend::pack(spec)) {}

    int channels() const noexcept { return channels_; }
    Shape output_shape(const Shape& in) const {
        if (in.c != channels_) FACEKIT_THROW(InvalidArgument("DepthwiseConv2d: channel count mismatch"));
        return Shape(in.n, window_.out_h(in.h), window_.out_w(in.w), channels_);
    }
    double flops(const Shape& in) const { return 2.0 * double(output_shape(in).numel()) * window_.taps(); }
    void forward(ConstView in, View out, const Context& ctx, const ConstView* residual = nullptr) const {
        detail::check_output(output_shape(in.shape), out.shape, "DepthwiseConv2d");
        detail::check_residual(residual, out.shape, "DepthwiseConv2d");
        Backend::depthwise(packed_, in, out, residual, ctx);
    }
    template <class F>
    void for_each_packed_array(F&& f) {
        if constexpr (detail::has_packed_layout<Backend>::value) Backend::for_each_array(packed_, f);
    }

private:
    Window window_;
    int channels_ = 0;
    typename Backend::PackedDepthwise packed_;
};

/// A fully connected layer is a 1×1 convolution over an N×1×1×in tensor; weights are [out][in].
inline ConvSpec linear_spec(std::vector<float> weights, int in, int out, std::vector<float> bias = {}) {
    ConvSpec s;
    s.window = Window::square(1);
    s.cin = in, s.cout = out;
    s.weights = std::move(weights);
    s.epilogue.bias = bias.empty() ? std::vector<float>(std::size_t(out), 0.0f) : std::move(bias);
    s.validate();
    return s;
}

}  // namespace facekit::nn
