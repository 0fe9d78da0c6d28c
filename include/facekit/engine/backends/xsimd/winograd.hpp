// facekit/engine/backends/xsimd/winograd.hpp: 3×3 stride-1 convolutions as Winograd F(4×4, 3×3) or F(3×3, 3×3) for
// the xsimd backend (the transforms are in winograd_transforms.hpp): which one, if either, a map takes;
// the weights transformed at load; and the three steps (input transform, one GEMM per point through
// f32_gemm_fma, output transform ended by the fused epilogue).
#pragma once
#include <algorithm>
#include <cstring>

#include "../../workspace.hpp"
#include "../../conv_spec.hpp"
#include "direct.hpp"
#include "epilogue.hpp"
#include "kernels.hpp"
#include "winograd_transforms.hpp"

namespace facekit::nn::detail {

/// B is the XsimdBackend it serves (its vector type, tile heights and packed convolution).
template <class B>
struct XsimdWinograd {
    using V = typename B::V;
    using PackedConv = typename B::PackedConv;
    static constexpr int W = B::W;

    /// Transforms the weights of a 3×3 stride-1 convolution with enough input channels: F4's always,
    /// F3's too where F4's are small (only then can F3 be chosen).
    static void pack(const ConvSpec& s, PackedConv& p) {
        const Window& w = s.window;
        if (!(w.kh == 3 && w.kw == 3 && w.sh == 1 && w.sw == 1 && s.cin >= kMinChannels)) return;
        pack_transformed<winograd::F4>(s, p, p.winograd);
        if (p.winograd.size() * sizeof(float) <= kSmallWeightBytes) pack_transformed<winograd::F3>(s, p, p.winograd3);
    }

    /// Runs the convolution as Winograd and returns true where it pays; false leaves it to the caller.
    static bool run(const PackedConv& p, const ConstView& in, const View& out, const ConstView* residual,
                    const Context& ctx) {
        constexpr int MR = B::MR, MR_WIDE = B::MR_WIDE;
        switch (choose(p, out.shape)) {
            case Choice::F4:
                if (p.vectors == 1) convolve<winograd::F4, MR, 1>(p, p.winograd, in, out, residual, ctx);
                else convolve<winograd::F4, MR_WIDE, 2>(p, p.winograd, in, out, residual, ctx);
                return true;
            case Choice::F3:
                if (p.vectors == 1) convolve<winograd::F3, MR, 1>(p, p.winograd3, in, out, residual, ctx);
                else convolve<winograd::F3, MR_WIDE, 2>(p, p.winograd3, in, out, residual, ctx);
                return true;
            case Choice::None: break;
        }
        return false;
    }

    /// True where run() would take the convolution to output map o.
    static bool takes(const PackedConv& p, const Shape& o) { return choose(p, o) != Choice::None; }

private:
    // Winograd pays for its transforms when the channel sums are long enough (≥ 8 input channels: P-Net's
    // conv2 with 10 runs 9 % faster than direct, its loads masked to 10 lanes) and
    // the map has enough tiles to pay for reading its transformed weights, which are four times the
    // direct ones: ≥ 16 tiles per image, or ≥ 4 when those weights stay in L2 and the tiles cover at most
    // twice the map (MTCNN's 9×9 and 8×8 maps; not the 8×8×256 of Inception-ResNet's mixed_7a, 9.4 MB).
    static constexpr int kMinChannels = 8, kMinTiles = 16, kMinTilesSmall = 4;
    static constexpr std::size_t kSmallWeightBytes = 1 << 20;

    template <class F>
    static std::int64_t tile_count(const Shape& o) {
        return std::int64_t(o.n) * ((o.h + F::kTile - 1) / F::kTile) * ((o.w + F::kTile - 1) / F::kTile);
    }
    /// At least `min_tiles` tiles per image, covering at most twice the map (a 9×9 map in F4's 12×12: 1.8).
    template <class F>
    static bool fits(const Shape& o, std::int64_t min_tiles) {
        const std::int64_t per_image = tile_count<F>(o) / o.n;
        return per_image >= min_tiles && per_image * F::kTile * F::kTile <= 2 * std::int64_t(o.h) * o.w;
    }
    enum class Choice { None, F4, F3 };
    /// Decided per image, so that an image's result never depends on the batch it came in. F3 where its
    /// weights exist and it multiplies much less than F4 (R-Net's 9×9: 9 tiles × 25 against 9 × 36).
    static Choice choose(const PackedConv& p, const Shape& o) {
        using winograd::F3;
        using winograd::F4;
        if (p.winograd.size() == 0) return Choice::None;
        const bool small = p.winograd.size() * sizeof(float) <= kSmallWeightBytes;
        const bool f4 = tile_count<F4>(o) / o.n >= kMinTiles || (small && fits<F4>(o, kMinTilesSmall));
        const bool f3 = p.winograd3.size() != 0 && fits<F3>(o, kMinTilesSmall);
        // F3's tiles cost more transforms per product: it must save a seventh (O-Net's 21×21 saves 5 %, and
        // runs 3 % slower)
        if (f3 && (!f4 || 7 * tile_count<F3>(o) * F3::kPoints < 6 * tile_count<F4>(o) * F4::kPoints)) return Choice::F3;
        return f4 ? Choice::F4 : Choice::None;
    }

