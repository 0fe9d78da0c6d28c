// Each micro-kernel and strategy of the xsimd backend on its own, against its definition: the GEMM
// micro-kernels and the depthwise kernel against the same multiply-adds in scalar code (bit for bit: the
// order of the sums is part of their contract; fused where the ISA has FMA), the epilogue and the masked loads and stores
// lane by lane, max pooling against MaxPool2d's reference loop (bit for bit), and every convolution
// strategy (direct, rows, Winograd F4 and F3, depthwise, both fused conv + pool paths) forced onto
// layers it would or would not be chosen for, against the reference backend.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>

#include "facekit/engine/backends/reference.hpp"
#include "facekit/engine/backends/xsimd/backend.hpp"
#include "facekit/engine/layers.hpp"
#include "random_tensors.hpp"

using namespace facekit;
using namespace facekit::nn;
using facekit::test::max_abs_diff;
using facekit::test::random_tensor;
using facekit::test::random_vector;

namespace {

using B = XsimdBackend<>;
using V = B::V;
constexpr int W = B::W;

/// The multiply-add of the kernels on this ISA (kernels.hpp): fused where the target has FMA.
float madd(float a, float b, float c) {
    if constexpr (xsimd_kernels::kFusedMultiplyAdd) return std::fma(a, b, c);
    volatile float product = a * b;  // rounded before the add, as mulps then addps
    return product + c;
}


/// acc[r][c] of a micro-kernel run from zero, as scalar FMAs in the kernel's order (i = 0, 1, …).
std::vector<float> gemm_by_definition(const std::vector<const float*>& rows, int k, const float* w, int nr) {
    std::vector<float> out(rows.size() * nr, 0.0f);
    for (std::size_t r = 0; r < rows.size(); ++r)
        for (int c = 0; c < nr; ++c) {
            float acc = 0.0f;
            for (int i = 0; i < k; ++i) acc = madd(rows[r][i], w[std::size_t(i) * nr + c], acc);
            out[r * nr + c] = acc;
        }
    return out;
}

template <int ROWS, int NV>
std::vector<float> spill(const V (&acc)[ROWS][NV]) {
    std::vector<float> out(static_cast<std::size_t>(ROWS * NV * W));
    for (int r = 0; r < ROWS; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v].store_unaligned(&out[(std::size_t(r) * NV + v) * W]);
    return out;
}

/// f32_igemm_fma and f32_gemm_fma (lda run-time and constant) for one tile, several reduction lengths.
template <int ROWS, int NV>
void check_gemm_tile(std::mt19937& rng) {
    constexpr int nr = NV * W;
    for (int k : {1, 3, 9, 27, 64}) {
        AlignedBuffer<float> w(std::size_t(k) * nr);
        const auto wv = random_vector(w.size(), rng);
        std::copy(wv.begin(), wv.end(), w.data());
        const int lda = k + 5;
        const auto a = random_vector(std::size_t(ROWS) * lda, rng);
        std::vector<const float*> rows(ROWS);
        for (int r = 0; r < ROWS; ++r) rows[r] = &a[std::size_t(r) * lda];
        const auto expected = gemm_by_definition(rows, k, w.data(), nr);
        CAPTURE(k);
        {
            INFO(xsimd_kernels::ukernel_name<V>("f32_igemm", ROWS, NV));
            const float* ptrs[ROWS];
            for (int r = 0; r < ROWS; ++r) ptrs[r] = rows[r];
            V acc[ROWS][NV];
            xsimd_kernels::zero_tile(acc);
            xsimd_kernels::f32_igemm_fma<ROWS, NV>(ptrs, k, w.data(), acc);
            CHECK(spill(acc) == expected);
        }
        {
            INFO(xsimd_kernels::ukernel_name<V>("f32_gemm", ROWS, NV));
            V acc[ROWS][NV];
            xsimd_kernels::zero_tile(acc);
            xsimd_kernels::f32_gemm_fma<ROWS, NV>(a.data(), std::ptrdiff_t(lda), k, w.data(), acc);
            CHECK(spill(acc) == expected);
        }
    }
    // the stems' constant stride: rows 3 floats apart, k = 9 (one kernel row of 3×3 over 3 channels)
    const auto a = random_vector(std::size_t(ROWS) * 3 + 9, rng);
    AlignedBuffer<float> w(std::size_t(9) * nr);
    const auto wv = random_vector(w.size(), rng);
    std::copy(wv.begin(), wv.end(), w.data());
    std::vector<const float*> rows(ROWS);
    for (int r = 0; r < ROWS; ++r) rows[r] = &a[std::size_t(r) * 3];
    V acc[ROWS][NV];
    xsimd_kernels::zero_tile(acc);
    xsimd_kernels::f32_gemm_fma<ROWS, NV>(a.data(), std::integral_constant<int, 3>{}, 9, w.data(), acc);
    CHECK(spill(acc) == gemm_by_definition(rows, 9, w.data(), nr));
}

ConvSpec random_spec(std::mt19937& rng, int cin, int cout, Window win, Activation act, float scale = 1.0f) {
    ConvSpec s;
    s.window = win, s.cin = cin, s.cout = cout;
    s.weights = random_vector(std::size_t(cout) * win.taps() * cin, rng);
    s.epilogue.bias = random_vector(std::size_t(cout), rng);
    s.epilogue.activation = act;
    if (act == Activation::PReLU) s.epilogue.alpha = random_vector(std::size_t(cout), rng);
    s.epilogue.residual_scale = scale;
    return s;
}

/// The reference backend's convolution of `in`, with an optional residual.
Tensor reference_conv(const ConvSpec& s, const Tensor& in, const Tensor* residual) {
    Conv2d<ReferenceBackend> ref(s);
    Tensor out(ref.output_shape(in.shape()));
    const ConstView rv = residual ? ConstView(*residual) : ConstView();
    ref.forward(in, out, Context{}, residual ? &rv : nullptr);
    return out;
}

}  // namespace

