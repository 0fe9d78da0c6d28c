// facekit/engine/backends/xsimd/max.hpp: the maximum the kernels take, with the reference's NaN rule.
// The reference backend's pools and ReLU are `a > b ? a : b`: a NaN in either operand gives b, so a NaN
// input never replaces a pool's running maximum and ReLU(NaN) is 0. x86's maxps (xsimd::max there) is
// exactly that; NEON's vmaxq returns NaN if either operand is NaN, so there it is a compare and select.
#pragma once
#include "../../intrinsics.hpp"  // before xsimd and Eigen: GCC 12's warnings
#include <xsimd/xsimd.hpp>

namespace facekit::nn::xsimd_kernels {

/// a > b ? a : b, lane by lane.
template <class V>
inline V max_gt(V a, V b) {
#if defined(__SSE2__) || defined(_M_X64)
    return xsimd::max(a, b);  // maxps(a, b): b unless a > b
#else
    return xsimd::select(a > b, a, b);
#endif
}

}  // namespace facekit::nn::xsimd_kernels
