// facekit/engine/backends/xsimd/backend.hpp: the fast backend, vectorised with xsimd for the instruction set
// the compiler targets (AVX-512, AVX2+FMA, SSE, NEON; -march decides). This file packs the weights and
// chooses a strategy; the arithmetic lives beside it, one file per job:
//
//   masked.hpp     loads/stores of a vector's first lanes (channel tails)
//   kernels.hpp    the GEMM micro-kernels: f32_igemm_fma, f32_gemm_fma (ROWS × NV·W tiles, FMA)
//   epilogue.hpp   the one fused epilogue (bias, residual scale-add, activation) every strategy ends with
//   direct.hpp     any convolution as an indirect GEMM over pixel tiles × channel panels
//   rows.hpp       unpadded stride-1 convolutions as tiles along an output row (MTCNN)
//   winograd.hpp   3×3 stride-1 convolutions as Winograd F(4×4, 3×3) / F(3×3, 3×3) (+ winograd_transforms.hpp)
//   depthwise.hpp  depthwise convolution, four pixels per step
//   rows_pool.hpp  row tiles + the max pool after them through a ring of rows (R-/O-Net stems)
//   stem_pool.hpp  P-Net's 3→10 stem + 2×2 pool, vectorised over pixels
//   max_pool.hpp   max pooling
//
// Weights are packed once, at load, into panels of one or two vector widths of output channels
// (whichever pads cout less: 10 channels use a 16-wide panel, 48 use three), in exactly the order the
// micro-kernels read them: [panel][tap][cin][nr]. Every strategy gives results within the contract of
// backend.hpp; where two could take a layer, the choice depends on the layer's geometry and one image's
// map, never on the batch or the threads.
#pragma once
#include <cstring>
#include <string>
#include <type_traits>

#include "../../intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <xsimd/xsimd.hpp>

