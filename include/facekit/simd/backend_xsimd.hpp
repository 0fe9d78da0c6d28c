// facekit/simd/backend_xsimd.hpp: the fast backend, vectorised with xsimd for the instruction set the
// compiler targets (AVX-512, AVX2+FMA, SSE…; -march decides).
//
// Convolution is an indirect GEMM, as XNNPACK's igemm: output pixels are rows (M), output channels are
// columns (N), and the reduction runs over kernel taps × input channels (K). Instead of materialising
// im2col, each row keeps one pointer per tap to an input pixel (or to a zero row for padding), so a 1×1
// convolution, a 3×3 and a 1×7 are the same kernel. Weights are packed at load into panels of NR = 2
// vector widths of output channels, in exactly the order the micro-kernel reads them. The micro-kernel
// holds an MR×NR tile of accumulators in registers (12×32 on AVX-512: 24 of its 32 zmm registers), and
// applies the fused epilogue (bias, residual scale-add, ReLU/PReLU) before its single store.
#pragma once
#include <cstring>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "../core/workspace.hpp"
#include "../nn/conv_params.hpp"

namespace facekit::nn {

template <class Arch = xsimd::default_arch>
struct XsimdBackend {
    using V = xsimd::batch<float, Arch>;
    static constexpr int W = int(V::size);
    static constexpr int NR = 2 * W;               // columns per panel: two registers
    static constexpr int MR = W >= 16 ? 12 : 6;    // rows per tile: 2·MR accumulators + 3 fit the register file
    static_assert(W >= 4, "the xsimd backend needs at least 128-bit float vectors");
    static constexpr const char* name = "xsimd";
    static const char* isa() noexcept { return Arch::name(); }

    struct PackedConv {
        Window window;
        int cin = 0, cout = 0, panels = 0;
        AlignedBuffer<float> weights;  // [panel][tap][cin][NR]
        AlignedBuffer<float> bias, alpha;  // padded to panels·NR
        Activation activation = Activation::None;
        float residual_scale = 1.0f;
    };
    struct PackedDepthwise {
        Window window;
        int channels = 0, padded = 0;
        AlignedBuffer<float> weights;  // [tap][padded channels]
        AlignedBuffer<float> bias, alpha;
        Activation activation = Activation::None;
        float residual_scale = 1.0f;
    };

    static PackedConv pack(const ConvSpec& s) {
        s.validate();
        PackedConv p;
        p.window = s.window, p.cin = s.cin, p.cout = s.cout;
        p.panels = (s.cout + NR - 1) / NR;
        const std::size_t k = std::size_t(s.reduction());
        p.weights.resize(std::size_t(p.panels) * k * NR);
        std::memset(p.weights.data(), 0, p.weights.size() * sizeof(float));
        for (int co = 0; co < s.cout; ++co)
            for (std::size_t j = 0; j < k; ++j)
                p.weights[(std::size_t(co / NR) * k + j) * NR + co % NR] = s.weights[co * k + j];
        pack_epilogue(s.epilogue, s.cout, std::size_t(p.panels) * NR, p.bias, p.alpha);
        p.activation = s.epilogue.activation, p.residual_scale = s.epilogue.residual_scale;
        return p;
    }

    static PackedDepthwise pack(const DepthwiseSpec& s) {
        s.validate();
        PackedDepthwise p;
        p.window = s.window, p.channels = s.channels;
        p.padded = (s.channels + W - 1) / W * W;
        p.weights.resize(std::size_t(s.window.taps()) * p.padded);
        std::memset(p.weights.data(), 0, p.weights.size() * sizeof(float));
        for (int t = 0; t < s.window.taps(); ++t)
            std::memcpy(&p.weights[std::size_t(t) * p.padded], &s.weights[std::size_t(t) * s.channels], s.channels * sizeof(float));
        pack_epilogue(s.epilogue, s.channels, p.padded, p.bias, p.alpha);
        p.activation = s.epilogue.activation, p.residual_scale = s.epilogue.residual_scale;
        return p;
    }

