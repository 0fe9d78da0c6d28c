// facekit/engine/backends/xsimd/backend.hpp: the fast backend, vectorised with xsimd for the instruction set the
// compiler targets (AVX-512, AVX2+FMA, SSE…; -march decides).
//
// Convolution is an indirect GEMM, as XNNPACK's igemm: output pixels are rows (M), output channels are
// columns (N), and the reduction runs over kernel taps × input channels (K). Instead of materialising
// im2col, each row keeps one pointer per tap to an input pixel (or to a zero row for padding), so a 1×1
// convolution, a 3×3 and a 1×7 are the same kernel. Where a kernel row lies inside the image, its kw taps
// are kw·cin consecutive floats of a dense NHWC input, so the row is one pointer of kw·cin floats: a 3×3
// convolution of a 3-channel image reduces over 3 runs of 9 instead of 9 runs of 3 (same order of sums,
// so the same result). Weights are packed at load into panels of one or two vector widths of output
// channels (whichever pads cout less: 10 channels use a 16-wide panel, 48 use three), in exactly the
// order the micro-kernel reads them. The micro-kernel holds an MR×NR tile of accumulators in registers
// (12×32 on AVX-512: 24 of its 32 zmm registers) and applies the fused epilogue (bias, residual
// scale-add, ReLU/PReLU) before its single store. 3×3 stride-1 convolutions with enough channels and
// tiles run as Winograd instead (winograd.hpp), through the same micro-kernel; unpadded
// stride-1 convolutions (MTCNN's) take tiles along one output row, whose inputs are cin floats apart.
#pragma once
#include <cstring>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "../../workspace.hpp"
#include "../../conv_spec.hpp"
#include "masked.hpp"
#include "rows_pool.hpp"
#include "stem_pool.hpp"
#include "winograd.hpp"

namespace facekit::nn {

template <class Arch = xsimd::default_arch>
struct XsimdBackend {
    using V = xsimd::batch<float, Arch>;
    static constexpr int W = int(V::size);
    static constexpr int NR = 2 * W;               // columns per wide panel: two registers
    static constexpr int MR = 12;                  // rows per tile; accumulators + 3 fit the register file:
    static constexpr int MR_WIDE = W >= 16 ? MR : MR / 2;  // 2·12 of 32 zmm, 2·6 of 16 ymm/xmm
    static_assert(W >= 4, "the xsimd backend needs at least 128-bit float vectors");
    static constexpr const char* name = "xsimd";
    using Winograd = detail::XsimdWinograd<XsimdBackend>;  // 3×3 stride-1 convolutions (winograd.hpp)
    friend Winograd;
    using RowsPool = detail::XsimdRowsPool<XsimdBackend>;  // row tiles + max pool (rows_pool.hpp)
    friend RowsPool;
    static const char* isa() noexcept { return Arch::name(); }

    struct PackedConv {
        Window window;
        int cin = 0, cout = 0, panels = 0;
        int vectors = 2;               // panel width in vectors (nr = vectors·W columns)
        AlignedBuffer<float> weights;  // [panel][tap][cin][nr]
        AlignedBuffer<float> winograd; // 3×3 stride 1 only: F(4×4, 3×3)'s G g Gᵀ as [ξ][panel][cin][nr]
        AlignedBuffer<float> winograd3;  // F(3×3, 3×3)'s, where F4's weights are small (winograd_transforms.hpp)
        AlignedBuffer<float> bias, alpha;  // padded to panels·nr
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
        const int wide = (s.cout + NR - 1) / NR * NR, narrow = (s.cout + W - 1) / W * W;
        p.vectors = narrow < wide ? 1 : 2;
        const int nr = p.vectors * W;
        p.panels = (s.cout + nr - 1) / nr;
        const std::size_t k = std::size_t(s.reduction());
        p.weights.resize(std::size_t(p.panels) * k * nr);
        std::memset(p.weights.data(), 0, p.weights.size() * sizeof(float));
        for (int co = 0; co < s.cout; ++co)
            for (std::size_t j = 0; j < k; ++j)
                p.weights[(std::size_t(co / nr) * k + j) * nr + co % nr] = s.weights[co * k + j];
        Winograd::pack(s, p);
        pack_epilogue(s.epilogue, s.cout, std::size_t(p.panels) * nr, p.bias, p.alpha);
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

