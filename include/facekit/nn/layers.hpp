// facekit/nn/layers.hpp: the layers whose speed depends on the backend, as templates over it.
// A layer holds its weights in the backend's packed form and runs forward; nothing else.
#pragma once
#include "conv_params.hpp"

namespace facekit::nn {

/// 2-D convolution (any kernel, stride, padding) with its fused epilogue (bias, residual, ReLU/PReLU).
template <class Backend>
class Conv2d {
public:
    Conv2d() = default;
    explicit Conv2d(const ConvSpec& spec)
        : window_(spec.window), cin_(spec.cin), cout_(spec.cout), packed_(Backend::pack(spec)) {}

    int in_channels() const noexcept { return cin_; }
    int out_channels() const noexcept { return cout_; }
    const Window& window() const noexcept { return window_; }
    Shape output_shape(const Shape& in) const {
        if (in.c != cin_)
            throw InvalidArgument("Conv2d expects " + std::to_string(cin_) + " input channels, got " + std::to_string(in.c));
        return Shape(in.n, window_.out_h(in.h), window_.out_w(in.w), cout_);
    }
    double flops(const Shape& in) const { return 2.0 * double(output_shape(in).pixels()) * cout_ * window_.taps() * cin_; }

    /// out = act(conv(in) + bias), or act(residual + scale·(conv(in) + bias)) when residual is given.
    void forward(ConstView in, View out, const Context& ctx, const ConstView* residual = nullptr) const {
        detail::check_output(output_shape(in.shape), out.shape, "Conv2d");
        detail::check_residual(residual, out.shape, "Conv2d");
        Backend::conv(packed_, in, out, residual, ctx);
    }

private:
    Window window_;
    int cin_ = 0, cout_ = 0;
    typename Backend::PackedConv packed_;
};

/// Depthwise 2-D convolution (one filter per channel) with the same fused epilogue.
template <class Backend>
class DepthwiseConv2d {
public:
    DepthwiseConv2d() = default;
    explicit DepthwiseConv2d(const DepthwiseSpec& spec)
        : window_(spec.window), channels_(spec.channels), packed_(Backend::pack(spec)) {}

    int channels() const noexcept { return channels_; }
    Shape output_shape(const Shape& in) const {
        if (in.c != channels_) throw InvalidArgument("DepthwiseConv2d: channel count mismatch");
        return Shape(in.n, window_.out_h(in.h), window_.out_w(in.w), channels_);
    }
    double flops(const Shape& in) const { return 2.0 * double(output_shape(in).numel()) * window_.taps(); }
    void forward(ConstView in, View out, const Context& ctx, const ConstView* residual = nullptr) const {
        detail::check_output(output_shape(in.shape), out.shape, "DepthwiseConv2d");
        detail::check_residual(residual, out.shape, "DepthwiseConv2d");
        Backend::depthwise(packed_, in, out, residual, ctx);
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
