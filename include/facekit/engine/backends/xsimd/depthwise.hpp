// facekit/engine/backends/xsimd/depthwise.hpp: depthwise convolution for the xsimd backend, a vector of
// channels at a time (MobileFaceNet's 3×3 and 7×7 global depthwise layers).
//
// Where a window lies inside the image horizontally, four output pixels are computed together
// (f32_dwconv_4p_fma), so that each tap's weights are loaded once for four; border pixels skip their
// out-of-image taps. Both sum the taps in the same order (rows, then columns, from zero), then apply the
// fused epilogue (epilogue.hpp).
#pragma once
#include <algorithm>

#include "../../conv_spec.hpp"
#include "../../workspace.hpp"
#include "epilogue.hpp"
#include "fmadd.hpp"

namespace facekit::nn::detail {

template <class B>
struct XsimdDepthwise {
    using V = typename B::V;
    using PackedDepthwise = typename B::PackedDepthwise;
    static constexpr int W = B::W;
    static constexpr int kPixels = 4;  // output pixels per interior step

    static void run(const PackedDepthwise& p, const ConstView& in, const View& out, const ConstView* residual,
                    const Context& ctx) {
        xsimd_kernels::with_activation(p.activation, [&](auto act) { run<decltype(act)::value>(p, in, out, residual, ctx); });
    }

private:
    template <Activation Act>
    static void run(const PackedDepthwise& p, const ConstView& in, const View& out, const ConstView* residual,
                    const Context& ctx) {
        const Window& win = p.window;
        const Shape o = out.shape;
        // output columns [ox_lo, ox_hi) have their whole window inside the image horizontally
        const int ox_lo = std::min(o.w, (win.pad_left + win.sw - 1) / win.sw);
        const int last = in.shape.w - win.kw + win.pad_left;  // the largest window start, times sw
        const int ox_hi = last < 0 ? ox_lo : std::clamp(last / win.sw + 1, ox_lo, o.w);
        const double flops = 2.0 * double(o.numel()) * win.taps();
        ctx.parallel_for(std::int64_t(o.n) * o.h, flops, [&](std::int64_t row) {
            const int n = int(row / o.h), oy = int(row % o.h);
            const int iy0 = oy * win.sh - win.pad_top;
            const int ky_lo = std::max(0, -iy0), ky_hi = std::min(win.kh, in.shape.h - iy0);
            for (int c = 0; c < p.padded; c += W) {
                const int count = p.channels - c;  // lanes that are real channels (W or more: all)
                const V bias = V::load_aligned(&p.bias[c]), alpha = V::load_aligned(&p.alpha[c]);
                auto finish = [&](int ox, V acc) {
                    const float* res = residual ? residual->pixel(n, oy, ox) + c : nullptr;
                    xsimd_kernels::store_first(
                        out.pixel(n, oy, ox) + c,
                        xsimd_kernels::f32_epilogue<Act>(acc, bias, alpha, res, p.residual_scale, count), count);
                };
                auto border_pixel = [&](int ox) {
                    V acc(0.0f);
                    for (int ky = ky_lo; ky < ky_hi; ++ky)
                        for (int kx = 0; kx < win.kw; ++kx) {
                            const int ix = ox * win.sw - win.pad_left + kx;
                            if (ix < 0 || ix >= in.shape.w) continue;
                            const V x = xsimd_kernels::load_first<V>(in.pixel(n, iy0 + ky, ix) + c, count);
                            acc = xsimd_kernels::fmadd(x, V::load_aligned(&p.weights[std::size_t(ky * win.kw + kx) * p.padded + c]), acc);
                        }
                    finish(ox, acc);
                };
                int ox = 0;
                for (; ox < ox_lo; ++ox) border_pixel(ox);
                const std::ptrdiff_t step = std::ptrdiff_t(win.sw) * in.stride;  // between neighbouring outputs
                for (; ox + kPixels <= ox_hi; ox += kPixels) {
                    V acc[kPixels];
                    f32_dwconv_4p_fma(p, in.pixel(n, iy0 + ky_lo, ox * win.sw - win.pad_left) + c,
                                      std::ptrdiff_t(in.shape.w) * in.stride, in.stride, step, ky_lo, ky_hi, c, count, acc);
                    for (int j = 0; j < kPixels; ++j) finish(ox + j, acc[j]);
                }
                for (; ox < o.w; ++ox) border_pixel(ox);
            }
        });
    }

public:
    /// The depthwise micro-kernel: four pixels `step` floats apart, kernel rows [ky_lo, ky_hi) from `src`
    /// (row_stride apart), every column (stride apart); channels [c, c + W) of which `count` are real.
    static void f32_dwconv_4p_fma(const PackedDepthwise& p, const float* src, std::ptrdiff_t row_stride,
                                  std::ptrdiff_t stride, std::ptrdiff_t step, int ky_lo, int ky_hi, int c, int count,
                                  V (&acc)[kPixels]) {
        const Window& win = p.window;
        for (int j = 0; j < kPixels; ++j) acc[j] = V(0.0f);
        for (int ky = ky_lo; ky < ky_hi; ++ky, src += row_stride) {
            const float* s = src;
            const float* w = &p.weights[std::size_t(ky * win.kw) * p.padded + c];
            for (int kx = 0; kx < win.kw; ++kx, s += stride, w += p.padded) {
                const V wv = V::load_aligned(w);
                for (int j = 0; j < kPixels; ++j) acc[j] = xsimd_kernels::fmadd(xsimd_kernels::load_first<V>(s + j * step, count), wv, acc[j]);
            }
        }
    }
};

}  // namespace facekit::nn::detail