TEST_CASE("f32 GEMM micro-kernels equal their scalar FMA definition, every tile the backend uses") {
    std::mt19937 rng(101);
    check_gemm_tile<B::MR, 1>(rng);
    check_gemm_tile<B::MR_WIDE, 2>(rng);
    check_gemm_tile<B::MR_WIDE - 1, 2>(rng);
    if constexpr (B::MR_WIDE == 12) {
        check_gemm_tile<8, 2>(rng);
        check_gemm_tile<9, 2>(rng);
    }
    check_gemm_tile<1, 1>(rng);
}

TEST_CASE("the fused epilogue: bias, residual scale-add, activation, lane by lane") {
    std::mt19937 rng(102);
    alignas(64) float acc[W], bias[W], alpha[W], res[W], out[W];
    for (int count : {W, W - 1, 1}) {
        for (Activation act : {Activation::None, Activation::ReLU, Activation::PReLU})
            for (bool with_residual : {false, true}) {
                for (float* p : {acc, bias, alpha, res}) {
                    const auto v = random_vector(W, rng);
                    std::copy(v.begin(), v.end(), p);
                }
                const float scale = 0.17f;
                const float* r = with_residual ? res : nullptr;
                xsimd_kernels::with_activation(act, [&](auto a) {
                    xsimd_kernels::f32_epilogue<decltype(a)::value>(V::load_aligned(acc), V::load_aligned(bias),
                                                                    V::load_aligned(alpha), r, scale, count)
                        .store_aligned(out);
                });
                CAPTURE(count);
                CAPTURE(int(act));
                CAPTURE(with_residual);
                for (int i = 0; i < count; ++i) {
                    float v = acc[i] + bias[i];
                    if (r) v = madd(v, scale, r[i]);
                    if (act == Activation::ReLU) v = v > 0.0f ? v : 0.0f;
                    if (act == Activation::PReLU) v = v > 0.0f ? v : v * alpha[i];
                    CHECK(out[i] == v);
                }
            }
    }
}

TEST_CASE("masked loads and stores touch exactly the first count lanes") {
    alignas(64) float src[W], dst[W], lanes[W];
    for (int i = 0; i < W; ++i) src[i] = float(i + 1);
    for (int count = 0; count <= W; ++count) {
        CAPTURE(count);
        xsimd_kernels::load_first<V>(src, count).store_aligned(lanes);
        for (int i = 0; i < W; ++i) CHECK(lanes[i] == (i < count ? src[i] : 0.0f));
        for (int i = 0; i < W; ++i) dst[i] = -7.0f;
        xsimd_kernels::store_first(dst, V::load_aligned(src), count);
        for (int i = 0; i < W; ++i) CHECK(dst[i] == (i < count ? src[i] : -7.0f));
    }
}

