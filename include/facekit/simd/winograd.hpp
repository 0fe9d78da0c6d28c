// facekit/simd/winograd.hpp: the transforms of Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016), interpolation points 0, ±1, ±2, ∞.
//
// A 3×3 stride-1 convolution computes each 4×4 block of outputs from a 6×6 block of inputs as
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
// summed over input channels before the Aᵀ…A step, so that the channel sum becomes 36 independent GEMMs
// (one per position ξ of the 6×6 transformed block) with 36 multiplications per block instead of 144.
// The functions below apply one 1-D transform to six (or three) values; the 2-D transforms apply it to
// rows, then to columns. They are templates over the value type: xsimd batches (16 channels at once) at
// run time, double when the weights are transformed at load (so that G's fractions cost no precision).
#pragma once

namespace facekit::nn::winograd {

constexpr int kTile = 4;    // outputs per tile side (m)
constexpr int kAlpha = 6;   // inputs per tile side (m + r − 1)
constexpr int kPoints = kAlpha * kAlpha;

/// r = Bᵀ d (input transform, one column of six).
template <class T>
inline void input_1d(const T (&d)[6], T (&r)[6]) {
    r[0] = T(4) * d[0] - T(5) * d[2] + d[4];
    r[1] = d[3] + d[4] - T(4) * (d[1] + d[2]);
    r[2] = T(4) * (d[1] - d[2]) + d[4] - d[3];
    r[3] = T(2) * (d[3] - d[1]) + d[4] - d[2];
    r[4] = T(2) * (d[1] - d[3]) + d[4] - d[2];
    r[5] = T(4) * d[1] - T(5) * d[3] + d[5];
}

/// u = G g (filter transform, one column of three).
template <class T>
inline void filter_1d(const T (&g)[3], T (&u)[6]) {
    u[0] = g[0] / T(4);
    u[1] = -(g[0] + g[1] + g[2]) / T(6);
    u[2] = -(g[0] - g[1] + g[2]) / T(6);
    u[3] = g[0] / T(24) + g[1] / T(12) + g[2] / T(6);
    u[4] = g[0] / T(24) - g[1] / T(12) + g[2] / T(6);
    u[5] = g[2];
}

/// y = Aᵀ m (output transform, one column of six to four).
template <class T>
inline void output_1d(const T (&m)[6], T (&y)[4]) {
    const T a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    y[0] = m[0] + a + c;
    y[1] = b + T(2) * d;
    y[2] = a + T(4) * c;
    y[3] = b + T(8) * d + m[5];
}

/// y = T x Tᵀ for a 1-D transform T of N values to M: T applied to every column of x, then to every row.
template <int N, int M, class T, class Transform>
inline void transform_2d(const T (&x)[N][N], T (&y)[M][M], Transform&& one_d) {
    T tmp[M][N];
    for (int j = 0; j < N; ++j) {
        T col[N], r[M];
        for (int i = 0; i < N; ++i) col[i] = x[i][j];
        one_d(col, r);
        for (int i = 0; i < M; ++i) tmp[i][j] = r[i];
    }
    for (int i = 0; i < M; ++i) one_d(tmp[i], y[i]);
}

/// V = Bᵀ d B for a 6×6 block d[row][col].
template <class T>
inline void input_2d(const T (&d)[6][6], T (&v)[6][6]) {
    transform_2d(d, v, [](const T (&a)[6], T (&r)[6]) { input_1d(a, r); });
}

/// U = G g Gᵀ for a 3×3 filter g[row][col].
template <class T>
inline void filter_2d(const T (&g)[3][3], T (&u)[6][6]) {
    transform_2d(g, u, [](const T (&a)[3], T (&r)[6]) { filter_1d(a, r); });
}

/// Y = Aᵀ M A for a 6×6 block m[row][col], giving the 4×4 outputs.
template <class T>
inline void output_2d(const T (&m)[6][6], T (&y)[4][4]) {
    transform_2d(m, y, [](const T (&a)[6], T (&r)[4]) { output_1d(a, r); });
}

}  // namespace facekit::nn::winograd
