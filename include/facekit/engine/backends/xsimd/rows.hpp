// facekit/engine/backends/xsimd/rows.hpp: unpadded stride-1 convolutions of a dense input as row tiles
// (all of MTCNN's, bar those on its tiny maps; xsimd backend).
//
// A tile is ROWS neighbouring pixels of one output row, so pixel r's window starts r·cin floats after
// pixel 0's: one pointer instead of ROWS (f32_gemm_fma), and for the 3-channel stems (a fifth to a third
// of each network's time) a constant 3, folded into the addresses. A row's last tile is shifted left to
// end at the row's end; it stores only the pixels the tile before does not (another thread may be
// storing those). The sums and their order are the direct strategy's (direct.hpp). Taken where rows
// waste at most an eighth of a tile's pixels.
#pragma once
#include <type_traits>

#include "../../conv_spec.hpp"
#include "../../workspace.hpp"
#include "direct.hpp"
#include "kernels.hpp"

namespace facekit::nn::detail {

template <class B>
struct XsimdRows {
    using V = typename B::V;
    using PackedConv = typename B::PackedConv;
    static constexpr int W = B::W, MR = B::MR, MR_WIDE = B::MR_WIDE;
    using Direct = XsimdDirect<B>;

    /// Runs the convolution as row tiles and returns true where they fit; false leaves it to the caller.
    static bool run(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                    const Context& ctx) {
        return row_tile(p, in, out.shape, [&](auto nv, auto rows) {
            with_row_constants(p, [&](auto cin, auto k, auto kh) {
                run_tiles<decltype(rows)::value, decltype(nv)::value>(p, in, out, residual, ctx, cin, k, kh);
            });
        });
    }

    /// Calls f(NV, ROWS) (std::integral_constants) with the row tile run() takes for output map o and
    /// returns true, or returns false where row tiles do not fit.
    template <class F>
    static bool row_tile(const PackedConv& p, const ConstView& in, const Shape& o, F&& f) {
        using One = std::integral_constant<int, 1>;
        using Two = std::integral_constant<int, 2>;
        if (p.vectors == 1) return fits(p, in, o, MR) && (f(One{}, std::integral_constant<int, MR>{}), true);
        // R-Net's stem rows of 22 in two tiles of 11, not 12 + 12 (two pixels computed twice)
        if (fits(p, in, o, MR_WIDE - 1) && o.w % (MR_WIDE - 1) == 0 && o.w % MR_WIDE != 0)
            return f(Two{}, std::integral_constant<int, MR_WIDE - 1>{}), true;
        return fits(p, in, o, MR_WIDE) && (f(Two{}, std::integral_constant<int, MR_WIDE>{}), true);
    }

    /// Calls f(cin, k, kh): ints, or std::integral_constants for the 3×3 stems of 3 channels.
    template <class F>
    static void with_row_constants(const PackedConv& p, F&& f) {
        using C = std::integral_constant<int, 3>;
        using K = std::integral_constant<int, 9>;
        if (p.cin == 3 && p.window.kh == 3 && p.window.kw == 3) return f(C{}, K{}, C{});
        f(std::ptrdiff_t(p.cin), p.window.kw * p.cin, p.window.kh);
    }

    /// The sums of one row tile: ROWS pixels whose windows start at `a`, then cin floats apart; every
    /// kernel row. cin, k = kw·cin and kh as with_row_constants gives them.
    template <int ROWS, int NV, class Cin, class K, class KH>
    static void tile_sums(const PackedConv& p, const ConstView& in, const float* a, int panel, Cin cin, K k, KH kh,
                          V (&acc)[ROWS][NV]) {
        constexpr int nr = NV * W;
        const std::ptrdiff_t row_stride = std::ptrdiff_t(in.shape.w) * cin;
        const float* w = &p.weights[std::size_t(panel) * kh * k * nr];
        xsimd_kernels::zero_tile(acc);
        for (int ky = 0; ky < kh; ++ky, a += row_stride, w += std::size_t(k) * nr)
            xsimd_kernels::f32_gemm_fma<ROWS, NV>(a, cin, k, w, acc);
    }

private:
    static bool fits(const PackedConv& p, const ConstView& in, const Shape& o, int rows) {
        const Window& w = p.window;
        const bool unpadded = w.pad_top == 0 && w.pad_left == 0 && w.pad_bottom == 0 && w.pad_right == 0;
        return w.taps() > 1 && w.sh == 1 && w.sw == 1 && unpadded && in.dense() && o.w >= rows &&
               8 * ((o.w + rows - 1) / rows * rows - o.w) <= o.w;
    }

    template <int ROWS, int NV, class Cin, class K, class KH>
    static void run_tiles(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                          const Context& ctx, Cin cin, K k, KH kh) {
        const Shape o = out.shape;
        const int per_row = (o.w + ROWS - 1) / ROWS;
        const std::int64_t tiles = std::int64_t(o.n) * o.h * per_row;
        Direct::for_each_tile(p, tiles, Direct::flops(p, std::int64_t(o.pixels())), ctx, [&](std::int64_t t, int panel) {
            const std::int64_t row = t / per_row;  // n·h + oy
            const int natural = int(t % per_row) * ROWS, ox = std::min(natural, o.w - ROWS);
            V acc[ROWS][NV];
            tile_sums<ROWS, NV>(p, in, in.pixel(int(row / o.h), int(row % o.h), ox), panel, cin, k, kh, acc);
            Direct::template store_tile<ROWS, NV>(p, out, residual, acc, row * o.w + ox, ROWS, panel, natural - ox);
        });
    }
};

}  // namespace facekit::nn::detail