TEST_CASE("the depthwise micro-kernel equals its scalar FMA definition") {
    std::mt19937 rng(103);
    for (int kw : {3, 7}) {
        DepthwiseSpec s;
        s.window = Window::square(kw), s.channels = W + 3;
        s.weights = random_vector(std::size_t(kw) * kw * s.channels, rng);
        s.epilogue.bias.assign(std::size_t(s.channels), 0.0f);
        const B::PackedDepthwise p = B::pack(s);
        const int h = kw + 2, wd = 3 * 4 + kw;
        const Tensor in = random_tensor(Shape(1, h, wd, s.channels), rng);
        const ConstView v(in);
        for (int c : {0, W}) {
            const int count = s.channels - c;
            V acc[4];
            const int ky_lo = 1, ky_hi = kw;  // a window cut at the top: rows [1, kw)
            B::Depthwise::f32_dwconv_4p_fma(p, v.pixel(0, ky_lo, 0) + c, std::ptrdiff_t(wd) * v.stride, v.stride,
                                            3 * v.stride, ky_lo, ky_hi, c, count, acc);
            for (int j = 0; j < 4; ++j) {
                alignas(64) float lanes[W];
                acc[j].store_aligned(lanes);
                for (int l = 0; l < std::min(W, count); ++l) {
                    float e = 0.0f;
                    for (int ky = ky_lo; ky < ky_hi; ++ky)
                        for (int kx = 0; kx < kw; ++kx)
                            e = madd(v.pixel(0, ky, 3 * j + kx)[c + l], s.weights[std::size_t(ky * kw + kx) * s.channels + c + l], e);
                    CAPTURE(kw);
                    CAPTURE(c);
                    CAPTURE(j);
                    CHECK(lanes[l] == e);
                }
            }
        }
    }
}

TEST_CASE("xsimd max pooling gives the reference loop's floats") {
    std::mt19937 rng(104);
    struct Case { int n, h, w, c, k, s, pad; bool ceil; };
    for (const Case& cc : {Case{1, 11, 11, 10, 2, 2, 0, true}, Case{2, 23, 24, 28, 3, 2, 0, true},
                           Case{1, 35, 35, 64, 3, 2, 0, false}, Case{1, 9, 13, 5, 3, 1, 1, false},
                           Case{1, 8, 8, 3 * W + 1, 4, 3, 0, true}}) {
        MaxPool2d pool{Window::square(cc.k, cc.s), cc.ceil};
        pool.window.pad_top = pool.window.pad_left = pool.window.pad_bottom = pool.window.pad_right = cc.pad;
        const Tensor in = random_tensor(Shape(cc.n, cc.h, cc.w, cc.c), rng);
        Tensor a(pool.output_shape(in.shape())), b(a.shape());
        pool.forward(in, a, Context{});
        B::max_pool(pool, in, b, Context{});
        CAPTURE(in.shape().to_string());
        CHECK(max_abs_diff(a, b) == 0.0f);
    }
}

TEST_CASE("NaNs meet the maximum as in the reference: a > b ? a : b") {
    // NEON's vmaxq returns NaN where x86's maxps returns its second operand; the reference's rule is the
    // latter, so a NaN never replaces a pool's running maximum and ReLU(NaN) is 0 on every ISA.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    alignas(64) float a[W], b[W], out[W];
    for (int i = 0; i < W; ++i) a[i] = i % 3 == 0 ? nan : float(i), b[i] = i % 2 == 0 ? nan : 1.5f;
    xsimd_kernels::max_gt(V::load_aligned(a), V::load_aligned(b)).store_aligned(out);
    for (int i = 0; i < W; ++i) {
        const float e = a[i] > b[i] ? a[i] : b[i];
        CAPTURE(i);
        CHECK(std::memcmp(&out[i], &e, sizeof(float)) == 0);
    }
    xsimd_kernels::f32_epilogue<Activation::ReLU>(V::load_aligned(a), V(0.0f), V(0.0f), nullptr, 1.0f, W)
        .store_aligned(out);
    for (int i = 0; i < W; ++i) CHECK(out[i] == (a[i] > 0.0f ? a[i] : 0.0f));

    std::mt19937 rng(106);
    MaxPool2d pool{Window::square(3, 2), true};
    Tensor in = random_tensor(Shape(1, 13, 13, W + 5), rng);
    for (std::size_t i = 0; i < in.size(); i += 7) in.data()[i] = nan;
    Tensor expected(pool.output_shape(in.shape())), got(expected.shape());
    pool.forward(in, expected, Context{});
    B::max_pool(pool, in, got, Context{});
    CHECK(std::memcmp(expected.data(), got.data(), expected.size() * sizeof(float)) == 0);
}

