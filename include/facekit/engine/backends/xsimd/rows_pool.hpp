// facekit/engine/backends/xsimd/rows_pool.hpp: a row-tiled convolution and the max pool after it, one image at a
// time (xsimd backend): each conv row goes into a ring of as many rows as the pool window is high, and
// each pooled row is taken from that ring as soon as its last row is in.
//
// R-Net's and O-Net's stems (3×3 over 3 channels, PReLU, 3×3/2 max pool, ceil mode) wrote their conv map
// to memory and read it back nine times over in the pool, from L2; the ring of three rows stays in L1,
// holds whole vectors of channels (no masked loads) and the pool reads it with fixed strides. Each conv
// value is the row-tile strategy's (rows.hpp), each pooled value maxes its window in
// MaxPool2d's order: the same floats as the two layers in turn.
#pragma once
#include <algorithm>
#include <limits>

#include "../../workspace.hpp"
#include "../../conv_spec.hpp"
#include "../../ops.hpp"
#include "masked.hpp"
#include "max.hpp"
#include "rows.hpp"
#include "winograd.hpp"

namespace facekit::nn::detail {

template <class B>
struct XsimdRowsPool {
    using V = typename B::V;
    using PackedConv = typename B::PackedConv;
    static constexpr int W = B::W;
    using Rows = XsimdRows<B>;

    /// Runs the convolution and the pool as one pass and returns true where the convolution takes row
    /// tiles in one panel and the pool is unpadded; false leaves them to the caller.
    static bool run(const PackedConv& p, const MaxPool2d& pool, const ConstView& in, const View& out,
                    const Context& ctx) {
        const Window& w = pool.window;
        if (p.panels != 1 || w.pad_top || w.pad_left || w.pad_bottom || w.pad_right) return false;
        const Shape conv_shape(in.shape.n, p.window.out_h(in.shape.h), p.window.out_w(in.shape.w), p.cout);
        if (XsimdWinograd<B>::takes(p, conv_shape)) return false;  // conv() would, with other floats
        return Rows::row_tile(p, in, conv_shape, [&](auto nv, auto rows) {
            Rows::with_row_constants(p, [&](auto cin, auto k, auto kh) {
                convolve<decltype(rows)::value, decltype(nv)::value>(p, pool, in, out, conv_shape, ctx, cin, k, kh);
            });
        });
    }

private:
    /// This thread's ring, shared by every row tile (ROWS, NV): its size grows with the map's width only, so
    /// once the widest map has run, a narrower one that picks another tile needs no memory (Detector::reserve).
    static AlignedBuffer<float>& ring_buffer() {
        thread_local AlignedBuffer<float> buffer;
        return buffer;
    }

    template <int ROWS, int NV, class Cin, class K, class KH>
    static void convolve(const PackedConv& p, const MaxPool2d& pool, const ConstView& in, const View& out,
                         const Shape& conv, const Context& ctx, Cin cin, K k, KH kh) {
        constexpr int nr = NV * W;
        const Window& pw = pool.window;
        const int per_row = (conv.w + ROWS - 1) / ROWS;
        ctx.parallel_for(in.shape.n, [&](std::int64_t n) {
            AlignedBuffer<float>& buffer = ring_buffer();
            const std::size_t need = std::size_t(pw.kh) * conv.w * nr;
            if (buffer.size() < need) buffer.resize(need);
            // ring row r % kh holds conv row r; every pixel a whole panel (lanes past cout never stored, never read out)
            const View ring(buffer.data(), Shape(1, pw.kh, conv.w, nr));
            int pooled = 0;  // the next pooled row
            for (int y = 0; y < conv.h; ++y) {
                for (int t = 0; t < per_row; ++t) {
                    const int natural = t * ROWS, ox = std::min(natural, conv.w - ROWS);
                    V acc[ROWS][NV];
                    Rows::template tile_sums<ROWS, NV>(p, in, in.pixel(int(n), y, ox), 0, cin, k, kh, acc);
                    XsimdDirect<B>::template store_tile<ROWS, NV>(p, ring, nullptr, acc, std::int64_t(y % pw.kh) * conv.w + ox, ROWS, 0,
                                                     natural - ox);
                }
                for (; pooled < out.shape.h && std::min(pooled * pw.sh + pw.kh, conv.h) - 1 == y; ++pooled)
                    pool_row<NV>(pool, ring, conv, out, int(n), pooled);
            }
        });
    }

    /// Pooled row `py` of image n from the ring: each window's maximum in MaxPool2d's order (rows, then
    /// columns, each value max'ed into the running maximum from −∞). 3×3 windows wholly inside unrolled.
    template <int NV>
    static void pool_row(const MaxPool2d& pool, const View& ring, const Shape& conv, const View& out, int n, int py) {
        constexpr int nr = NV * W;
        const Window& pw = pool.window;
        const int y0 = py * pw.sh, y1 = std::min(y0 + pw.kh, conv.h);
        const int cout = out.shape.c;
        const float* rows[3] = {};
        const bool rows3 = pw.kh == 3 && pw.kw == 3 && y1 - y0 == 3;
        if (rows3)
            for (int i = 0; i < 3; ++i) rows[i] = ring.pixel(std::size_t((y0 + i) % 3) * conv.w);
        for (int px = 0; px < out.shape.w; ++px) {
            const int x0 = px * pw.sw, x1 = std::min(x0 + pw.kw, conv.w);
            float* dst = out.pixel(n, py, px);
            if (rows3 && x1 - x0 == 3) {
                for (int v = 0; v < NV; ++v) {
                    const std::size_t at = std::size_t(x0) * nr + v * W;
                    V m(-std::numeric_limits<float>::infinity());
#pragma GCC unroll 3
                    for (int i = 0; i < 3; ++i)
#pragma GCC unroll 3
                        for (int x = 0; x < 3; ++x) m = xsimd_kernels::max_gt(V::load_aligned(rows[i] + at + x * nr), m);
                    if ((v + 1) * W <= cout) m.store_unaligned(dst + v * W);
                    else xsimd_kernels::store_first(dst + v * W, m, cout - v * W);
                }
                continue;
            }
            for (int v = 0; v < NV && v * W < cout; ++v) {
                V m(-std::numeric_limits<float>::infinity());
                for (int y = y0; y < y1; ++y) {
                    const float* row = ring.pixel(std::size_t(y % pw.kh) * conv.w) + v * W;
                    for (int x = x0; x < x1; ++x) m = xsimd_kernels::max_gt(V::load_aligned(row + std::size_t(x) * nr), m);
                }
                xsimd_kernels::store_first(dst + v * W, m, cout - v * W);
            }
        }
    }
};

}  // namespace facekit::nn::detail
