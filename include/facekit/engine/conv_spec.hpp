// facekit/engine/conv_spec.hpp: what every backend needs to know about a convolution: its geometry, and
// the epilogue fused into it (bias, optional residual scale-add, activation).
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "error.hpp"
#include "tensor.hpp"

#if defined(__GNUC__)
#define FACEKIT_NOINLINE __attribute__((noinline))
#else
#define FACEKIT_NOINLINE
#endif

namespace facekit::nn {

/// Kernel, stride and (possibly asymmetric) zero padding of a 2-D convolution or pooling window.
struct Window {
    int kh = 1, kw = 1;
    int sh = 1, sw = 1;
    int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;

    // Out of line on purpose: GCC 12 with AVX-512 (-O2 -march=native) miscompiles the 8-int constant
    // these build when they are inlined into a caller with several of them (a 1x1 window came out with
    // padding 1). Keeping them out of line keeps the fields runtime values.
    FACEKIT_NOINLINE static Window square(int k, int stride = 1, int pad = 0) {
        return {k, k, stride, stride, pad, pad, pad, pad};
    }
    FACEKIT_NOINLINE static Window rect(int kh, int kw, int ph, int pw) { return {kh, kw, 1, 1, ph, pw, ph, pw}; }
    /// TensorFlow's SAME padding for an input of h×w: the extra pixel goes bottom/right.
    Window same_for(int h, int w) const {
        Window r = *this;
        auto pads = [](int n, int k, int s, int& lo, int& hi) {
            int out = (n + s - 1) / s;
            int total = std::max((out - 1) * s + k - n, 0);
            lo = total / 2, hi = total - lo;
        };
        pads(h, kh, sh, r.pad_top, r.pad_bottom);
        pads(w, kw, sw, r.pad_left, r.pad_right);
        return r;
    }
    int taps() const noexcept { return kh * kw; }
    /// Calls fn(t, iy, ix) for every tap t = ky·kw + kx of output pixel (oy, ox) that lies inside an h×w
    /// input, in row-major order; taps in the padding are skipped (they read zeros). The reference loop
    /// of the plain backends.
    template <class F>
    void for_each_tap(int oy, int ox, int h, int w, F&& fn) const {
        for (int ky = 0; ky < kh; ++ky) {
            const int iy = oy * sh - pad_top + ky;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < kw; ++kx) {
                const int ix = ox * sw - pad_left + kx;
                if (ix >= 0 && ix < w) fn(ky * kw + kx, iy, ix);
            }
        }
    }
    int out_h(int h) const { return out_dim(h, kh, sh, pad_top + pad_bottom, "height"); }
    int out_w(int w) const { return out_dim(w, kw, sw, pad_left + pad_right, "width"); }
    void validate() const {
        if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || pad_top < 0 || pad_left < 0 || pad_bottom < 0 || pad_right < 0 ||
            pad_top >= kh || pad_bottom >= kh || pad_left >= kw || pad_right >= kw)
            FACEKIT_THROW(InvalidArgument("invalid window: kernel, stride or padding out of range"));
    }

private:
    static int out_dim(int n, int k, int s, int pad, const char* what) {
        if (n + pad < k)
            FACEKIT_THROW(InvalidArgument(std::string("input ") + what + " " + std::to_string(n) + " is smaller than the kernel"));
        return (n + pad - k) / s + 1;
    }
};

enum class Activation { None, ReLU, PReLU };

/// The fused epilogue: v = acc + bias[c]; with a residual r, v = r[c] + scale·v; then the activation.
/// This is Inception-ResNet's relu(x + scale·conv(x)) and MobileFaceNet's conv + PReLU in one pass.
struct Epilogue {
    std::vector<float> bias;   // one per output channel (zeros when the layer has none)
    Activation activation = Activation::None;
    std::vector<float> alpha;  // PReLU slopes, one per output channel
    float residual_scale = 1.0f;

    float apply(float acc, int c, const float* residual) const noexcept {
        float v = acc + bias[c];
        if (residual) v = v * residual_scale + residual[c];
        switch (activation) {
            case Activation::ReLU: return v > 0.0f ? v : 0.0f;
            case Activation::PReLU: return v > 0.0f ? v : v * alpha[c];
            default: return v;
        }
    }
    void validate(int channels) const {
        if (int(bias.size()) != channels) FACEKIT_THROW(InvalidArgument("epilogue: bias size does not match the channels"));
        if (activation == Activation::PReLU && int(alpha.size()) != channels)
            FACEKIT_THROW(InvalidArgument("epilogue: PReLU slope count does not match the channels"));
    }
};

