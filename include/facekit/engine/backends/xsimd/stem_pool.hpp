// facekit/engine/backends/xsimd/stem_pool.hpp: a narrow stem and the 2×2 max pool after it, in one pass, vectorised
// over output pixels instead of output channels (xsimd backend).
//
// MTCNN's P-Net opens with a 3×3 convolution from 3 to 10 channels, PReLU, then a 2×2/2 max pool. With
// output channels in the vector lanes, 6 of 16 lanes compute nothing; with output pixels in the lanes,
// every lane works. The input is split once into even and odd columns, planar: conv column 2j + kx then
// reads even[j], odd[j] or even[j + 1], so one vector of W pooled columns needs the conv values of W
// even and W odd columns, each from contiguous loads, and the pool's horizontal pair is max(even, odd)
// with no shuffle. Each conv value sums its 27 products in the order of the channel-vector kernel (taps,
// then channels, from zero), then bias, then the activation; the four values of a window are maxed in
// MaxPool2d's order: the same floats as the convolution and the pool run one after the other.
#pragma once
#include <algorithm>
#include <limits>

#include "../../workspace.hpp"
#include "../../conv_spec.hpp"
#include "../../ops.hpp"
#include "epilogue.hpp"
#include "fmadd.hpp"
#include "max.hpp"

namespace facekit::nn::detail {

template <class B>
struct XsimdStemPool {
    using V = typename B::V;
    using PackedConv = typename B::PackedConv;
    static constexpr int W = B::W;
    static constexpr int kCin = 3, kK = 3;  // 3×3 kernels over 3 channels: 27 products per value

    /// Runs conv (3×3, stride 1, unpadded, 3 → 10 channels) then pool (2×2, stride 2, unpadded) as one
    /// pass and returns true; false leaves any other geometry to the caller.
    static bool run(const PackedConv& p, const MaxPool2d& pool, const ConstView& in, const View& out,
                    const Context& ctx) {
        const Window& c = p.window;
        const Window& w = pool.window;
        const bool conv_fits = c.kh == kK && c.kw == kK && c.sh == 1 && c.sw == 1 && c.pad_top == 0 && c.pad_left == 0 &&
                               c.pad_bottom == 0 && c.pad_right == 0 && p.cin == kCin && p.cout == 10 && in.dense();
        const bool pool_fits = w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.pad_top == 0 && w.pad_left == 0 &&
                               w.pad_bottom == 0 && w.pad_right == 0;
        // 2 × 10 accumulators and their operands need AVX-512's 32 registers (16 would spill)
        if (W < 16 || !conv_fits || !pool_fits || in.shape.h < kK || in.shape.w < kK) return false;
        xsimd_kernels::with_activation(p.activation, [&](auto act) { convolve<10, decltype(act)::value>(p, in, out, ctx); });
        return true;
    }

private:
    /// The input of one image as planes [parity][channel][row][j] = in[row][2j + parity][channel], each
    /// row `pitch` floats with zeros past the image (read by lanes past the map's edge, then dropped).
    struct Planes {
        float* data;
        int rows, pitch;
        float* at(int parity, int channel, int row) const {
            return data + ((std::size_t(parity) * kCin + channel) * rows + row) * pitch;
        }
    };

    /// Image n of `in` as Planes in `buffer` (2 · 3 · rows · pitch floats).
    static Planes split_columns(const ConstView& in, int n, float* buffer, int pitch) {
        const Planes planes{buffer, in.shape.h, pitch};
        const int width = in.shape.w;
        for (int y = 0; y < in.shape.h; ++y) {
            const float* src = in.pixel(n, y, 0);
            for (int parity = 0; parity < 2; ++parity)
                for (int ch = 0; ch < kCin; ++ch) {
                    float* dst = planes.at(parity, ch, y);
                    int j = 0;
                    for (; 2 * j + parity < width; ++j) dst[j] = src[(2 * j + parity) * kCin + ch];
                    std::fill(dst + j, dst + pitch, 0.0f);
                }
        }
        return planes;
    }

