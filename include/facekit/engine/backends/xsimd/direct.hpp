// facekit/engine/backends/xsimd/direct.hpp: the general convolution of the xsimd backend, an indirect
// GEMM (XNNPACK's igemm): output pixels are rows (M), output channels columns (N), and the reduction runs
// over kernel taps × input channels (K).
//
// Instead of materialising im2col, each row keeps one pointer per tap to an input pixel (or to a zero
// row for padding), so a 1×1 convolution, a 3×3 and a 1×7 are the same kernel. Where a kernel row lies
// inside the image, its kw taps are kw·cin consecutive floats of a dense NHWC input, so the row is one
// pointer of kw·cin floats: a 3×3 convolution of a 3-channel image reduces over 3 runs of 9 instead of 9
// runs of 3 (the same order of sums, so the same result). A tile is ROWS pixels × one panel of NV·W
// output channels (kernels.hpp), ended by the fused epilogue (epilogue.hpp) before its single store.
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include "../../conv_spec.hpp"
#include "../../workspace.hpp"
#include "epilogue.hpp"
#include "kernels.hpp"

namespace facekit::nn::detail {

/// B is the XsimdBackend it serves (its vector type, tile heights and packed convolution).
template <class B>
struct XsimdDirect {
    using V = typename B::V;
    using PackedConv = typename B::PackedConv;
    static constexpr int W = B::W;

    /// Any convolution: picks the tile height, then runs the tiles on the pool.
    static void run(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                    const Context& ctx) {
        constexpr int MR = B::MR, MR_WIDE = B::MR_WIDE;
        if (p.vectors == 1) return run_tiles<1, MR>(p, in, out, residual, ctx);
        if constexpr (MR_WIDE == 12) {
            // Small maps waste much of a 12-row tile (the 8×8 map of block17 fills 64 of 72 rows, the 3×3
            // map of block8 9 of 12): take the tile height that wastes least, counting two rows of
            // overhead per tile (its epilogue and the B loads a taller tile would share).
            const std::int64_t m = std::int64_t(out.shape.pixels());
            auto cost = [&](std::int64_t rows) { return (m + rows - 1) / rows * (rows + 2); };
            if (cost(8) < cost(12) && cost(8) <= cost(9)) return run_tiles<2, 8>(p, in, out, residual, ctx);
            if (cost(9) < cost(12)) return run_tiles<2, 9>(p, in, out, residual, ctx);
        }
        run_tiles<2, MR_WIDE>(p, in, out, residual, ctx);
    }

    /// Multiply-adds ×2 of a direct convolution over `pixels` output pixels (what decides a loop's split).
    static double flops(const PackedConv& p, std::int64_t pixels) {
        return 2.0 * double(pixels) * p.cout * p.cin * p.window.taps();
    }

    /// Runs fn(tile, panel) for every tile × weight panel: enough tasks to keep every thread busy, each a
    /// run of tiles against one panel (which then stays in cache); the split never changes what a given
    /// output element sums.
    template <class F>
    static void for_each_tile(const PackedConv& p, std::int64_t tiles, double flops, const Context& ctx, F&& fn) {
        const std::int64_t target = std::int64_t(ctx.threads()) * 4;
        const std::int64_t per_task = std::min(tiles, std::max<std::int64_t>(1, (tiles * p.panels + target - 1) / target));
        const std::int64_t blocks = (tiles + per_task - 1) / per_task;
        ctx.parallel_for(blocks * p.panels, flops, [&](std::int64_t task) {
            const int panel = int(task % p.panels);
            const std::int64_t t0 = (task / p.panels) * per_task, t1 = std::min(tiles, t0 + per_task);
            for (std::int64_t t = t0; t < t1; ++t) fn(t, panel);
        });
    }