    /// A convolution and the max pool after it in one pass: P-Net's stem over pixels (stem_pool.hpp),
    /// row tiles into a ring of rows pooled from L1 (rows_pool.hpp); false leaves them to conv()
    /// and MaxPool2d.
    static bool conv_maxpool(const PackedConv& p, const MaxPool2d& pool, ConstView in, View out, const Context& ctx) {
        return detail::XsimdStemPool<XsimdBackend>::run(p, pool, in, out, ctx) || RowsPool::run(p, pool, in, out, ctx);
    }

    static void conv(const PackedConv& p, ConstView in, View out, const ConstView* residual, const Context& ctx) {
        if (Winograd::run(p, in, out, residual, ctx)) return;
        if (row_tile(p, in, out.shape, [&](auto nv, auto rows) { conv_rows<decltype(nv)::value, decltype(rows)::value>(p, in, out, residual, ctx); }))
            return;
        if (p.vectors == 1) return conv_panels<1, MR>(p, in, out, residual, ctx);
        if constexpr (MR_WIDE == 12) {
            // Small maps waste much of a 12-row tile (the 8×8 map of block17 fills 64 of 72 rows, the 3×3
            // map of block8 9 of 12): take the tile height that wastes least, counting two rows of
            // overhead per tile (its epilogue and the B loads a taller tile would share).
            const std::int64_t m = std::int64_t(out.shape.pixels());
            auto cost = [&](std::int64_t rows) { return (m + rows - 1) / rows * (rows + 2); };
            if (cost(8) < cost(12) && cost(8) <= cost(9)) return conv_panels<2, 8>(p, in, out, residual, ctx);
            if (cost(9) < cost(12)) return conv_panels<2, 9>(p, in, out, residual, ctx);
        }
        conv_panels<2, MR_WIDE>(p, in, out, residual, ctx);
    }