    /// even/odd[c] = the 27 products of conv row `row` summed, for W even and W odd columns from pooled
    /// column j0 on: even column 2j reads even[j], odd[j], even[j+1] for kx = 0, 1, 2; odd column 2j+1
    /// reads odd[j], even[j+1], odd[j+1]. weights: [tap·cin][C].
    template <int C>
    static void conv_row(const float (&weights)[kK * kK * kCin][C], const Planes& planes, int row, int j0, V (&even)[C],
                         V (&odd)[C]) {
        for (int c = 0; c < C; ++c) even[c] = odd[c] = V(0.0f);
        for (int ky = 0; ky < kK; ++ky)
            for (int kx = 0; kx < kK; ++kx)
                for (int ch = 0; ch < kCin; ++ch) {
                    // kx = 0: even[j], odd[j]; kx = 1: odd[j], even[j+1]; kx = 2: even[j+1], odd[j+1]
                    const int pe = kx % 2, pe_shift = kx / 2, po = (kx + 1) % 2, po_shift = (kx + 1) / 2;
                    const V xe = V::load_unaligned(planes.at(pe, ch, row + ky) + j0 + pe_shift);
                    const V xo = V::load_unaligned(planes.at(po, ch, row + ky) + j0 + po_shift);
                    const float* w = weights[(ky * kK + kx) * kCin + ch];
#pragma GCC unroll 16
                    for (int c = 0; c < C; ++c) {
                        const V wc(w[c]);
                        even[c] = xsimd_kernels::fmadd(xe, wc, even[c]);
                        odd[c] = xsimd_kernels::fmadd(xo, wc, odd[c]);
                    }
                }
    }

    /// The fused epilogue of one channel over W pixels (no residual: a pool follows).
    template <Activation Act>
    static V activate(V v, float bias, float alpha) {
        return xsimd_kernels::f32_epilogue<Act>(v, V(bias), V(alpha), nullptr, 1.0f, W);
    }

    template <int C, Activation Act>
    static void convolve(const PackedConv& p, const ConstView& in, const View& out, const Context& ctx) {
        float weights[kK * kK * kCin][C];  // from the packed panels: output channel c of tap-channel k
        const int nr = p.vectors * W;
        for (int k = 0; k < kK * kK * kCin; ++k)
            for (int c = 0; c < C; ++c) weights[k][c] = p.weights[(std::size_t(c / nr) * kK * kK * kCin + k) * nr + c % nr];
        const int conv_h = in.shape.h - kK + 1, conv_w = in.shape.w - kK + 1;
        const int pooled_w = out.shape.w, chunks = (pooled_w + W - 1) / W;
        const int pitch = chunks * W + 1 + W;  // even[j + 1] of the last chunk, rounded up
        for (int n = 0; n < in.shape.n; ++n) {
            thread_local AlignedBuffer<float> buffer;
            const std::size_t need = std::size_t(2) * kCin * in.shape.h * pitch;
            if (buffer.size() < need) buffer.resize(need);
            const Planes planes = split_columns(in, n, buffer.data(), pitch);
            ctx.parallel_for(out.shape.h, [&](std::int64_t py) {
                const int y0 = int(py) * 2;
                alignas(64) float pooled[C][W];
                for (int k = 0; k < chunks; ++k) {
                    const int j0 = k * W;
                    // odd columns past the conv map (ceil mode's last window, one column wide) count as −∞
                    const int odd_valid = conv_w / 2 - j0;
                    V even[C], odd[C];
                    // a window's four values in MaxPool2d's order, from −∞: row y0 (even, odd), then y0 + 1
                    for (int y = y0; y < std::min(y0 + 2, conv_h); ++y) {
                        conv_row<C>(weights, planes, y, j0, even, odd);
                        for (int c = 0; c < C; ++c) {
                            const V e = activate<Act>(even[c], p.bias[c], p.alpha[c]);
                            const V o = mask_past(activate<Act>(odd[c], p.bias[c], p.alpha[c]), odd_valid);
                            const V m = y == y0 ? V(-std::numeric_limits<float>::infinity()) : V::load_aligned(pooled[c]);
                            xsimd_kernels::max_gt(o, xsimd_kernels::max_gt(e, m)).store_aligned(pooled[c]);
                        }
                    }
                    // W pooled pixels × C channels back to NHWC
                    const int count = std::min(W, pooled_w - j0);
                    float* dst = out.pixel(n, int(py), j0);
                    for (int i = 0; i < count; ++i)
                        for (int c = 0; c < C; ++c) dst[std::size_t(i) * out.stride + c] = pooled[c][i];
                }
            });
        }
    }

    /// Lanes from `valid` on set to −∞ (never the maximum).
    static V mask_past(V v, int valid) {
        if (valid >= W) return v;
        alignas(64) float lanes[W];
        v.store_aligned(lanes);
        for (int i = std::max(valid, 0); i < W; ++i) lanes[i] = -std::numeric_limits<float>::infinity();
        return V::load_aligned(lanes);
    }
};

}  // namespace facekit::nn::detail
