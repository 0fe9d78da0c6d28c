// facekit/engine/backends/xsimd/max_pool.hpp: max pooling for the xsimd backend, a vector of channels at
// a time, the tail's lanes loaded and stored masked. MTCNN's windows (2×2 and 3×3) are unrolled where
// they lie inside the input; windows cut by the border (ceil_mode, padding) take the general loop. Each
// window is maxed in MaxPool2d::reference's order (rows, then columns, from −∞): the same floats.
#pragma once
#include <algorithm>
#include <limits>

#include "../../ops.hpp"
#include "../../workspace.hpp"
#include "masked.hpp"
#include "max.hpp"

namespace facekit::nn::detail {

template <class V>
struct XsimdMaxPool {
    static constexpr int W = int(V::size);

    static void run(const MaxPool2d& pool, const ConstView& in, const View& out, const Context& ctx) {
        const Window& w = pool.window;
        if (w.kh == 2 && w.kw == 2) return run<2>(pool, in, out, ctx);
        if (w.kh == 3 && w.kw == 3) return run<3>(pool, in, out, ctx);
        run<0>(pool, in, out, ctx);
    }

private:
    /// K×K windows unrolled where they lie inside the input (K = 0: no unrolling).
    template <int K>
    static void run(const MaxPool2d& pool, const ConstView& in, const View& out, const Context& ctx) {
        using xsimd_kernels::load_first;
        const Window& window = pool.window;
        const Shape o = out.shape;
        const int c = o.c;
        const std::ptrdiff_t row_stride = std::ptrdiff_t(in.shape.w) * in.stride;
        ctx.parallel_for(std::int64_t(o.n) * o.h, [&](std::int64_t row) {
            const int n = int(row / o.h), oy = int(row % o.h);
            int y0, y1, x0, x1;
            MaxPool2d::span(oy, window.kh, window.sh, window.pad_top, in.shape.h, y0, y1);
            for (int ox = 0; ox < o.w; ++ox) {
                MaxPool2d::span(ox, window.kw, window.sw, window.pad_left, in.shape.w, x0, x1);
                float* dst = out.pixel(n, oy, ox);
                const float* corner = in.pixel(n, y0, x0);
                const bool whole = K > 0 && y1 - y0 == K && x1 - x0 == K;
                for (int ch = 0; ch < c; ch += W) {
                    const int count = c - ch;
                    V m(-std::numeric_limits<float>::infinity());
                    if constexpr (K > 0) {
                        if (whole) {
#pragma GCC unroll 3
                            for (int y = 0; y < K; ++y)
#pragma GCC unroll 3
                                for (int x = 0; x < K; ++x)
                                    m = xsimd_kernels::max_gt(load_first<V>(corner + y * row_stride + x * in.stride + ch, count), m);
                            xsimd_kernels::store_first(dst + ch, m, count);
                            continue;
                        }
                    }
                    const float* r = corner + ch;
                    for (int y = y0; y < y1; ++y, r += row_stride) {
                        const float* p = r;
                        for (int x = x0; x < x1; ++x, p += in.stride) m = xsimd_kernels::max_gt(load_first<V>(p, count), m);
                    }
                    xsimd_kernels::store_first(dst + ch, m, count);
                }
            }
        });
    }
};

}  // namespace facekit::nn::detail
