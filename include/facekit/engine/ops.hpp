// facekit/engine/ops.hpp: the cheap layers: pooling, softmax, L2 normalisation, standalone activations.
// They are memory-bound and written once for every backend; NHWC makes their inner loops run over
// contiguous channels, which the compiler vectorises. Max pooling, hot in MTCNN, is also a backend
// operation (backend.hpp); the loop here is its definition.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>

#include "workspace.hpp"
#include "conv_spec.hpp"

namespace facekit::nn {

/// Output size of a pooling window, with PyTorch's ceil_mode: the last window may hang over the end,
/// but must start inside the input (or its left padding).
inline int pool_out_dim(int n, int k, int s, int pad_lo, int pad_hi, bool ceil_mode) {
    const int span = n + pad_lo + pad_hi - k;
    if (span < 0) FACEKIT_THROW(InvalidArgument("pooling window larger than its input"));
    int out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= n + pad_lo) --out;
    return out;
}

/// Max pooling (padding never wins: windows take the maximum over their in-image part). forward() is
/// the definition, plain loops: each window maxed from −∞, rows then columns (`x > m ? x : m`, so a NaN
/// never replaces the running maximum, as maxps). Networks pool through nn::max_pool<Backend>
/// (layers.hpp), which takes the backend's vectorised loop where it has one: the same floats.
struct MaxPool2d {
    Window window;
    bool ceil_mode = false;

    Shape output_shape(const Shape& in) const {
        return Shape(in.n, pool_out_dim(in.h, window.kh, window.sh, window.pad_top, window.pad_bottom, ceil_mode),
                     pool_out_dim(in.w, window.kw, window.sw, window.pad_left, window.pad_right, ceil_mode), in.c);
    }
    double flops(const Shape& in) const { return double(output_shape(in).numel()) * window.taps(); }
    /// The in-image part [lo, hi) of output row (or column) `o`'s window along an input of n pixels.
    static void span(int o, int k, int s, int pad, int n, int& lo, int& hi) {
        lo = std::max(o * s - pad, 0), hi = std::min(o * s - pad + k, n);
    }
    void forward(ConstView in, View out, const Context& ctx) const {
        detail::check_output(output_shape(in.shape), out.shape, "MaxPool2d");
        const Shape o = out.shape;
        ctx.parallel_for(std::int64_t(o.n) * o.h, [&](std::int64_t row) {
            const int n = int(row / o.h), oy = int(row % o.h);
            int y0, y1, x0, x1;
            span(oy, window.kh, window.sh, window.pad_top, in.shape.h, y0, y1);
            for (int ox = 0; ox < o.w; ++ox) {
                span(ox, window.kw, window.sw, window.pad_left, in.shape.w, x0, x1);
                float* dst = out.pixel(n, oy, ox);
                for (int c = 0; c < o.c; ++c) dst[c] = -std::numeric_limits<float>::infinity();
                for (int y = y0; y < y1; ++y)
                    for (int x = x0; x < x1; ++x) {
                        const float* src = in.pixel(n, y, x);
                        for (int c = 0; c < o.c; ++c) dst[c] = src[c] > dst[c] ? src[c] : dst[c];
                    }
            }
        });
    }
};

/// Average pooling without padding (every window lies inside the input).
struct AvgPool2d {
    Window window;

