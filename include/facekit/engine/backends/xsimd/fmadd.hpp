// facekit/engine/backends/xsimd/fmadd.hpp: the multiply-add every xsimd kernel accumulates with.
// xsimd 8 has no AVX-512 fma: it multiplies, then adds, and only GCC's contraction at -O2 and above
// fused the two. At -O1 (the sanitizer builds) the kernels then rounded twice and gave other floats
// than at -O3 (test_kernels). fmadd issues vfmadd itself for 512-bit float vectors.
#pragma once
#include <type_traits>

#include "../../intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <xsimd/xsimd.hpp>

namespace facekit::nn::xsimd_kernels {

/// True where fmadd is one fused multiply-add (one rounding); SSE and 32-bit NEON without VFPv4
/// multiply, round, then add. The kernels' sums are defined by it: tests check them against scalar
/// code that does the same (test_kernels).
inline constexpr bool kFusedMultiplyAdd =
#if defined(__FMA__) || defined(__AVX512F__) || defined(__ARM_FEATURE_FMA)
    true;
#else
    false;
#endif

/// a·b + c, rounded once where the ISA has FMA.
template <class V>
inline V fmadd(V a, V b, V c) {
#if defined(__AVX512F__)
    if constexpr (V::size == 16 && std::is_same_v<typename V::value_type, float>) return V(_mm512_fmadd_ps(a, b, c));
#endif
    return xsimd::fma(a, b, c);
}

}  // namespace facekit::nn::xsimd_kernels
