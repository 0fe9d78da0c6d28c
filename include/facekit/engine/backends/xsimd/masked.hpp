// facekit/engine/backends/xsimd/masked.hpp: loads and stores of the first `count` lanes of an xsimd float batch, for the
// channel tails of layers whose channel count is not a multiple of the vector width. Masked instructions
// where the ISA has them (a memcpy of the tail cost a quarter of a 28-channel convolution's time), a
// scalar loop otherwise.
#pragma once
#include "../../intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <xsimd/xsimd.hpp>

namespace facekit::nn::xsimd_kernels {

namespace detail {
#if defined(__AVX2__)
inline __m256i first_lanes8(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif
}  // namespace detail

/// The first `count` floats at src (all lanes when count ≥ the width), the other lanes zero.
template <class V>
inline V load_first(const float* src, int count) {
    constexpr int W = int(V::size);
    if (count >= W) return V::load_unaligned(src);
#if defined(__AVX512F__)
    if constexpr (W == 16) return V(_mm512_maskz_loadu_ps(__mmask16((1u << count) - 1u), src));
#endif
#if defined(__AVX2__)
    if constexpr (W == 8) return V(_mm256_maskload_ps(src, detail::first_lanes8(count)));
#endif
    alignas(64) float tmp[W] = {};
    for (int i = 0; i < count; ++i) tmp[i] = src[i];
    return V::load_aligned(tmp);
}

/// Stores the first `count` lanes of v (all when count ≥ the width); the floats after them are untouched.
template <class V>
inline void store_first(float* dst, V v, int count) {
    constexpr int W = int(V::size);
    if (count >= W) return v.store_unaligned(dst);
#if defined(__AVX512F__)
    if constexpr (W == 16) return _mm512_mask_storeu_ps(dst, __mmask16((1u << count) - 1u), v);
#endif
#if defined(__AVX2__)
    if constexpr (W == 8) return _mm256_maskstore_ps(dst, detail::first_lanes8(count), v);
#endif
    alignas(64) float tmp[W];
    v.store_aligned(tmp);
    for (int i = 0; i < count; ++i) dst[i] = tmp[i];
}

}  // namespace facekit::nn::xsimd_kernels