#include "../../conv_spec.hpp"
#include "../../ops.hpp"
#include "../../workspace.hpp"
#include "depthwise.hpp"
#include "direct.hpp"
#include "max_pool.hpp"
#include "rows.hpp"
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
    static const char* isa() noexcept { return Arch::name(); }

    struct PackedConv {
        Window window;
        int cin = 0, cout = 0, panels = 0;
        int vectors = 2;               // panel width in vectors (nr = vectors·W columns)
        PackedArray weights;    // [panel][tap][cin][nr]
        PackedArray winograd;   // 3×3 stride 1 only: F(4×4, 3×3)'s G g Gᵀ as [ξ][panel][cin][nr]
        PackedArray winograd3;  // F(3×3, 3×3)'s, where F4's weights are small (winograd.hpp)
        PackedArray bias, alpha;  // padded to panels·nr
        Activation activation = Activation::None;
        float residual_scale = 1.0f;
    };
    struct PackedDepthwise {
        Window window;
        int channels = 0, padded = 0;
        PackedArray weights;  // [tap][padded channels]
        PackedArray bias, alpha;
        Activation activation = Activation::None;
        float residual_scale = 1.0f;
    };

    using Direct = detail::XsimdDirect<XsimdBackend>;
    using Rows = detail::XsimdRows<XsimdBackend>;
    using Winograd = detail::XsimdWinograd<XsimdBackend>;
    using Depthwise = detail::XsimdDepthwise<XsimdBackend>;
    using StemPool = detail::XsimdStemPool<XsimdBackend>;
    using RowsPool = detail::XsimdRowsPool<XsimdBackend>;

    static PackedConv pack(const ConvSpec& s) {
        s.validate();
        PackedConv p;
        p.window = s.window, p.cin = s.cin, p.cout = s.cout;
        const int wide = (s.cout + NR - 1) / NR * NR, narrow = (s.cout + W - 1) / W * W;
        p.vectors = narrow < wide ? 1 : 2;
        const int nr = p.vectors * W;
        p.panels = (s.cout + nr - 1) / nr;
        const std::size_t k = std::size_t(s.reduction());
        p.activation = s.epilogue.activation, p.residual_scale = s.epilogue.residual_scale;
        if (s.prepacked) {  // the arrays come from a packed weights file: only their sizes here
            p.weights.expect(std::size_t(p.panels) * k * nr);
            Winograd::pack(s, p);
            p.bias.expect(std::size_t(p.panels) * nr), p.alpha.expect(std::size_t(p.panels) * nr);
            return p;
        }
        p.weights.resize(std::size_t(p.panels) * k * nr);
        std::memset(p.weights.data(), 0, p.weights.size() * sizeof(float));
        for (int co = 0; co < s.cout; ++co)
            for (std::size_t j = 0; j < k; ++j)
                p.weights[(std::size_t(co / nr) * k + j) * nr + co % nr] = s.weights[co * k + j];
        Winograd::pack(s, p);
        pack_epilogue(s.epilogue, s.cout, std::size_t(p.panels) * nr, p.bias, p.alpha);
        return p;
    }

    static PackedDepthwise pack(const DepthwiseSpec& s) {
        s.validate();
        PackedDepthwise p;
        p.window = s.window, p.channels = s.channels;
        p.padded = (s.channels + W - 1) / W * W;
        p.activation = s.epilogue.activation, p.residual_scale = s.epilogue.residual_scale;
        if (s.prepacked) {
            p.weights.expect(std::size_t(s.window.taps()) * p.padded);
            p.bias.expect(std::size_t(p.padded)), p.alpha.expect(std::size_t(p.padded));
            return p;
        }
        p.weights.resize(std::size_t(s.window.taps()) * p.padded);
        std::memset(p.weights.data(), 0, p.weights.size() * sizeof(float));
        for (int t = 0; t < s.window.taps(); ++t)
            std::memcpy(&p.weights[std::size_t(t) * p.padded], &s.weights[std::size_t(t) * s.channels], s.channels * sizeof(float));
        pack_epilogue(s.epilogue, s.channels, p.padded, p.bias, p.alpha);
        return p;
    }

    /// The layout of the packed arrays, which a packed weights file must match (engine/prepacked.hpp).
    /// It depends on the vector width only: SSE2 and NEON builds (4 floats) read the same files.
    static const char* packed_layout() noexcept {
        static_assert(W == 4 || W == 8 || W == 16, "name the packed layout of this vector width");
        return W == 16 ? "xsimd-f32-w16-v1" : W == 8 ? "xsimd-f32-w8-v1" : "xsimd-f32-w4-v1";
    }

    /// Calls f(name, array) for every packed array of p ([const] PackedConv or PackedDepthwise), in a
    /// fixed order: what a packed weights file stores of a layer.
    template <class P, class F>
    static void for_each_array(P& p, F&& f) {
        f("weights", p.weights);
        if constexpr (std::is_same_v<std::remove_const_t<P>, PackedConv>) f("winograd", p.winograd), f("winograd3", p.winograd3);
        f("bias", p.bias), f("alpha", p.alpha);
    }

    /// Winograd where it pays, row tiles where they fit, the direct indirect GEMM otherwise.
    static void conv(const PackedConv& p, ConstView in, View out, const ConstView* residual, const Context& ctx) {
        if (Winograd::run(p, in, out, residual, ctx)) return;
        if (Rows::run(p, in, out, residual, ctx)) return;
        Direct::run(p, in, out, residual, ctx);
    }

    static void depthwise(const PackedDepthwise& p, ConstView in, View out, const ConstView* residual,
                          const Context& ctx) {
        Depthwise::run(p, in, out, residual, ctx);
    }

    /// A convolution and the max pool after it in one pass: P-Net's stem over pixels (stem_pool.hpp),
    /// row tiles into a ring of rows pooled from L1 (rows_pool.hpp); false leaves them to conv()
    /// and max_pool().
    static bool conv_maxpool(const PackedConv& p, const MaxPool2d& pool, ConstView in, View out, const Context& ctx) {
        return StemPool::run(p, pool, in, out, ctx) || RowsPool::run(p, pool, in, out, ctx);
    }

    static void max_pool(const MaxPool2d& pool, ConstView in, View out, const Context& ctx) {
        detail::XsimdMaxPool<V>::run(pool, in, out, ctx);
    }

private:
    static void pack_epilogue(const Epilogue& e, int channels, std::size_t padded, PackedArray& bias, PackedArray& alpha) {
        bias.resize(padded), alpha.resize(padded);
        std::memset(bias.data(), 0, padded * sizeof(float));
        std::memset(alpha.data(), 0, padded * sizeof(float));
        std::memcpy(bias.data(), e.bias.data(), channels * sizeof(float));
        if (e.activation == Activation::PReLU) std::memcpy(alpha.data(), e.alpha.data(), channels * sizeof(float));
    }
};

}  // namespace facekit::nn