    static void conv(const PackedConv& p, ConstView in, View out, const ConstView* residual, const Context& ctx) {
        const std::int64_t m = std::int64_t(out.shape.pixels());
        const std::int64_t mtiles = (m + MR - 1) / MR;
        // Enough tasks to keep every thread busy, each a run of row tiles against one weight panel (which
        // then stays in cache); the split never changes what a given output element sums.
        const std::int64_t target = std::int64_t(ctx.threads()) * 4;
        std::int64_t per_task = std::max<std::int64_t>(1, (mtiles * p.panels + target - 1) / target);
        per_task = std::min(per_task, mtiles);
        const std::int64_t mblocks = (mtiles + per_task - 1) / per_task;
        ctx.parallel_for(mblocks * p.panels, [&](std::int64_t task) {
            const int panel = int(task % p.panels);
            const std::int64_t t0 = (task / p.panels) * per_task, t1 = std::min(mtiles, t0 + per_task);
            for (std::int64_t t = t0; t < t1; ++t) conv_tile(p, in, out, residual, t * MR, m, panel);
        });
    }

    static void depthwise(const PackedDepthwise& p, ConstView in, View out, const ConstView* residual,
                          const Context& ctx) {
        const Window& win = p.window;
        const Shape o = out.shape;
        const int full = p.channels / W * W;
        ctx.parallel_for(std::int64_t(o.n) * o.h, [&](std::int64_t row) {
            const int n = int(row / o.h), oy = int(row % o.h);
            alignas(64) float tmp_in[W], tmp_res[W], tmp_out[W];
            for (int ox = 0; ox < o.w; ++ox) {
                float* dst = out.pixel(n, oy, ox);
                const float* res = residual ? residual->pixel(n, oy, ox) : nullptr;
                for (int c = 0; c < p.padded; c += W) {
                    const bool tail = c >= full;
                    V acc(0.0f);
                    for (int ky = 0; ky < win.kh; ++ky) {
                        const int iy = oy * win.sh - win.pad_top + ky;
                        if (iy < 0 || iy >= in.shape.h) continue;
                        for (int kx = 0; kx < win.kw; ++kx) {
                            const int ix = ox * win.sw - win.pad_left + kx;
                            if (ix < 0 || ix >= in.shape.w) continue;
                            const float* src = in.pixel(n, iy, ix) + c;
                            V x = tail ? load_partial(src, p.channels - c, tmp_in) : V::load_unaligned(src);
                            acc = xsimd::fma(x, V::load_aligned(&p.weights[std::size_t(ky * win.kw + kx) * p.padded + c]), acc);
                        }
                    }
                    const float* r = res ? (tail ? (load_partial(res + c, p.channels - c, tmp_res), tmp_res) : res + c) : nullptr;
                    V v = epilogue(acc, &p.bias[c], &p.alpha[c], r, p.activation, p.residual_scale);
                    if (!tail) {
                        v.store_unaligned(dst + c);
                    } else {
                        v.store_aligned(tmp_out);
                        std::memcpy(dst + c, tmp_out, std::size_t(p.channels - c) * sizeof(float));
                    }
                }
            }
        });
    }

private:
    static void pack_epilogue(const Epilogue& e, int channels, std::size_t padded, AlignedBuffer<float>& bias,
                              AlignedBuffer<float>& alpha) {
        bias.resize(padded), alpha.resize(padded);
        std::memset(bias.data(), 0, padded * sizeof(float));
        std::memset(alpha.data(), 0, padded * sizeof(float));
        std::memcpy(bias.data(), e.bias.data(), channels * sizeof(float));
        if (e.activation == Activation::PReLU) std::memcpy(alpha.data(), e.alpha.data(), channels * sizeof(float));
    }

    static V load_partial(const float* src, int count, float* tmp) {
        std::memset(tmp, 0, W * sizeof(float));
        std::memcpy(tmp, src, std::size_t(count) * sizeof(float));
        return V::load_unaligned(tmp);
    }

    static V epilogue(V v, const float* bias, const float* alpha, const float* residual, Activation act, float scale) {
        v += V::load_aligned(bias);
        if (residual) v = xsimd::fma(v, V(scale), V::load_unaligned(residual));
        if (act == Activation::ReLU) return xsimd::max(v, V(0.0f));
        if (act == Activation::PReLU) return xsimd::select(v > V(0.0f), v, v * V::load_aligned(alpha));
        return v;
    }

    /// A row of zeros at least `n` floats long, for taps that fall in the padding.
    static const float* zero_row(int n) {
        thread_local AlignedBuffer<float> zeros;
        if (zeros.size() < std::size_t(n)) {
            zeros.resize(std::size_t(n));
            std::memset(zeros.data(), 0, zeros.size() * sizeof(float));
        }
        return zeros.data();
    }

