// facekit/engine/backends/xsimd/epilogue.hpp: the one fused epilogue of the xsimd backend, applied to a
// vector of accumulated sums before its single store: bias, then the residual scale-add, then the
// activation (the Epilogue of conv_spec.hpp, in its order). Every strategy (direct and row tiles,
// depthwise, Winograd's output transform, the fused conv + pool paths) ends through it, so that they all
// give the floats of the reference backend's epilogue.
#pragma once
#include <type_traits>

#include "../../intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <xsimd/xsimd.hpp>

#include "../../conv_spec.hpp"
#include "fmadd.hpp"
#include "max.hpp"
#include "masked.hpp"

namespace facekit::nn::xsimd_kernels {

/// act(residual + scale·(acc + bias)) with a residual, act(acc + bias) without; residual holds `count`
/// floats (all lanes when count ≥ the width). Act is a compile-time constant so that a tile's loop over
/// its accumulators carries no branch on it (with_activation chooses it once per call).
template <Activation Act, class V>
inline V f32_epilogue(V acc, V bias, V alpha, const float* residual, float scale, int count) {
    V x = acc + bias;
    if (residual) x = fmadd(x, V(scale), load_first<V>(residual, count));
    if constexpr (Act == Activation::ReLU) x = max_gt(x, V(0.0f));
    if constexpr (Act == Activation::PReLU) x = xsimd::select(x > V(0.0f), x, x * alpha);
    return x;
}

/// Calls f(std::integral_constant<Activation, act>{}): the run-time activation as a template argument.
template <class F>
inline void with_activation(Activation act, F&& f) {
    switch (act) {
        case Activation::None: return f(std::integral_constant<Activation, Activation::None>{});
        case Activation::ReLU: return f(std::integral_constant<Activation, Activation::ReLU>{});
        case Activation::PReLU: return f(std::integral_constant<Activation, Activation::PReLU>{});
    }
}

}  // namespace facekit::nn::xsimd_kernels