/// A convolution's full description. Weights are OHWI: [cout][kh][kw][cin], so that the reduction index
/// (tap, input channel) is contiguous; PyTorch's OIHW is transposed once at load (see ohwi_from_oihw).
struct ConvSpec {
    Window window;
    int cin = 0, cout = 0;
    std::vector<float> weights;  // cout × kh × kw × cin
    Epilogue epilogue;
    /// The values (weights, bias, slopes) come already packed from a packed weights file: weights and the
    /// epilogue's vectors are empty, the backend only sizes its arrays (engine/prepacked.hpp).
    bool prepacked = false;

    int reduction() const noexcept { return window.taps() * cin; }
    void validate() const {
        window.validate();
        if (cin <= 0 || cout <= 0) FACEKIT_THROW(InvalidArgument("convolution: channel counts must be positive"));
        if (prepacked) return;
        if (weights.size() != std::size_t(cout) * reduction()) FACEKIT_THROW(InvalidArgument("convolution: weight count mismatch"));
        epilogue.validate(cout);
    }
    Shape output_shape(const Shape& in) const {
        if (in.c != cin)
            FACEKIT_THROW(InvalidArgument("convolution expects " + std::to_string(cin) + " input channels, got " + std::to_string(in.c)));
        return Shape(in.n, window.out_h(in.h), window.out_w(in.w), cout);
    }
    double flops(const Shape& in) const {
        Shape o = output_shape(in);
        return 2.0 * double(o.pixels()) * double(cout) * reduction();
    }
};

/// A depthwise convolution (one filter per channel, multiplier 1). Weights are [kh][kw][c].
struct DepthwiseSpec {
    Window window;
    int channels = 0;
    std::vector<float> weights;
    Epilogue epilogue;
    bool prepacked = false;  // as ConvSpec::prepacked

    void validate() const {
        window.validate();
        if (channels <= 0) FACEKIT_THROW(InvalidArgument("depthwise convolution: channel count must be positive"));
        if (prepacked) return;
        if (weights.size() != std::size_t(window.taps()) * channels)
            FACEKIT_THROW(InvalidArgument("depthwise convolution: weight count mismatch"));
        epilogue.validate(channels);
    }
    Shape output_shape(const Shape& in) const {
        if (in.c != channels) FACEKIT_THROW(InvalidArgument("depthwise convolution: channel count mismatch"));
        return Shape(in.n, window.out_h(in.h), window.out_w(in.w), channels);
    }
    double flops(const Shape& in) const { return 2.0 * double(output_shape(in).numel()) * window.taps(); }
};

/// [cout][cin][kh][kw] -> [cout][kh][kw][cin].
inline std::vector<float> ohwi_from_oihw(const std::vector<float>& w, int cout, int cin, int kh, int kw) {
    if (w.size() != std::size_t(cout) * cin * kh * kw) FACEKIT_THROW(InvalidArgument("OIHW weight count mismatch"));
    std::vector<float> r(w.size());
    for (int o = 0; o < cout; ++o)
        for (int i = 0; i < cin; ++i)
            for (int y = 0; y < kh; ++y)
                for (int x = 0; x < kw; ++x) r[((std::size_t(o) * kh + y) * kw + x) * cin + i] = w[((std::size_t(o) * cin + i) * kh + y) * kw + x];
    return r;
}

/// Folds an inference-mode BatchNorm (gamma, beta, mean, var, eps) that follows a convolution into its
/// weights and bias: w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β.
inline void fold_batchnorm(ConvSpec& conv, const std::vector<float>& gamma, const std::vector<float>& beta,
                           const std::vector<float>& mean, const std::vector<float>& var, float eps) {
    const int co = conv.cout;
    if (int(gamma.size()) != co || int(beta.size()) != co || int(mean.size()) != co || int(var.size()) != co)
        FACEKIT_THROW(InvalidArgument("batchnorm: parameter size does not match the convolution's output channels"));
    if (conv.epilogue.bias.empty()) conv.epilogue.bias.assign(co, 0.0f);
    const std::size_t k = conv.reduction();
    for (int o = 0; o < co; ++o) {
        float s = gamma[o] / std::sqrt(var[o] + eps);
        for (std::size_t j = 0; j < k; ++j) conv.weights[o * k + j] *= s;
        conv.epilogue.bias[o] = (conv.epilogue.bias[o] - mean[o]) * s + beta[o];
    }
}

namespace detail {
inline void check_output(const Shape& expected, const Shape& got, const char* layer) {
    if (expected != got)
        FACEKIT_THROW(InvalidArgument(std::string(layer) + ": output view has shape " + got.to_string() + ", expected " +
                              expected.to_string()));
}
inline void check_residual(const ConstView* residual, const Shape& out, const char* layer) {
    if (residual && residual->shape != out)
        FACEKIT_THROW(InvalidArgument(std::string(layer) + ": residual shape " + residual->shape.to_string() +
                              " does not match the output " + out.to_string()));
}
}  // namespace detail
}  // namespace facekit::nn