    Shape output_shape(const Shape& in) const {
        if (window.pad_top || window.pad_left || window.pad_bottom || window.pad_right)
            FACEKIT_THROW(InvalidArgument("AvgPool2d: padding is not supported"));
        return Shape(in.n, window.out_h(in.h), window.out_w(in.w), in.c);
    }
    double flops(const Shape& in) const { return double(output_shape(in).numel()) * window.taps(); }
    void forward(ConstView in, View out, const Context& ctx) const {
        detail::check_output(output_shape(in.shape), out.shape, "AvgPool2d");
        const Shape o = out.shape;
        const float inv = 1.0f / float(window.taps());
        ctx.parallel_for(std::int64_t(o.n) * o.h, [&](std::int64_t row) {
            const int n = int(row / o.h), oy = int(row % o.h);
            for (int ox = 0; ox < o.w; ++ox) {
                float* dst = out.pixel(n, oy, ox);
                for (int ch = 0; ch < o.c; ++ch) dst[ch] = 0.0f;
                for (int y = 0; y < window.kh; ++y)
                    for (int x = 0; x < window.kw; ++x) {
                        const float* src = in.pixel(n, oy * window.sh + y, ox * window.sw + x);
                        for (int ch = 0; ch < o.c; ++ch) dst[ch] += src[ch];
                    }
                for (int ch = 0; ch < o.c; ++ch) dst[ch] *= inv;
            }
        });
    }
};

/// Mean over all pixels of each image: N×H×W×C -> N×1×1×C.
struct GlobalAvgPool {
    Shape output_shape(const Shape& in) const { return Shape(in.n, 1, 1, in.c); }
    double flops(const Shape& in) const { return double(in.numel()); }
    void forward(ConstView in, View out, const Context&) const {
        detail::check_output(output_shape(in.shape), out.shape, "GlobalAvgPool");
        const int hw = in.shape.h * in.shape.w;
        for (int n = 0; n < in.shape.n; ++n) {
            float* dst = out.pixel(n, 0, 0);
            for (int ch = 0; ch < in.shape.c; ++ch) dst[ch] = 0.0f;
            for (int p = 0; p < hw; ++p) {
                const float* src = in.pixel(std::size_t(n) * hw + p);
                for (int ch = 0; ch < in.shape.c; ++ch) dst[ch] += src[ch];
            }
            for (int ch = 0; ch < in.shape.c; ++ch) dst[ch] /= float(hw);
        }
    }
};

/// Softmax over the channels of every pixel, in place: exp(x − max) / Σ.
inline void softmax_channels(View x) {
    for (std::size_t p = 0; p < x.shape.pixels(); ++p) {
        float* v = x.pixel(p);
        float mx = v[0];
        for (int c = 1; c < x.shape.c; ++c) mx = std::max(mx, v[c]);
        float sum = 0.0f;
        for (int c = 0; c < x.shape.c; ++c) {
            // exp(0) is 1 exactly: the maximum's term needs no call (half of P-Net's exps, 0.3 ms a photo)
            const float d = v[c] - mx;
            sum += (v[c] = d == 0.0f ? 1.0f : std::exp(d));
        }
        for (int c = 0; c < x.shape.c; ++c) v[c] /= sum;
    }
}

/// Per-channel PReLU in place (when it cannot be fused into the preceding convolution).
inline void prelu(View x, const std::vector<float>& alpha) {
    if (int(alpha.size()) != x.shape.c) FACEKIT_THROW(InvalidArgument("prelu: slope count mismatch"));
    for (std::size_t p = 0; p < x.shape.pixels(); ++p) {
        float* v = x.pixel(p);
        for (int c = 0; c < x.shape.c; ++c) v[c] = v[c] > 0.0f ? v[c] : v[c] * alpha[c];
    }
}

/// v / max(‖v‖₂, eps) for n floats, in place (eps as in torch.nn.functional.normalize): the sum of squares in
/// double, one float division per element. The one L2 normalisation of networks and embedders.
inline void l2_normalize(float* v, std::size_t n, float eps = 1e-12f) {
    double ss = 0.0;
    for (std::size_t c = 0; c < n; ++c) ss += double(v[c]) * v[c];
    const float norm = std::max(float(std::sqrt(ss)), eps);
    for (std::size_t c = 0; c < n; ++c) v[c] /= norm;
}

/// The same over the channels of every pixel.
inline void l2_normalize(View x, float eps = 1e-12f) {
    for (std::size_t p = 0; p < x.shape.pixels(); ++p) l2_normalize(x.pixel(p), std::size_t(x.shape.c), eps);
}

}  // namespace facekit::nn
