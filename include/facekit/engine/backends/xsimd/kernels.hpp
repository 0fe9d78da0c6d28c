// facekit/engine/backends/xsimd/kernels.hpp: the float GEMM micro-kernels every convolution strategy of
// the xsimd backend runs through (direct and row tiles, Winograd's per-point products).
//
// A micro-kernel holds a ROWS × (NV·W) tile of accumulators in registers and adds k rank-1 updates:
// acc[r][·] += a[r][i] · w[i][·], broadcasting one input float against NV vectors of packed weights per
// step (12×32 on AVX-512: 24 of its 32 zmm registers). Names say what a kernel is, XNNPACK's way:
// f32_igemm (one input pointer per row, "indirect"), f32_gemm (rows a fixed stride apart); the tile is
// the template's ROWS × NV·W, the ISA the vector type's architecture, the arithmetic FMA with broadcast
// A; ukernel_name() spells it out ("f32_igemm_12x32__avx512bw_fma"), as tests and benchmarks print it.
// The epilogue is not here: it is applied once per tile by the caller (epilogue.hpp).
#pragma once
#include <cstddef>
#include <string>

#include "../../intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <xsimd/xsimd.hpp>

#include "fmadd.hpp"

namespace facekit::nn::xsimd_kernels {

/// "f32_igemm_12x32__avx512bw_fma": a kernel's family, tile, ISA and multiply-add.
template <class V>
inline std::string ukernel_name(const char* family, int rows, int nv) {
    return std::string(family) + "_" + std::to_string(rows) + "x" + std::to_string(nv * int(V::size)) + "__" +
           V::arch_type::name() + (kFusedMultiplyAdd ? "_fma" : "_mul_add");
}

/// acc[r] += a[r][0..k) · w[0..k)[0..NV·W): one pointer per row, weights packed as [k][NV·W], aligned.
template <int ROWS, int NV, class V>
inline void f32_igemm_fma(const float* const (&a)[ROWS], int k, const float* w, V (&acc)[ROWS][NV]) {
    constexpr int W = int(V::size);
    for (int i = 0; i < k; ++i, w += NV * W) {
        V b[NV];
        for (int v = 0; v < NV; ++v) b[v] = V::load_aligned(w + v * W);
#pragma GCC unroll 24
        for (int r = 0; r < ROWS; ++r) {
            const V x(a[r][i]);
            for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(x, b[v], acc[r][v]);
        }
    }
}

namespace detail {
/// Hides a pointer's value from the optimiser. With rows a constant 3 floats apart, row r's input at
/// step i is row r−1's at step i+3, and GCC's predictive commoning keeps such values in registers
/// across steps: 36 live floats, spilled to the stack.
inline void opaque(const float*& p) {
#if defined(__GNUC__)
    asm("" : "+r"(p));
#endif
}
}  // namespace detail

/// The same on rows `lda` floats apart: row r reads a[r·lda + i]. One pointer for all rows (twelve
/// would not fit the general registers beside the kernel's own, and the compiler spills them).
/// `lda` may be a std::integral_constant: the stems' 3 then becomes constant offsets.
template <int ROWS, int NV, class V, class Lda = std::ptrdiff_t>
inline void f32_gemm_fma(const float* a, Lda lda, int k, const float* w, V (&acc)[ROWS][NV]) {
    constexpr int W = int(V::size);
    for (int i = 0; i < k; ++i, w += NV * W, ++a) {
        detail::opaque(a);
        V b[NV];
        for (int v = 0; v < NV; ++v) b[v] = V::load_aligned(w + v * W);
#pragma GCC unroll 24
        for (int r = 0; r < ROWS; ++r) {
            const V x(a[r * lda]);
            for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(x, b[v], acc[r][v]);
        }
    }
}

/// Sets a tile's accumulators to zero (unrolled, so that they stay in registers).
template <int ROWS, int NV, class V>
inline void zero_tile(V (&acc)[ROWS][NV]) {
#pragma GCC unroll 24
    for (int r = 0; r < ROWS; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = V(0.0f);
}

}  // namespace facekit::nn::xsimd_kernels
