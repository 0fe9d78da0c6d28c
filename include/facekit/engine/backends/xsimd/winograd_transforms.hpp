// facekit/engine/backends/xsimd/winograd_transforms.hpp: the transforms of Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016), for m = 4 and m = 3.
//
// A 3×3 stride-1 convolution computes each m×m block of outputs from an α×α block of inputs (α = m + 2) as
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
// summed over input channels before the Aᵀ…A step, so that the channel sum becomes α² independent GEMMs
// (one per position ξ of the transformed block) with α² multiplications per block instead of 9·m².
//   F4: F(4×4, 3×3), points 0, ±1, ±2, ∞: 36 products for 16 outputs; the default.
//   F3: F(3×3, 3×3), points 0, ±1, 2, ∞: 25 products for 9 outputs; fewer wasted outputs on maps whose
//       size is a multiple of 3 (R-Net's 9×9 takes 3×3 tiles of 3, where F4 takes 12×12 for 81 outputs).
// Each applies one 1-D transform to a column of α (or three) values; the 2-D transforms apply it to
// columns, then to rows. Templates over the value type: xsimd batches (a vector of channels) at run time,
// double when the weights are transformed at load (so that G's fractions cost no precision).
#pragma once

namespace facekit::nn::winograd {

struct F4 {
    static constexpr int kTile = 4, kAlpha = 6, kPoints = kAlpha * kAlpha;

    /// r = Bᵀ d (input transform, one column of six).
    template <class T>
    static void input_1d(const T (&d)[6], T (&r)[6]) {
        r[0] = T(4) * d[0] - T(5) * d[2] + d[4];
        r[1] = d[3] + d[4] - T(4) * (d[1] + d[2]);
        r[2] = T(4) * (d[1] - d[2]) + d[4] - d[3];
        r[3] = T(2) * (d[3] - d[1]) + d[4] - d[2];
        r[4] = T(2) * (d[1] - d[3]) + d[4] - d[2];
        r[5] = T(4) * d[1] - T(5) * d[3] + d[5];
    }
    /// u = G g (filter transform, one column of three).
    template <class T>
    static void filter_1d(const T (&g)[3], T (&u)[6]) {
        u[0] = g[0] / T(4);
        u[1] = -(g[0] + g[1] + g[2]) / T(6);
        u[2] = -(g[0] - g[1] + g[2]) / T(6);
        u[3] = g[0] / T(24) + g[1] / T(12) + g[2] / T(6);
        u[4] = g[0] / T(24) - g[1] / T(12) + g[2] / T(6);
        u[5] = g[2];
    }
    /// y = Aᵀ m (output transform, one column of six to four).
    template <class T>
    static void output_1d(const T (&m)[6], T (&y)[4]) {
        const T a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
        y[0] = m[0] + a + c;
        y[1] = b + T(2) * d;
        y[2] = a + T(4) * c;
        y[3] = b + T(8) * d + m[5];
    }
};

struct F3 {
    static constexpr int kTile = 3, kAlpha = 5, kPoints = kAlpha * kAlpha;

    /// r = Bᵀ d: row j holds the coefficients of x(x−1)(x+1)(x−2) / (x − p_j), the last row its own.
    template <class T>
    static void input_1d(const T (&d)[5], T (&r)[5]) {
        r[0] = T(2) * (d[0] - d[2]) + d[3] - d[1];
        r[1] = d[3] - d[2] - T(2) * d[1];
        r[2] = T(2) * d[1] - T(3) * d[2] + d[3];
        r[3] = d[3] - d[1];
        r[4] = T(2) * (d[1] - d[3]) + d[4] - d[2];
    }
    /// u = G g: row j is (1, p_j, p_j²) / Π_{k≠j} (p_j − p_k), the last (0, 0, 1).
    template <class T>
    static void filter_1d(const T (&g)[3], T (&u)[5]) {
        u[0] = g[0] / T(2);
        u[1] = -(g[0] + g[1] + g[2]) / T(2);
        u[2] = -(g[0] - g[1] + g[2]) / T(6);
        u[3] = (g[0] + T(2) * g[1] + T(4) * g[2]) / T(6);
        u[4] = g[2];
    }
    /// y = Aᵀ m: row i holds p_j^i, and 1 for ∞ in the last row.
    template <class T>
    static void output_1d(const T (&m)[5], T (&y)[3]) {
        const T a = m[1] + m[2];
        y[0] = m[0] + a + m[3];
        y[1] = m[1] - m[2] + T(2) * m[3];
        y[2] = a + T(4) * m[3] + m[4];
    }
};

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

/// V = Bᵀ d B for an α×α block d[row][col].
template <class F, class T>
inline void input_2d(const T (&d)[F::kAlpha][F::kAlpha], T (&v)[F::kAlpha][F::kAlpha]) {
    transform_2d(d, v, [](const T (&a)[F::kAlpha], T (&r)[F::kAlpha]) { F::input_1d(a, r); });
}

/// U = G g Gᵀ for a 3×3 filter g[row][col].
template <class F, class T>
inline void filter_2d(const T (&g)[3][3], T (&u)[F::kAlpha][F::kAlpha]) {
    transform_2d(g, u, [](const T (&a)[3], T (&r)[F::kAlpha]) { F::filter_1d(a, r); });
}

/// Y = Aᵀ M A for an α×α block m[row][col], giving the m×m outputs.
template <class F, class T>
inline void output_2d(const T (&m)[F::kAlpha][F::kAlpha], T (&y)[F::kTile][F::kTile]) {
    transform_2d(m, y, [](const T (&a)[F::kAlpha], T (&r)[F::kTile]) { F::output_1d(a, r); });
}

}  // namespace facekit::nn::winograd