TEST_CASE("every convolution strategy, forced, agrees with the reference backend") {
    std::mt19937 rng(105);
    ThreadPool threads(2);
    const Context ctx{&threads, nullptr};
    struct Case { int h, w, cin, cout; Window win; };
    const Case cases[] = {{12, 12, 3, 10, Window::square(3)},         {22, 22, 28, 48, Window::square(3)},
                          {17, 17, 32, 40, Window::square(3, 1, 1)},  {9, 9, 64, 64, Window::square(3, 1, 1)},
                          {8, 8, 24, 19, Window::rect(1, 7, 0, 3)}, {15, 15, 16, 33, Window::square(3, 2)}};
    for (const Case& cc : cases)
        for (Activation act : {Activation::None, Activation::PReLU})
            for (bool with_residual : {false, true}) {
                const ConvSpec s = random_spec(rng, cc.cin, cc.cout, cc.win, act, with_residual ? 0.2f : 1.0f);
                const B::PackedConv p = B::pack(s);
                const Tensor in = random_tensor(Shape(2, cc.h, cc.w, cc.cin), rng);
                const Shape os(2, s.window.out_h(cc.h), s.window.out_w(cc.w), cc.cout);
                const Tensor res = random_tensor(os, rng);
                const ConstView rv(res);
                const ConstView* r = with_residual ? &rv : nullptr;
                const Tensor expected = reference_conv(s, in, with_residual ? &res : nullptr);
                const float tol = 4e-6f * float(s.reduction());
                CAPTURE(in.shape().to_string());
                CAPTURE(cc.cout);
                CAPTURE(with_residual);
                Tensor out(os);
                B::Direct::run(p, in, out, r, ctx);
                CHECK(max_abs_diff(out, expected) <= tol);
                if (B::Rows::run(p, in, out, r, ctx)) CHECK(max_abs_diff(out, expected) <= tol);
                if (B::Winograd::run(p, in, out, r, ctx)) CHECK(max_abs_diff(out, expected) <= 4 * tol);
            }
}

TEST_CASE("each strategy is taken where the backend says it is") {
    // The forced test above only proves a strategy right where it runs; here, that each one does run
    // on the layers it was built for (else a change of a threshold could leave one untested).
    std::mt19937 rng(106);
    const ConvSpec rows = random_spec(rng, 3, 28, Window::square(3), Activation::PReLU);
    const ConvSpec wino = random_spec(rng, 64, 64, Window::square(3, 1, 1), Activation::ReLU);
    Tensor in_rows = random_tensor(Shape(1, 24, 24, 3), rng), out_rows(Shape(1, 22, 22, 28));
    Tensor in_wino = random_tensor(Shape(1, 17, 17, 64), rng), out_wino(Shape(1, 17, 17, 64));
    CHECK(B::Rows::run(B::pack(rows), in_rows, out_rows, nullptr, Context{}));
    CHECK(B::Winograd::run(B::pack(wino), in_wino, out_wino, nullptr, Context{}));
    CHECK_FALSE(B::Winograd::run(B::pack(rows), in_rows, out_rows, nullptr, Context{}));
}

TEST_CASE("the fused conv + pool paths give the floats of the convolution then the pool") {
    std::mt19937 rng(107);
    struct Case { int h, w, cout, k; };
    for (const Case& cc : {Case{24, 24, 28, 3}, Case{48, 48, 32, 3}, Case{13, 15, 10, 2}, Case{74, 385, 10, 2}}) {
        const ConvSpec s = random_spec(rng, 3, cc.cout, Window::square(3), Activation::PReLU);
        const MaxPool2d pool{Window::square(cc.k, 2), true};
        const B::PackedConv p = B::pack(s);
        const Tensor in = random_tensor(Shape(1, cc.h, cc.w, 3), rng);
        Tensor mid(Shape(1, cc.h - 2, cc.w - 2, cc.cout));
        B::conv(p, in, mid, nullptr, Context{});
        Tensor expected(pool.output_shape(mid.shape())), fused(expected.shape());
        pool.forward(mid, expected, Context{});
        const bool stem = B::StemPool::run(p, pool, in, fused, Context{});
        const bool ring = !stem && B::RowsPool::run(p, pool, in, fused, Context{});
        CAPTURE(in.shape().to_string());
        CHECK((stem || ring || W < 16));
        if (stem || ring) CHECK(max_abs_diff(fused, expected) == 0.0f);
    }
}