    static constexpr std::int64_t kBlockBytes = 384 << 10;

    /// This thread's V and M blocks, for every Winograd convolution it runs.
    static std::pair<AlignedBuffer<float>, AlignedBuffer<float>>& thread_blocks() {
        thread_local std::pair<AlignedBuffer<float>, AlignedBuffer<float>> blocks;
        return blocks;
    }

    /// A 3×3 stride-1 convolution as Winograd F(m×m, 3×3) (winograd.hpp; F = F4 or F3, with its weights
    /// U). The tiles are cut into blocks small enough that a block's transformed input V and products M
    /// stay in a core's L2 cache; one thread runs a block through all three steps: α×α input blocks to V,
    /// the α² GEMMs M[ξ] = V[ξ]·U[ξ] over the channels, and each M block back to its m×m outputs with the
    /// epilogue. Tiles past the map's edge read zeros and store nothing.
    template <class F, int ROWS, int NV>
    static void convolve(const PackedConv& p, const PackedArray& u, const ConstView& in, const View& out,
                              const ConstView* residual, const Context& ctx) {
        const std::int64_t tiles = tile_count<F>(out.shape);
        const int cin_p = (p.cin + W - 1) / W * W, cout_p = p.panels * NV * W;
        // tiles per block: V and M of a block fill at most kBlockBytes (at least ROWS tiles)
        auto largest = [&](int points) {
            const std::int64_t per_tile = std::int64_t(points) * (cin_p + cout_p) * std::int64_t(sizeof(float));
            return std::max<std::int64_t>(ROWS, kBlockBytes / per_tile / ROWS * ROWS);
        };
        const std::int64_t block =
            std::min(largest(F::kPoints), std::max<std::int64_t>(ROWS, (tiles / (2 * ctx.threads()) + ROWS - 1) / ROWS * ROWS));
        const std::int64_t blocks = (tiles + block - 1) / block;
        // Each thread's V and M blocks are shared by both tile sizes and sized, at a layer's first run, for
        // the layer's largest block of either: a smaller map, which may pick F(3×3) where a larger one
        // picked F(4×4), then needs no more memory (Detector::reserve relies on it).
        const std::size_t need_v = std::size_t(std::max(winograd::F4::kPoints * largest(winograd::F4::kPoints), winograd::F3::kPoints * largest(winograd::F3::kPoints)) * cin_p);
        const std::size_t need_m = std::size_t(std::max(winograd::F4::kPoints * largest(winograd::F4::kPoints), winograd::F3::kPoints * largest(winograd::F3::kPoints)) * cout_p);
        ctx.parallel_for(blocks, XsimdDirect<B>::flops(p, std::int64_t(out.shape.pixels())), [&](std::int64_t k) {
            AlignedBuffer<float>&vbuf = thread_blocks().first, &mbuf = thread_blocks().second;
            if (vbuf.size() < need_v) vbuf.resize(need_v);
            if (mbuf.size() < need_m) mbuf.resize(need_m);
            const std::int64_t t0 = k * block;
            const Block b{vbuf.data(), mbuf.data(), t0, std::min(block, tiles - t0), cin_p, cout_p};
            for (std::int64_t i = 0; i < b.count; ++i) transform_input<F>(p, in, out.shape, b, i);
            zero_rows_past_count<F, ROWS>(b);
            for (int xi = 0; xi < F::kPoints; ++xi)
                for (int panel = 0; panel < p.panels; ++panel) multiply<F, ROWS, NV>(p, u, b, xi, panel);
            for (std::int64_t i = 0; i < b.count; ++i) transform_output<F>(p, out, residual, b, i);
        });
    }

