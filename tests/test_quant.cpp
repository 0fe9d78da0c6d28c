// The int8 arithmetic (engine/quant.hpp) and the reference int8 convolution: rounding and saturation as
// defined, and int8 layers within the error their quantisation allows of the float reference.
#include <doctest/doctest.h>

#include <random>

#include "facekit/engine/backends/reference.hpp"
#include "facekit/engine/backends/reference_qs8.hpp"
#include "random_tensors.hpp"

using namespace facekit;
using namespace facekit::nn;
using namespace facekit::test;

TEST_CASE("quantize: ties to even, saturation, and an exact real zero") {
    const QuantParams p{0.5f, 3};
    CHECK(quantize(1.25f, p) == 5);   // 2.5 → 2 (even), + 3
    CHECK(quantize(1.75f, p) == 7);   // 3.5 → 4
    CHECK(quantize(-0.25f, p) == 3);  // −0.5 → −0
    CHECK(quantize(1e9f, p) == 127);
    CHECK(quantize(-1e9f, p) == -128);
    CHECK(dequantize(quantize(2.0f, p), p) == 2.0f);
    const QuantParams c = QuantParams::covering(-1.0f, 3.0f);
    CHECK(c.scale == doctest::Approx(4.0f / 255));
    CHECK(dequantize(quantize(0.0f, c), c) == 0.0f);
    CHECK(dequantize(-128, c) == doctest::Approx(-1.0f).epsilon(0.01));
    CHECK(dequantize(127, c) == doctest::Approx(3.0f).epsilon(0.01));
    const QuantParams relu = QuantParams::covering(0.5f, 6.0f);  // widened to hold 0: [0, 6]
    CHECK(relu.zero_point == -128);
}

TEST_CASE("per-channel weights: the largest magnitude of each row maps to ±127") {
    const std::vector<float> w = {0.5f, -1.0f, 0.25f, 0.0f, 0.0f, 0.0f, 3.0f, 1.5f, -0.75f};
    const ChannelQuantized q = quantize_per_channel(w, 3);
    CHECK(q.scale[0] == doctest::Approx(1.0f / 127));
    CHECK(q.q[1] == -127);
    CHECK(q.q[0] == 64);  // 63.5 → 64 (even)
    CHECK(q.scale[1] == 1.0f);  // an all-zero row
    CHECK(q.q[6] == 127);
    CHECK(q.q[7] == 64);  // 63.5 → 64
}

TEST_CASE("the epilogue: bias, multiplier, residual by fused multiply-add, PReLU, rounding, zero point") {
    QEpilogue e;
    e.bias = {10}, e.multiplier = {0.25f}, e.activation = Activation::PReLU, e.alpha = {0.5f};
    e.output_zero_point = -5;
    CHECK(e.apply(20, 0, nullptr) == 3);     // (20 + 10)·0.25 = 7.5 → 8, − 5
    CHECK(e.apply(-30, 0, nullptr) == -7);   // −5 → PReLU −2.5 → −2 (even), − 5
    e.residual_multiplier = 0.5f, e.residual_zero_point = 1;
    const std::int8_t r[1] = {7};
    CHECK(e.apply(2, 0, r) == 1);            // 3 + (7 − 1)·0.5 = 6, − 5
    CHECK(e.apply(10000, 0, nullptr) == 127);
}

namespace {
/// Quantised copy of a float tensor.
std::vector<std::int8_t> quantized(const Tensor& t, QuantParams p) {
    std::vector<std::int8_t> q(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) q[i] = quantize(t[i], p);
    return q;
}
QuantParams covering(const Tensor& t) {
    float lo = 0, hi = 0;
    for (std::size_t i = 0; i < t.size(); ++i) lo = std::min(lo, t[i]), hi = std::max(hi, t[i]);
    return QuantParams::covering(lo, hi);
}
}  // namespace

TEST_CASE("int8 convolution within the error its quantisation allows of the float one") {
    std::mt19937 rng(7);
    for (bool with_residual : {false, true}) {
        CAPTURE(with_residual);
        ConvSpec s;
        s.window = Window::square(3).same_for(9, 11);
        s.cin = 24, s.cout = 20;
        s.weights = random_vector(std::size_t(s.cout) * s.reduction(), rng, -0.3f, 0.3f);
        s.epilogue.bias = random_vector(std::size_t(s.cout), rng, -0.5f, 0.5f);
        s.epilogue.activation = Activation::PReLU;
        s.epilogue.alpha = random_vector(std::size_t(s.cout), rng, 0.05f, 0.4f);
        s.epilogue.residual_scale = with_residual ? 0.17f : 1.0f;
        const Shape in_shape(2, 9, 11, s.cin), out_shape(2, 9, 11, s.cout);
        Tensor x = random_tensor(in_shape, rng), res = random_tensor(out_shape, rng), y(out_shape);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = x[i] * 2.0f + 0.5f;  // an asymmetric range
        const ConstView res_view = res.view();
        ReferenceBackend::conv(ReferenceBackend::pack(s), x, y, with_residual ? &res_view : nullptr, Context{});

        const QuantParams qx = covering(x), qy = covering(y), qr = covering(res);
        const QConvSpec q = QConvSpec::from(s, qx, qy, with_residual ? &qr : nullptr);
        std::vector<std::int8_t> xq = quantized(x, qx), rq = quantized(res, qr), yq(y.size());
        const QConstView rv{rq.data(), out_shape};
        ReferenceQs8::conv(q, QConstView{xq.data(), in_shape}, QView{yq.data(), out_shape}, with_residual ? &rv : nullptr);

        // the error bound: input and weight rounding through the sum, bias rounding, the residual's
        // rounding, then the output's; PReLU slopes below 1 only shrink it
        const ChannelQuantized w = quantize_per_channel(s.weights, s.cout);
        int over = 0;
        float worst = 0;
        for (int n = 0; n < 2; ++n)
            for (int oy = 0; oy < 9; ++oy)
                for (int ox = 0; ox < 11; ++ox)
                    for (int co = 0; co < s.cout; ++co) {
                        double sum_error = 0.5 * qx.scale * w.scale[std::size_t(co)];  // the bias
                        s.window.for_each_tap(oy, ox, 9, 11, [&](int t, int iy, int ix) {
                            for (int ci = 0; ci < s.cin; ++ci) {
                                const double xv = std::abs(x.view().pixel(n, iy, ix)[ci]);
                                const double wv = std::abs(s.weights[(std::size_t(co) * 9 + t) * s.cin + ci]);
                                const double ex = 0.5 * qx.scale, ew = 0.5 * w.scale[std::size_t(co)];
                                sum_error += wv * ex + xv * ew + ex * ew;
                            }
                        });
                        const double bound = sum_error * s.epilogue.residual_scale + (with_residual ? 0.5 * qr.scale : 0.0) +
                                             0.5 * qy.scale + 1e-5;
                        const std::size_t i = ((std::size_t(n) * 9 + oy) * 11 + ox) * s.cout + co;
                        const float err = std::abs(dequantize(yq[i], qy) - y[i]);
                        worst = std::max(worst, err / qy.scale);
                        over += err > bound;
                    }
        CHECK(over == 0);
        MESSAGE("largest error, in output quanta: " << worst);
        CHECK(worst < 2.0f);
    }
}
