// facekit/engine/backend.hpp: what a backend is. Documented once, here; checked at compile time.
//
// A backend is a struct of static members that the layers of layers.hpp are templates over. It owns the
// arithmetic of the layers whose speed matters (convolution, depthwise convolution) and the layout their
// weights take in memory; everything else (shapes, checks, scheduling) is the layer's. The backends:
//   ReferenceBackend (backends/reference.hpp): plain loops in the order the maths is written; the
//     definition every other backend is tested against.
//   EigenBackend (backends/eigen.hpp): im2col + Eigen's GEMM, the baseline a BLAS user would write.
//   XsimdBackend<Arch> (backends/xsimd/backend.hpp): packed panels, register-tiled micro-kernels,
//     Winograd, fused conv + pool; the default (DefaultBackend, backends.hpp).
//
// struct Backend {
//     static constexpr const char* name;       // "scalar", "eigen", "xsimd": what `facekit bench` prints
//     static const char* isa() noexcept;       // the instruction set the code was compiled for ("avx512bw")
//
//     struct PackedConv;                       // a convolution's weights and epilogue, as the kernels read
//     struct PackedDepthwise;                  //   them; movable; built once, at load
//
//     static PackedConv pack(const ConvSpec& s);
//     static PackedDepthwise pack(const DepthwiseSpec& s);
//         Requires: s.validate() passes (pack may call it again and throw InvalidArgument).
//         Ensures: the packed form holds everything conv()/depthwise() read; s may be destroyed after.
//
//     static void conv(const PackedConv& p, ConstView in, View out, const ConstView* residual,
//                      const Context& ctx);
//         Requires: in.shape.c == cin; out.shape == (in.n, window.out_h(in.h), window.out_w(in.w), cout),
//         as Conv2d::forward checks; residual null or of out's shape; out does not alias in (it may
//         alias *residual only where the layer's caller says so: a pixel's residual is read before the
//         pixel is written).
//         Ensures: out = epilogue(Σ taps·channels in·w), the Epilogue of conv_spec.hpp: bias, then
//         residual + scale·v when residual is given, then the activation. The sum over taps × input
//         channels may be ordered differently from the reference backend (Winograd, blocking): results
//         agree to a few float ulps of the layer's magnitude (test_layers), never bit for bit by promise.
//         Work is split only through ctx.parallel_for(n, flops, fn), so ctx decides the threads; the call
//         neither allocates in the steady state nor keeps state between calls.
//
//     static void depthwise(const PackedDepthwise& p, ConstView in, View out, const ConstView* residual,
//                           const Context& ctx);
//         The same contract with one filter per channel (out.shape.c == in.shape.c == channels).
//
//     // Optional:
//     static void max_pool(const MaxPool2d& pool, ConstView in, View out, const Context& ctx);
//         Requires: out.shape == pool.output_shape(in.shape) (max_pool<Backend> checks it).
//         Ensures: out holds exactly the floats of MaxPool2d::forward (ops.hpp), the definition that
//         runs where a backend has no max_pool.
//     static bool conv_maxpool(const PackedConv& p, const MaxPool2d& pool, ConstView in, View out,
//                              const Context& ctx);
//         A convolution and the max pool after it in one pass. Returns false, touching nothing, where it
//         has no fused path for the geometry (ConvMaxPool2d then runs the two layers one after the
//         other); where it returns true, out holds exactly the floats of those two layers.
// };
#pragma once
#include <type_traits>
#include <utility>

#include "conv_spec.hpp"
#include "ops.hpp"
#include "workspace.hpp"

namespace facekit::nn {

namespace detail {
template <class B, class = void>
struct has_backend_members : std::false_type {};
template <class B>
struct has_backend_members<
    B, std::void_t<decltype(B::name), decltype(B::isa()), typename B::PackedConv, typename B::PackedDepthwise,
                   decltype(B::pack(std::declval<const ConvSpec&>())),
                   decltype(B::pack(std::declval<const DepthwiseSpec&>())),
                   decltype(B::conv(std::declval<const typename B::PackedConv&>(), std::declval<ConstView>(),
                                    std::declval<View>(), std::declval<const ConstView*>(),
                                    std::declval<const Context&>())),
                   decltype(B::depthwise(std::declval<const typename B::PackedDepthwise&>(), std::declval<ConstView>(),
                                         std::declval<View>(), std::declval<const ConstView*>(),
                                         std::declval<const Context&>()))>> : std::true_type {};
}  // namespace detail

/// True when B provides every required member above with a usable signature.
template <class B>
inline constexpr bool is_backend_v =
    detail::has_backend_members<B>::value &&
    std::is_same_v<decltype(B::pack(std::declval<const ConvSpec&>())), typename B::PackedConv> &&
    std::is_same_v<decltype(B::pack(std::declval<const DepthwiseSpec&>())), typename B::PackedDepthwise>;

}  // namespace facekit::nn