    /// Tiles [t0, t0+count) of a Winograd convolution: V as [tile][ξ][cin_p], M as [tile][ξ][cout_p], so
    /// that a tile's transforms read and write one contiguous run (as [ξ][tile], its α² vectors went to α²
    /// cache lines, and the stores were a quarter of the input transform's time); the GEMM of point ξ
    /// reads its rows α²·cin_p floats apart, as cheaply as cin_p apart.
    struct Block {
        float* v;
        float* m;
        std::int64_t t0, count;
        int cin_p, cout_p;
    };

    /// Zeros V's rows from the block's last tile up to a whole micro-kernel tile.
    template <class F, int ROWS>
    static void zero_rows_past_count(const Block& b) {
        const std::int64_t end = (b.count + ROWS - 1) / ROWS * ROWS;
        std::memset(b.v + b.count * F::kPoints * b.cin_p, 0, std::size_t(end - b.count) * F::kPoints * b.cin_p * sizeof(float));
    }

    /// Image, row and column of tile t's top-left output.
    template <class F>
    static void tile_origin(const Shape& o, std::int64_t t, int& n, int& y, int& x) {
        const int th = (o.h + F::kTile - 1) / F::kTile, tw = (o.w + F::kTile - 1) / F::kTile;
        n = int(t / (std::int64_t(th) * tw));
        const int r = int(t % (std::int64_t(th) * tw));
        y = r / tw * F::kTile, x = r % tw * F::kTile;
    }

    /// V for tile i of the block: Bᵀ d B of its α×α input block, every channel.
    template <class F>
    static void transform_input(const PackedConv& p, const ConstView& in, const Shape& o, const Block& b,
                               std::int64_t i) {
        constexpr int kAlpha = F::kAlpha, kPoints = F::kPoints;
        int n, oy, ox;
        tile_origin<F>(o, b.t0 + i, n, oy, ox);
        const int iy0 = oy - p.window.pad_top, ix0 = ox - p.window.pad_left;
        const bool interior = iy0 >= 0 && ix0 >= 0 && iy0 + kAlpha <= in.shape.h && ix0 + kAlpha <= in.shape.w;
        const std::ptrdiff_t row_stride = std::ptrdiff_t(in.shape.w) * in.stride;
        for (int c = 0; c < b.cin_p; c += W) {
            V d[kAlpha][kAlpha], v[kAlpha][kAlpha];
            // every loop over the α×α points unrolled, so that d, v and m live in registers (rolled, the
            // loads and stores went through the stack and took half of a transform's time)
            const int count = p.cin - c;
            if (interior) {  // the common case without a test per point; the last vector of channels masked
                const float* corner = in.pixel(n, iy0, ix0) + c;
                if (count >= W) {
#pragma GCC unroll 6
                    for (int y = 0; y < kAlpha; ++y)
#pragma GCC unroll 6
                        for (int x = 0; x < kAlpha; ++x) d[y][x] = V::load_unaligned(corner + y * row_stride + x * in.stride);
                } else {
#pragma GCC unroll 6
                    for (int y = 0; y < kAlpha; ++y)
#pragma GCC unroll 6
                        for (int x = 0; x < kAlpha; ++x) d[y][x] = xsimd_kernels::load_first<V>(corner + y * row_stride + x * in.stride, count);
                }
            } else {
#pragma GCC unroll 6
                for (int y = 0; y < kAlpha; ++y)
#pragma GCC unroll 6
                    for (int x = 0; x < kAlpha; ++x) {
                        const int iy = iy0 + y, ix = ix0 + x;
                        const bool inside = iy >= 0 && iy < in.shape.h && ix >= 0 && ix < in.shape.w;
                        d[y][x] = inside ? xsimd_kernels::load_first<V>(in.pixel(n, iy, ix) + c, count) : V(0.0f);
                    }
            }
            winograd::input_2d<F>(d, v);
#pragma GCC unroll 36
            for (int xi = 0; xi < kPoints; ++xi)
                v[xi / kAlpha][xi % kAlpha].store_aligned(b.v + (i * kPoints + xi) * b.cin_p + c);
        }
    }