    /// The epilogue and store of a tile's pixels [first, rows) (pixel r is pixel m0 + r), one panel.
    /// Unrolled over the tile, with the activation chosen once: the accumulators stay in registers (a
    /// loop over a run-time row range put them on the stack, a fifth of a 3-channel stem's time).
    template <int ROWS, int NV>
    static void store_tile(const PackedConv& p, const View& out, const ConstView* residual, const V (&acc)[ROWS][NV],
                           std::int64_t m0, int rows, int panel, int first = 0) {
        xsimd_kernels::with_activation(p.activation, [&](auto act) {
            constexpr int nr = NV * W;
            const int n0 = panel * nr, cols = std::min(nr, p.cout - n0);
            V bias[NV], alpha[NV];
            for (int v = 0; v < NV; ++v)
                bias[v] = V::load_aligned(&p.bias[n0 + v * W]), alpha[v] = V::load_aligned(&p.alpha[n0 + v * W]);
#pragma GCC unroll 24
            for (int r = 0; r < ROWS; ++r) {
                if (r < first || r >= rows) continue;
                float* dst = out.pixel(std::size_t(m0 + r)) + n0;
                const float* res = residual ? residual->pixel(std::size_t(m0 + r)) + n0 : nullptr;
                for (int v = 0; v < NV && v * W < cols; ++v) {
                    const int count = cols - v * W;
                    const V x = xsimd_kernels::f32_epilogue<decltype(act)::value>(
                        acc[r][v], bias[v], alpha[v], res ? res + v * W : nullptr, p.residual_scale, count);
                    xsimd_kernels::store_first(dst + v * W, x, count);
                }
            }
        });
    }

private:
    /// Splits the output into ROWS-pixel tiles × panels of NV·W channels and runs them on the pool.
    template <int NV, int ROWS>
    static void run_tiles(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                          const Context& ctx) {
        const std::int64_t m = std::int64_t(out.shape.pixels());
        for_each_tile(p, (m + ROWS - 1) / ROWS, flops(p, m), ctx,
                      [&](std::int64_t t, int panel) { tile<ROWS, NV>(p, in, out, residual, t * ROWS, m, panel); });
    }