    /// Depthwise convolution, a vector of channels at a time. Where a window lies inside the image
    /// horizontally, four output pixels are computed together so that each tap's weights are loaded once
    /// for four; border pixels skip their out-of-image taps. Both sum the taps in the same order.
    static void depthwise(const PackedDepthwise& p, ConstView in, View out, const ConstView* residual,
                          const Context& ctx) {
        constexpr int kPixels = 4;
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
                auto finish = [&](int ox, V acc) {
                    const float* res = residual ? residual->pixel(n, oy, ox) + c : nullptr;
                    store(out.pixel(n, oy, ox) + c,
                          epilogue(acc, &p.bias[c], &p.alpha[c], res, count, p.activation, p.residual_scale), count);
                };
                auto border_pixel = [&](int ox) {
                    V acc(0.0f);
                    for (int ky = ky_lo; ky < ky_hi; ++ky)
                        for (int kx = 0; kx < win.kw; ++kx) {
                            const int ix = ox * win.sw - win.pad_left + kx;
                            if (ix < 0 || ix >= in.shape.w) continue;
                            const V x = load(in.pixel(n, iy0 + ky, ix) + c, count);
                            acc = xsimd::fma(x, V::load_aligned(&p.weights[std::size_t(ky * win.kw + kx) * p.padded + c]), acc);
                        }
                    finish(ox, acc);
                };
                int ox = 0;
                for (; ox < ox_lo; ++ox) border_pixel(ox);
                const std::ptrdiff_t step = std::ptrdiff_t(win.sw) * in.stride;  // between neighbouring outputs
                for (; ox + kPixels <= ox_hi; ox += kPixels) {
                    V acc[kPixels];
                    for (int j = 0; j < kPixels; ++j) acc[j] = V(0.0f);
                    for (int ky = ky_lo; ky < ky_hi; ++ky) {
                        const float* src = in.pixel(n, iy0 + ky, ox * win.sw - win.pad_left) + c;
                        const float* w = &p.weights[std::size_t(ky * win.kw) * p.padded + c];
                        for (int kx = 0; kx < win.kw; ++kx, src += in.stride, w += p.padded) {
                            const V wv = V::load_aligned(w);
                            for (int j = 0; j < kPixels; ++j) acc[j] = xsimd::fma(load(src + j * step, count), wv, acc[j]);
                        }
                    }
                    for (int j = 0; j < kPixels; ++j) finish(ox + j, acc[j]);
                }
                for (; ox < o.w; ++ox) border_pixel(ox);
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

    static V load(const float* src, int count) { return simd::load_first<V>(src, count); }
    static void store(float* dst, V v, int count) { simd::store_first<V>(dst, v, count); }

    /// bias, then the residual scale-add (out = residual + scale·v), then the activation.
    static V epilogue(V v, const float* bias, const float* alpha, const float* residual, int count, Activation act,
                      float scale) {
        v += V::load_aligned(bias);
        if (residual) v = xsimd::fma(v, V(scale), load(residual, count));
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

    /// Splits the output into ROWS-pixel tiles × panels of NV·W channels and runs them on the pool.
    template <int NV, int ROWS>
    static void conv_panels(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                            const Context& ctx) {
        const std::int64_t m = std::int64_t(out.shape.pixels());
        for_each_tile(p, (m + ROWS - 1) / ROWS, conv_flops(p, m), ctx,
                      [&](std::int64_t t, int panel) { conv_tile<NV, ROWS>(p, in, out, residual, t * ROWS, m, panel); });
    }

    /// Multiply-adds ×2 of a direct convolution over `pixels` output pixels (what decides a loop's split).
    static double conv_flops(const PackedConv& p, std::int64_t pixels) {
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
    template <int NV, int ROWS>
    static void conv_tile(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                          std::int64_t m0, std::int64_t m, int panel) {
        constexpr int nr = NV * W;
        V acc[ROWS][NV];
#pragma GCC unroll 24
        for (int r = 0; r < ROWS; ++r)
            for (int v = 0; v < NV; ++v) acc[r][v] = V(0.0f);
        const float* w = &p.weights[std::size_t(panel) * p.window.taps() * p.cin * nr];
        const float* base[ROWS];
        std::ptrdiff_t tap_stride = 0;
        int k = 0;
        const Window& win = p.window;
        if (win.taps() == 1 && win.sh == 1 && win.sw == 1 && win.pad_top == 0 && win.pad_left == 0 && m0 + ROWS <= m) {
            // a whole tile of a 1×1 convolution: its pixels lie one input stride apart
            gemm_kernel<NV, ROWS>(in.pixel(std::size_t(m0)), std::ptrdiff_t(in.stride), p.cin, w, acc);
        } else if (interior_tile<ROWS>(p, in, out.shape, m0, m, base, tap_stride, k)) {
            const int taps = k == p.cin ? p.window.taps() : p.window.kh;
            for (int t = 0; t < taps; ++t) {
                const float* a[ROWS];
#pragma GCC unroll 24
                for (int r = 0; r < ROWS; ++r) a[r] = base[r] + t * tap_stride;
                igemm_kernel<NV, ROWS>(a, k, w, acc);
                w += std::size_t(k) * nr;
            }
        } else {
            thread_local std::vector<const float*> rows;
            const int taps = p.window.taps();
            rows.resize(std::size_t(ROWS) * taps);
            gather_taps<ROWS>(p, in, out.shape, m0, m, rows.data());
            for (int t = 0; t < taps; ++t) {
                const float* a[ROWS];
#pragma GCC unroll 24
                for (int r = 0; r < ROWS; ++r) a[r] = rows[std::size_t(r) * taps + t];
                igemm_kernel<NV, ROWS>(a, p.cin, w, acc);
                w += std::size_t(p.cin) * nr;
            }
        }

        store_tile<NV, ROWS>(p, out, residual, acc, m0, int(std::min<std::int64_t>(ROWS, m - m0)), panel);
    }

    /// The epilogue and store of a tile's pixels [first, rows) (pixel r is pixel m0 + r), one panel.
    /// Unrolled over the tile, with the activation chosen once: the accumulators stay in registers (a
    /// loop over a run-time row range put them on the stack, a fifth of a 3-channel stem's time).
    template <int NV, int ROWS>
    static void store_tile(const PackedConv& p, const View& out, const ConstView* residual, const V (&acc)[ROWS][NV],
                           std::int64_t m0, int rows, int panel, int first = 0) {
        switch (p.activation) {
            case Activation::None: return store_tile<Activation::None>(p, out, residual, acc, m0, rows, panel, first);
            case Activation::ReLU: return store_tile<Activation::ReLU>(p, out, residual, acc, m0, rows, panel, first);
            case Activation::PReLU: return store_tile<Activation::PReLU>(p, out, residual, acc, m0, rows, panel, first);
        }
    }
    template <Activation Act, int NV, int ROWS>
    static void store_tile(const PackedConv& p, const View& out, const ConstView* residual, const V (&acc)[ROWS][NV],
                           std::int64_t m0, int rows, int panel, int first) {
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
                V x = acc[r][v] + bias[v];  // the order of epilogue()
                if (res) x = xsimd::fma(x, V(p.residual_scale), load(res + v * W, cols - v * W));
                if constexpr (Act == Activation::ReLU) x = xsimd::max(x, V(0.0f));
                if constexpr (Act == Activation::PReLU) x = xsimd::select(x > V(0.0f), x, x * alpha[v]);
                store(dst + v * W, x, cols - v * W);
            }
        }
    }

    /// Unpadded stride-1 convolutions of a dense input (all of MTCNN's, bar those on its tiny maps): a tile
    /// is ROWS neighbouring pixels of one output row, so pixel r's window starts r·cin floats after pixel
    /// 0's: one pointer instead of ROWS, and for the 3-channel stems (a fifth to a third of each network's
    /// time) a constant 3, folded into the addresses. A row's last tile is shifted left to end at the row's
    /// end; it stores only the pixels the tile before does not (another thread may be storing those). The
    /// sums and their order are conv_tile's. Taken where rows waste at most an eighth of a tile's pixels.
    static bool rows_fit(const PackedConv& p, const ConstView& in, const Shape& o, int rows) {
        const Window& w = p.window;
        const bool unpadded = w.pad_top == 0 && w.pad_left == 0 && w.pad_bottom == 0 && w.pad_right == 0;
        return w.taps() > 1 && w.sh == 1 && w.sw == 1 && unpadded && in.dense() && o.w >= rows &&
               8 * ((o.w + rows - 1) / rows * rows - o.w) <= o.w;
    }

    /// Calls f(NV, ROWS) (std::integral_constants) with the row tile conv_rows takes for output map o and
    /// returns true, or returns false where row tiles do not fit.
    template <class F>
    static bool row_tile(const PackedConv& p, const ConstView& in, const Shape& o, F&& f) {
        using One = std::integral_constant<int, 1>;
        using Two = std::integral_constant<int, 2>;
        if (p.vectors == 1) return rows_fit(p, in, o, MR) && (f(One{}, std::integral_constant<int, MR>{}), true);
        // R-Net's stem rows of 22 in two tiles of 11, not 12 + 12 (two pixels computed twice)
        if (rows_fit(p, in, o, MR_WIDE - 1) && o.w % (MR_WIDE - 1) == 0 && o.w % MR_WIDE != 0)
            return f(Two{}, std::integral_constant<int, MR_WIDE - 1>{}), true;
        return rows_fit(p, in, o, MR_WIDE) && (f(Two{}, std::integral_constant<int, MR_WIDE>{}), true);
    }

    /// Calls f(cin, k, kh): ints, or std::integral_constants for the 3×3 stems of 3 channels.
    template <class F>
    static void with_row_constants(const PackedConv& p, F&& f) {
        using C = std::integral_constant<int, 3>;
        using K = std::integral_constant<int, 9>;
        if (p.cin == 3 && p.window.kh == 3 && p.window.kw == 3) return f(C{}, K{}, C{});
        f(std::ptrdiff_t(p.cin), p.window.kw * p.cin, p.window.kh);
    }

    template <int NV, int ROWS>
    static void conv_rows(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                          const Context& ctx) {
        with_row_constants(p, [&](auto cin, auto k, auto kh) {
            const Shape o = out.shape;
            const int per_row = (o.w + ROWS - 1) / ROWS;
            const std::int64_t tiles = std::int64_t(o.n) * o.h * per_row;
            for_each_tile(p, tiles, conv_flops(p, std::int64_t(o.pixels())), ctx, [&](std::int64_t t, int panel) {
                const std::int64_t row = t / per_row;  // n·h + oy
                const int natural = int(t % per_row) * ROWS, ox = std::min(natural, o.w - ROWS);
                V acc[ROWS][NV];
                row_tile_sums<NV, ROWS>(p, in, in.pixel(int(row / o.h), int(row % o.h), ox), panel, cin, k, kh, acc);
                store_tile<NV, ROWS>(p, out, residual, acc, row * o.w + ox, ROWS, panel, natural - ox);
            });
        });
    }

    /// The sums of one row tile: ROWS pixels whose windows start at `a`, then cin floats apart; every
    /// kernel row. cin, k = kw·cin and kh as with_row_constants gives them.
    template <int NV, int ROWS, class Cin, class K, class KH>
    static void row_tile_sums(const PackedConv& p, const ConstView& in, const float* a, int panel, Cin cin, K k, KH kh,
                              V (&acc)[ROWS][NV]) {
        constexpr int nr = NV * W;
        const std::ptrdiff_t row_stride = std::ptrdiff_t(in.shape.w) * cin;
        const float* w = &p.weights[std::size_t(panel) * kh * k * nr];
#pragma GCC unroll 24
        for (int r = 0; r < ROWS; ++r)
            for (int v = 0; v < NV; ++v) acc[r][v] = V(0.0f);
        for (int ky = 0; ky < kh; ++ky, a += row_stride, w += std::size_t(k) * nr) gemm_kernel<NV, ROWS>(a, cin, k, w, acc);
    }
    /// The micro-kernel: acc[r] += a[r][0..k) · w[0..k)[0..NV·W), ROWS rows × NV registers, broadcast A.
    template <int NV, int ROWS>
    static inline void igemm_kernel(const float* const (&a)[ROWS], int k, const float* w, V (&acc)[ROWS][NV]) {
        for (int i = 0; i < k; ++i, w += NV * W) {
            V b[NV];
            for (int v = 0; v < NV; ++v) b[v] = V::load_aligned(w + v * W);
#pragma GCC unroll 24
            for (int r = 0; r < ROWS; ++r) {
                const V x(a[r][i]);
                for (int v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(x, b[v], acc[r][v]);
            }
        }
    }

    /// Hides a pointer's value from the optimiser. With rows a constant 3 floats apart, row r's input at
    /// step i is row r−1's at step i+3, and GCC's predictive commoning keeps such values in registers
    /// across steps: 36 live floats, spilled to the stack.
    static inline void opaque(const float*& p) {
#if defined(__GNUC__)
        asm("" : "+r"(p));
#endif
    }

    /// The same on rows `lda` floats apart: one pointer for all rows (twelve would not fit the general
    /// registers beside the block's own variables, and the compiler spills them).
    /// `lda` may be a std::integral_constant: the stems' 3 then becomes constant offsets.
    template <int NV, int ROWS, class Lda = std::ptrdiff_t>
    static inline void gemm_kernel(const float* a, Lda lda, int k, const float* w, V (&acc)[ROWS][NV]) {
        for (int i = 0; i < k; ++i, w += NV * W, ++a) {
            opaque(a);
            V b[NV];
            for (int v = 0; v < NV; ++v) b[v] = V::load_aligned(w + v * W);
#pragma GCC unroll 24
            for (int r = 0; r < ROWS; ++r) {
                const V x(a[r * lda]);
                for (int v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(x, b[v], acc[r][v]);
            }
        }
    }
};

}  // namespace facekit::nn