    /// M[ξ] = V[ξ]·U[ξ] for one panel of output channels, all tiles of the block (V's rows past the
    /// block's tiles are zeros: computed, never stored).
    template <class F, int ROWS, int NV>
    static void multiply(const PackedConv& p, const PackedArray& weights, const Block& b, int xi,
                              int panel) {
        constexpr int nr = NV * W;
        const float* u = &weights[(std::size_t(xi) * p.panels + panel) * p.cin * nr];
        for (std::int64_t r0 = 0; r0 < b.count; r0 += ROWS) {
            V acc[ROWS][NV];
            xsimd_kernels::zero_tile(acc);
            xsimd_kernels::f32_gemm_fma<ROWS, NV>(b.v + (r0 * F::kPoints + xi) * b.cin_p, std::ptrdiff_t(F::kPoints) * b.cin_p, p.cin, u, acc);
            for (int r = 0; r < ROWS && r0 + r < b.count; ++r)
                for (int v = 0; v < NV; ++v)
                    acc[r][v].store_aligned(b.m + ((r0 + r) * F::kPoints + xi) * b.cout_p + panel * nr + v * W);
        }
    }

    /// Tile i's m×m outputs: Aᵀ M A, then the epilogue; outputs past the map's edge are not stored.
    template <class F>
    static void transform_output(const PackedConv& p, const View& out, const ConstView* residual, const Block& b,
                                 std::int64_t i) {
        xsimd_kernels::with_activation(p.activation, [&](auto act) {
            transform_output<F, decltype(act)::value>(p, out, residual, b, i);
        });
    }
    /// Unrolled over the tile with a test per output (a loop to the map's edge kept the outputs on the
    /// stack), the activation chosen once.
    template <class F, Activation Act>
    static void transform_output(const PackedConv& p, const View& out, const ConstView* residual, const Block& b,
                                 std::int64_t i) {
        constexpr int kAlpha = F::kAlpha, kPoints = F::kPoints, kTile = F::kTile;
        const Shape& o = out.shape;
        int n, oy, ox;
        tile_origin<F>(o, b.t0 + i, n, oy, ox);
        const int rows = std::min(kTile, o.h - oy), cols = std::min(kTile, o.w - ox);
        for (int c = 0; c < p.cout; c += W) {
            const int count = p.cout - c;
            V m[kAlpha][kAlpha], y[kTile][kTile];
#pragma GCC unroll 36
            for (int xi = 0; xi < kPoints; ++xi) m[xi / kAlpha][xi % kAlpha] = V::load_aligned(b.m + (i * kPoints + xi) * b.cout_p + c);
            winograd::output_2d<F>(m, y);
            const V bias = V::load_aligned(&p.bias[c]), alpha = V::load_aligned(&p.alpha[c]);
#pragma GCC unroll 4
            for (int dy = 0; dy < kTile; ++dy)
#pragma GCC unroll 4
                for (int dx = 0; dx < kTile; ++dx) {
                    if (dy >= rows || dx >= cols) continue;
                    const float* res = residual ? residual->pixel(n, oy + dy, ox + dx) + c : nullptr;
                    xsimd_kernels::store_first(out.pixel(n, oy + dy, ox + dx) + c,
                                               xsimd_kernels::f32_epilogue<Act>(y[dy][dx], bias, alpha, res, p.residual_scale, count),
                                               count);
                }
        }
    }

    /// U = G g Gᵀ of every (output, input) channel pair, as [ξ][panel][cin][nr].
    template <class F>
    static void pack_transformed(const ConvSpec& s, const PackedConv& p, PackedArray& u_out) {
        const int nr = p.vectors * W;
        const std::size_t k = std::size_t(s.reduction());
        if (s.prepacked) return u_out.expect(std::size_t(F::kPoints) * p.panels * s.cin * nr);
        u_out.resize(std::size_t(F::kPoints) * p.panels * s.cin * nr);
        std::memset(u_out.data(), 0, u_out.size() * sizeof(float));
        for (int co = 0; co < s.cout; ++co)
            for (int ci = 0; ci < s.cin; ++ci) {
                double g[3][3], u[F::kAlpha][F::kAlpha];  // in double: G's fractions then cost no precision
                for (int t = 0; t < 9; ++t) g[t / 3][t % 3] = s.weights[co * k + std::size_t(t) * s.cin + ci];
                winograd::filter_2d<F>(g, u);
                for (int xi = 0; xi < F::kPoints; ++xi)
                    u_out[((std::size_t(xi) * p.panels + co / nr) * s.cin + ci) * nr + co % nr] = float(u[xi / F::kAlpha][xi % F::kAlpha]);
            }
    }
};

}  // namespace facekit::nn::detail
