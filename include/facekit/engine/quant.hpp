// facekit/engine/quant.hpp: int8 arithmetic, defined once. Every int8 kernel must give exactly these bytes.
//
// Activations are int8 per tensor, asymmetric: real = scale · (q − zero_point), q ∈ [−128, 127], and the
// real 0 is exactly representable (padding is the zero point). Weights are int8 per output channel,
// symmetric (zero point 0): w = scale_c · q. A convolution accumulates Σ (x − zp_x)·q_w in int32, adds
// the bias (in accumulator units, scale_x·scale_c), and requantises in fp32 (XNNPACK's "fp32"
// requantisation, extended by the fused epilogue of conv_spec.hpp):
//
//   v = float(acc + bias_c) · m_c                 m_c = scale_x·scale_c·residual_scale / scale_y
//   v = fma(float(r − zp_r), m_r, v)              with a residual r (m_r = scale_r / scale_y)
//   v = v > 0 ? v : 0 / v·α_c                     ReLU / PReLU
//   q = nearbyint(clamp(v, −128 − zp_y, 127 − zp_y)) + zp_y      (ties to even)
//
// Each step is one IEEE operation in float, so SIMD kernels that do the same operations in the same order
// agree bit for bit; the residual step is an explicit fused multiply-add, so that no compiler contracts
// it one way here and another way there.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "conv_spec.hpp"
#include "tensor.hpp"
#include "error.hpp"

namespace facekit::nn {

/// An int8 tensor's quantisation: real = scale · (q − zero_point).
struct QuantParams {
    float scale = 1.0f;
    int zero_point = 0;

    /// The parameters that cover [lo, hi] (widened to contain 0) with the 256 int8 values.
    static QuantParams covering(float lo, float hi) {
        lo = std::min(lo, 0.0f), hi = std::max(hi, 0.0f);
        if (!(hi > lo)) return {};  // all zeros
        QuantParams p;
        p.scale = (hi - lo) / 255.0f;
        p.zero_point = int(std::clamp(std::nearbyint(-128.0f - lo / p.scale), -128.0f, 127.0f));
        return p;
    }
};

/// The int8 nearest to x / scale + zero_point (ties to even), saturated.
inline std::int8_t quantize(float x, QuantParams p) {
    const float v = std::clamp(x / p.scale, float(-128 - p.zero_point), float(127 - p.zero_point));
    return std::int8_t(int(std::nearbyint(v)) + p.zero_point);
}
inline float dequantize(std::int8_t q, QuantParams p) { return p.scale * float(int(q) - p.zero_point); }

/// Weights quantised per output channel, symmetric: w[c][j] ≈ scale[c] · q[c][j], q ∈ [−127, 127].
struct ChannelQuantized {
    std::vector<std::int8_t> q;
    std::vector<float> scale;
};
/// `w` holds `channels` rows of equal length (OHWI weights: one row per output channel).
inline ChannelQuantized quantize_per_channel(const std::vector<float>& w, int channels) {
    if (channels <= 0 || w.size() % std::size_t(channels)) FACEKIT_THROW(InvalidArgument("quantize_per_channel: rows of unequal length"));
    const std::size_t k = w.size() / std::size_t(channels);
    ChannelQuantized r;
    r.q.resize(w.size()), r.scale.resize(std::size_t(channels));
    for (std::size_t c = 0; c < std::size_t(channels); ++c) {
        float peak = 0.0f;
        for (std::size_t j = 0; j < k; ++j) peak = std::max(peak, std::abs(w[c * k + j]));
        const float s = peak > 0.0f ? peak / 127.0f : 1.0f;
        r.scale[c] = s;
        for (std::size_t j = 0; j < k; ++j) r.q[c * k + j] = std::int8_t(std::nearbyint(std::clamp(w[c * k + j] / s, -127.0f, 127.0f)));
    }
    return r;
}

/// The int8 epilogue: requantisation with bias, residual and activation, per output channel.
struct QEpilogue {
    std::vector<std::int32_t> bias;  // accumulator units (scale_x · scale_c)
    std::vector<float> multiplier;   // m_c
    Activation activation = Activation::None;
    std::vector<float> alpha;        // PReLU slopes
    float residual_multiplier = 0.0f;  // m_r
    int residual_zero_point = 0, output_zero_point = 0;

    std::int8_t apply(std::int32_t acc, int c, const std::int8_t* residual) const {
        float v = float(acc + bias[std::size_t(c)]) * multiplier[std::size_t(c)];
        if (residual) v = std::fma(float(int(residual[c]) - residual_zero_point), residual_multiplier, v);
        if (activation == Activation::ReLU) v = v > 0.0f ? v : 0.0f;
        else if (activation == Activation::PReLU) v = v > 0.0f ? v : v * alpha[std::size_t(c)];
        v = std::clamp(v, float(-128 - output_zero_point), float(127 - output_zero_point));
        return std::int8_t(int(std::nearbyint(v)) + output_zero_point);
    }

    /// The float epilogue `e` of a layer whose input, weights (per channel) and output are quantised as
    /// given; `r`: its residual's parameters, null for a layer without residual (then e.residual_scale,
    /// which only scales the sum with a residual, is not applied).
    static QEpilogue from(const Epilogue& e, QuantParams x, const std::vector<float>& weight_scale, QuantParams y,
                          const QuantParams* r = nullptr) {
        QEpilogue q;
        const std::size_t n = weight_scale.size();
        q.bias.resize(n), q.multiplier.resize(n);
        for (std::size_t c = 0; c < n; ++c) {
            const double unit = double(x.scale) * weight_scale[c];  // one accumulator step, in real terms
            q.bias[c] = std::int32_t(std::nearbyint(double(e.bias[c]) / unit));
            q.multiplier[c] = float(unit * (r ? e.residual_scale : 1.0f) / y.scale);
            if (e.activation == Activation::PReLU) q.alpha.push_back(e.alpha[c]);
        }
        q.activation = e.activation;
        if (r) q.residual_multiplier = r->scale / y.scale, q.residual_zero_point = r->zero_point;
        q.output_zero_point = y.zero_point;
        return q;
    }
};

/// A dense NHWC int8 tensor's view (what int8 layers read and write).
template <class T>
struct QViewOf {
    T* data = nullptr;
    Shape shape;
    T* pixel(int n, int y, int x) const {
        return data + ((std::int64_t(n) * shape.h + y) * shape.w + x) * shape.c;
    }
};
using QView = QViewOf<std::int8_t>;
using QConstView = QViewOf<const std::int8_t>;

/// An int8 convolution: float ConvSpec's geometry, weights quantised per output channel (OHWI), the
/// input's quantisation and the requantising epilogue.
struct QConvSpec {
    Window window;
    int cin = 0, cout = 0;
    std::vector<std::int8_t> weights;  // cout × kh × kw × cin
    QuantParams input;
    QEpilogue epilogue;

    int reduction() const noexcept { return window.taps() * cin; }
    /// `s` quantised: its weights per channel, its epilogue for input x, output y and residual r.
    static QConvSpec from(const ConvSpec& s, QuantParams x, QuantParams y, const QuantParams* r = nullptr) {
        s.validate();
        ChannelQuantized w = quantize_per_channel(s.weights, s.cout);
        QConvSpec q;
        q.window = s.window, q.cin = s.cin, q.cout = s.cout;
        q.weights = std::move(w.q);
        q.input = x;
        q.epilogue = QEpilogue::from(s.epilogue, x, w.scale, y, r);
        return q;
    }
};

}  // namespace facekit::nn