    /// One MR×NR output tile: rows [m0, m0+MR) ∩ [0, m), columns of `panel`.
    static void conv_tile(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                          std::int64_t m0, std::int64_t m, int panel) {
        const Window& win = p.window;
        const int taps = win.taps();
        thread_local std::vector<const float*> rows;
        rows.resize(std::size_t(MR) * taps);
        const float* zero = zero_row(p.cin);
        const int oh = out.shape.h, ow = out.shape.w;
        const bool pointwise = taps == 1 && win.sh == 1 && win.sw == 1 && win.pad_top == 0 && win.pad_left == 0;
        // (n, oy, ox) of row m0, then stepped along the tile (no division per row)
        int n = int(m0 / (std::int64_t(oh) * ow)), oy = int(m0 % (std::int64_t(oh) * ow)) / ow, ox = int(m0 % ow);
        for (int r = 0; r < MR; ++r, ++ox) {
            if (ox == ow) ox = 0, ++oy;
            if (oy == oh) oy = 0, ++n;
            const std::int64_t mi = m0 + r;
            const float** a = &rows[std::size_t(r) * taps];
            if (mi >= m) {
                for (int t = 0; t < taps; ++t) a[t] = zero;
                continue;
            }
            if (pointwise) {
                a[0] = in.pixel(std::size_t(mi));
                continue;
            }
            for (int ky = 0; ky < win.kh; ++ky) {
                const int iy = oy * win.sh - win.pad_top + ky;
                for (int kx = 0; kx < win.kw; ++kx) {
                    const int ix = ox * win.sw - win.pad_left + kx;
                    const bool inside = iy >= 0 && iy < in.shape.h && ix >= 0 && ix < in.shape.w;
                    a[ky * win.kw + kx] = inside ? in.pixel(n, iy, ix) : zero;
                }
            }
        }

        V acc[MR][2];
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = V(0.0f);
        const float* w = &p.weights[std::size_t(panel) * taps * p.cin * NR];
        for (int t = 0; t < taps; ++t) {
            const float* a[MR];
#pragma GCC unroll 16
            for (int r = 0; r < MR; ++r) a[r] = rows[std::size_t(r) * taps + t];
            igemm_kernel(a, p.cin, w, acc);
            w += std::size_t(p.cin) * NR;
        }

        const int n0 = panel * NR, cols = std::min(NR, p.cout - n0);
        const int rows_here = int(std::min<std::int64_t>(MR, m - m0));
        alignas(64) float tmp[NR], tmp_res[NR];
        for (int r = 0; r < rows_here; ++r) {
            float* dst = out.pixel(std::size_t(m0 + r)) + n0;
            const float* res = residual ? residual->pixel(std::size_t(m0 + r)) + n0 : nullptr;
            if (res && cols < NR) {
                std::memset(tmp_res, 0, sizeof tmp_res);
                std::memcpy(tmp_res, res, std::size_t(cols) * sizeof(float));
                res = tmp_res;
            }
            V v0 = epilogue(acc[r][0], &p.bias[n0], &p.alpha[n0], res, p.activation, p.residual_scale);
            V v1 = epilogue(acc[r][1], &p.bias[n0 + W], &p.alpha[n0 + W], res ? res + W : nullptr, p.activation,
                            p.residual_scale);
            if (cols == NR) {
                v0.store_unaligned(dst);
                v1.store_unaligned(dst + W);
            } else {
                v0.store_aligned(tmp);
                v1.store_aligned(tmp + W);
                std::memcpy(dst, tmp, std::size_t(cols) * sizeof(float));
            }
        }
    }

    /// The micro-kernel: acc[r] += a[r][0..k) · w[0..k)[0..NR), MR rows × 2 registers, broadcast A.
    static inline void igemm_kernel(const float* const (&a)[MR], int k, const float* w, V (&acc)[MR][2]) {
        for (int i = 0; i < k; ++i, w += NR) {
            const V b0 = V::load_aligned(w), b1 = V::load_aligned(w + W);
#pragma GCC unroll 16
            for (int r = 0; r < MR; ++r) {
                const V x(a[r][i]);
                acc[r][0] = xsimd::fma(x, b0, acc[r][0]);
                acc[r][1] = xsimd::fma(x, b1, acc[r][1]);
            }
        }
    }
};

}  // namespace facekit::nn