    /// This thread's table of tap pointers, shared by every tile size.
    static std::vector<const float*>& tap_rows() {
        thread_local std::vector<const float*> rows;
        return rows;
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

    /// Where each output pixel of [m0, m0+ROWS) starts reading: `base[r]` is its window's top-left input
    /// pixel, and tap t reads k floats at base[r] + t·tap_stride. True when every window lies inside the
    /// image and the input is dense: then a tap is a whole kernel row (k = kw·cin; 1×1 convolutions read a
    /// pixel of any stride). Pixels past m repeat the last one (computed, never stored).
    template <int ROWS>
    static bool interior_tile(const PackedConv& p, const ConstView& in, const Shape& o, std::int64_t m0,
                              std::int64_t m, const float** base, std::ptrdiff_t& tap_stride, int& k) {
        const Window& win = p.window;
        const int count = int(std::min<std::int64_t>(ROWS, m - m0));
        if (win.taps() == 1 && win.sh == 1 && win.sw == 1 && win.pad_top == 0 && win.pad_left == 0) {
            for (int r = 0; r < ROWS; ++r) base[r] = in.pixel(std::size_t(m0 + std::min(r, count - 1)));
            tap_stride = 0, k = p.cin;
            return true;
        }
        if (!in.dense()) return false;
        // (n, oy, ox) of each pixel, stepped from m0 (no division per pixel)
        int n = int(m0 / (std::int64_t(o.h) * o.w)), oy = int(m0 % (std::int64_t(o.h) * o.w)) / o.w, ox = int(m0 % o.w);
        for (int r = 0; r < count; ++r, ++ox) {
            if (ox == o.w) ox = 0, ++oy;
            if (oy == o.h) oy = 0, ++n;
            const int iy = oy * win.sh - win.pad_top, ix = ox * win.sw - win.pad_left;
            if (iy < 0 || iy + win.kh > in.shape.h || ix < 0 || ix + win.kw > in.shape.w) return false;
            base[r] = in.pixel(n, iy, ix);
        }
        for (int r = count; r < ROWS; ++r) base[r] = base[count - 1];
        tap_stride = std::ptrdiff_t(in.shape.w) * in.stride, k = win.kw * p.cin;
        return true;
    }

    /// The general case (windows that reach into the padding, strided inputs): one pointer per pixel and
    /// kernel position, `rows[r·taps + t]`, to cin floats or to a zero row; pixels past m read zeros.
    template <int ROWS>
    static void gather_taps(const PackedConv& p, const ConstView& in, const Shape& o, std::int64_t m0, std::int64_t m,
                            const float** rows) {
        const Window& win = p.window;
        const int taps = win.taps();
        const float* zero = zero_row(p.cin);
        int n = int(m0 / (std::int64_t(o.h) * o.w)), oy = int(m0 % (std::int64_t(o.h) * o.w)) / o.w, ox = int(m0 % o.w);
        for (int r = 0; r < ROWS; ++r, ++ox) {
            if (ox == o.w) ox = 0, ++oy;
            if (oy == o.h) oy = 0, ++n;
            const float** a = rows + std::size_t(r) * taps;
            for (int ky = 0; ky < win.kh; ++ky) {
                const int iy = oy * win.sh - win.pad_top + ky;
                for (int kx = 0; kx < win.kw; ++kx) {
                    const int ix = ox * win.sw - win.pad_left + kx;
                    const bool inside = m0 + r < m && iy >= 0 && iy < in.shape.h && ix >= 0 && ix < in.shape.w;
                    a[ky * win.kw + kx] = inside ? in.pixel(n, iy, ix) : zero;
                }
            }
        }
    }

    /// One ROWS × (NV·W) output tile: pixels [m0, m0+ROWS) ∩ [0, m), the columns of `panel`. Both ways of
    /// reading the input sum the same products in the same order (taps, then channels).
    template <int ROWS, int NV>
    static void tile(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                     std::int64_t m0, std::int64_t m, int panel) {
        constexpr int nr = NV * W;
        V acc[ROWS][NV];
        xsimd_kernels::zero_tile(acc);
        const float* w = &p.weights[std::size_t(panel) * p.window.taps() * p.cin * nr];
        const float* base[ROWS];
        std::ptrdiff_t tap_stride = 0;
        int k = 0;
        const Window& win = p.window;
        if (win.taps() == 1 && win.sh == 1 && win.sw == 1 && win.pad_top == 0 && win.pad_left == 0 && m0 + ROWS <= m) {
            // a whole tile of a 1×1 convolution: its pixels lie one input stride apart
            xsimd_kernels::f32_gemm_fma<ROWS, NV>(in.pixel(std::size_t(m0)), std::ptrdiff_t(in.stride), p.cin, w, acc);
        } else if (interior_tile<ROWS>(p, in, out.shape, m0, m, base, tap_stride, k)) {
            const int taps = k == p.cin ? p.window.taps() : p.window.kh;
            for (int t = 0; t < taps; ++t) {
                const float* a[ROWS];
#pragma GCC unroll 24
                for (int r = 0; r < ROWS; ++r) a[r] = base[r] + t * tap_stride;
                xsimd_kernels::f32_igemm_fma<ROWS, NV>(a, k, w, acc);
                w += std::size_t(k) * nr;
            }
        } else {
            // one per thread for every tile size, sized for the largest (MR rows): a tile size first met after
            // Detector::reserve needs no memory
            std::vector<const float*>& rows = tap_rows();
            const int taps = p.window.taps();
            if (rows.size() < std::size_t(B::MR) * taps) rows.resize(std::size_t(B::MR) * taps);
            gather_taps<ROWS>(p, in, out.shape, m0, m, rows.data());
            for (int t = 0; t < taps; ++t) {
                const float* a[ROWS];
#pragma GCC unroll 24
                for (int r = 0; r < ROWS; ++r) a[r] = rows[std::size_t(r) * taps + t];
                xsimd_kernels::f32_igemm_fma<ROWS, NV>(a, p.cin, w, acc);
                w += std::size_t(p.cin) * nr;
            }
        }
        store_tile<ROWS, NV>(p, out, residual, acc, m0, int(std::min<std::int64_t>(ROWS, m - m0)), panel);
    }
};

}  // namespace facekit::nn::detail
