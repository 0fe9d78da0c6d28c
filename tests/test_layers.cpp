// Every layer on every backend agrees with the scalar reference on randomised shapes (odd sizes, 1×1
// maps, stride 2, asymmetric padding, channel counts that are not a multiple of the vector width), and
// the scalar reference agrees with small hand-computed cases.
#include <doctest/doctest.h>

#include <random>

#include "facekit/engine/backends.hpp"
#include "facekit/engine/layers.hpp"
#include "facekit/engine/ops.hpp"
#include "random_tensors.hpp"

using namespace facekit;
using namespace facekit::nn;
using facekit::test::max_abs_diff;
using facekit::test::random_tensor;
using facekit::test::random_vector;

namespace {
Epilogue random_epilogue(int c, std::mt19937& rng, int variant) {
    Epilogue e;
    e.bias = random_vector(std::size_t(c), rng);
    e.activation = variant % 3 == 0 ? Activation::None : variant % 3 == 1 ? Activation::ReLU : Activation::PReLU;
    if (e.activation == Activation::PReLU) e.alpha = random_vector(std::size_t(c), rng, 0.0f, 0.5f);
    e.residual_scale = 0.17f;
    return e;
}

struct ConvCase {
    int n, h, w, cin, cout;
    Window win;
};
const ConvCase kConvCases[] = {
    {1, 7, 9, 3, 10, Window::square(3)},               // MTCNN P-Net stem: 3 input channels
    {2, 12, 12, 10, 16, Window::square(3)},            // batch of 2
    {1, 11, 13, 16, 33, Window::square(3, 2)},         // stride 2, odd sizes, 33 outputs (one past a panel)
    {1, 9, 9, 17, 31, Window::square(3, 1, 1)},        // padding
    {1, 1, 1, 64, 20, Window::square(1)},              // 1×1 map: a linear layer
    {3, 1, 1, 576, 129, Window::square(1)},            // batch of linear layers
    {1, 17, 17, 128, 160, Window::rect(1, 7, 0, 3)},   // Inception 1×7
    {1, 17, 17, 160, 192, Window::rect(7, 1, 3, 0)},   // Inception 7×1
    {1, 3, 3, 192, 192, Window::rect(1, 3, 0, 1)},     // Block8 1×3 on the 3×3 map
    {1, 3, 3, 192, 256, Window::rect(3, 1, 1, 0)},     // Block8 3×1
    {1, 8, 8, 5, 7, Window{3, 3, 2, 2, 0, 0, 1, 1}},   // TensorFlow SAME: pad bottom/right only
    {2, 29, 23, 37, 70, Window::square(1)},            // pointwise, many rows and partial tiles
    {3, 11, 11, 28, 48, Window::square(3)},            // R-Net conv2: Winograd F(3×3, 3×3), 9×9 in 3×3 tiles
    {2, 9, 9, 32, 24, Window::square(3, 1, 1)},        // F(3×3, 3×3), padded
    {2, 24, 24, 3, 28, Window::square(3)},             // R-Net stem: 28 outputs (a partial wide panel)
    {1, 33, 40, 3, 32, Window::square(3, 2, 1)},       // stem, stride 2, padded (border tiles: general path)
    {1, 30, 26, 3, 10, Window::square(3)},             // P-Net stem, rows of 24 (last tile overlaps)
    {2, 48, 48, 3, 32, Window::square(3)},             // O-Net stem, rows of 46 in tiles of 12 (last shifted)
    {1, 10, 10, 3, 16, Window::square(3)},             // a stem whose rows are shorter than a tile
    {1, 14, 38, 10, 16, Window::square(3)},            // P-Net conv2: Winograd on 10 channels (masked loads)
    {2, 5, 49, 20, 40, Window::square(2)},             // 2×2 kernel, rows of 48 in tiles of 12
    {1, 20, 14, 6, 6, Window::square(2, 2)},           // stride 2, 2×2, 6 outputs
    {2, 17, 17, 32, 32, Window::square(3, 1, 1)},      // Winograd: block35's 3×3, padded, partial tiles
    {1, 23, 38, 80, 40, Window::square(3)},            // Winograd: unpadded, many tiles, 40 outputs
    {2, 10, 10, 64, 64, Window::square(3)},            // Winograd on a small map: O-Net conv3, 8×8 in 4 tiles
};

/// A convolution of the case's geometry with random weights and epilogue `variant`.
ConvSpec random_conv(const ConvCase& cc, std::mt19937& rng, int variant) {
    ConvSpec spec;
    spec.window = cc.win, spec.cin = cc.cin, spec.cout = cc.cout;
    spec.weights = random_vector(std::size_t(cc.cout) * cc.win.taps() * cc.cin, rng);
    spec.epilogue = random_epilogue(cc.cout, rng, variant);
    return spec;
}

template <class B>
void check_conv_backend() {
    std::mt19937 rng(1234);
    Workspace ws_ref, ws;
    ThreadPool pool(2);
    int variant = 0;
    for (const ConvCase& cc : kConvCases) {
        for (bool with_residual : {false, true}) {
            const ConvSpec spec = random_conv(cc, rng, variant++);
            Tensor in = random_tensor(Shape(cc.n, cc.h, cc.w, cc.cin), rng);
            Conv2d<ReferenceBackend> ref(spec);
            Conv2d<B> fast(spec);
            Shape os = ref.output_shape(in.shape());
            Tensor res = random_tensor(os, rng);
            ConstView rv = res.view();
            Tensor a(os), b(os);
            ref.forward(in, a, Context{nullptr, &ws_ref}, with_residual ? &rv : nullptr);
            fast.forward(in, b, Context{&pool, &ws}, with_residual ? &rv : nullptr);
            const float tol = 2e-6f * float(cc.win.taps() * cc.cin);
            CAPTURE(B::name);
            CAPTURE(os.to_string());
            CHECK(max_abs_diff(a, b) <= tol);
        }
    }
}

template <class B>
void check_depthwise_backend() {
    std::mt19937 rng(99);
    Workspace ws_ref, ws;
    ThreadPool pool(2);
    struct Case { int n, h, w, c; Window win; };
    const Case cases[] = {{1, 14, 14, 64, Window::square(3, 1, 1)}, {2, 9, 7, 37, Window::square(3, 2, 1)},
                          {1, 7, 7, 512, Window::square(7)}, {1, 8, 8, 3, Window{3, 3, 2, 2, 0, 0, 1, 1}},
                          {1, 1, 1, 20, Window::square(1)}, {2, 20, 23, 40, Window::square(3, 2, 1)},
                          {1, 9, 30, 24, Window::square(3)}};
    int variant = 0;
    for (const Case& cc : cases) {
        for (bool with_residual : {false, true}) {
            DepthwiseSpec spec;
            spec.window = cc.win, spec.channels = cc.c;
            spec.weights = random_vector(std::size_t(cc.win.taps()) * cc.c, rng);
            spec.epilogue = random_epilogue(cc.c, rng, variant++);
            Tensor in = random_tensor(Shape(cc.n, cc.h, cc.w, cc.c), rng);
            DepthwiseConv2d<ReferenceBackend> ref(spec);
            DepthwiseConv2d<B> fast(spec);
            Shape os = ref.output_shape(in.shape());
            Tensor res = random_tensor(os, rng);
            ConstView rv = res.view();
            Tensor a(os), b(os);
            ref.forward(in, a, Context{nullptr, &ws_ref}, with_residual ? &rv : nullptr);
            fast.forward(in, b, Context{&pool, &ws}, with_residual ? &rv : nullptr);
            CAPTURE(B::name);
            CHECK(max_abs_diff(a, b) <= 1e-5f);
        }
    }
}
}  // namespace

TEST_CASE("scalar convolution matches a hand-computed case") {
    // 1 image, 3×3, 1 channel in, 2 out; a 2×2 kernel; stride 1; no padding.
    ConvSpec s;
    s.window = Window::square(2);
    s.cin = 1, s.cout = 2;
    s.weights = {1, 0, 0, 1,    // out 0: top-left + bottom-right
                 0.5f, 0.5f, -1, 0};  // out 1
    s.epilogue.bias = {0.25f, -10.0f};
    s.epilogue.activation = Activation::ReLU;
    Tensor in(Shape(1, 3, 3, 1));
    for (int i = 0; i < 9; ++i) in[i] = float(i + 1);  // 1 2 3 / 4 5 6 / 7 8 9
    Conv2d<ReferenceBackend> conv(s);
    Tensor out(conv.output_shape(in.shape()));
    Workspace ws;
    conv.forward(in, out, Context{nullptr, &ws});
    REQUIRE(out.shape() == Shape(1, 2, 2, 2));
    // out 0 at (0,0): 1 + 5 + 0.25; out 1 at (0,0): 0.5·1 + 0.5·2 − 4 − 10 < 0 -> 0 after ReLU
    CHECK(out[0] == doctest::Approx(6.25));
    CHECK(out[1] == 0.0f);
    CHECK(out[2] == doctest::Approx(2 + 6 + 0.25));
    CHECK(out[6] == doctest::Approx(5 + 9 + 0.25));
}

TEST_CASE("scalar residual epilogue is relu(x + scale·(conv + bias))") {
    ConvSpec s = linear_spec({2.0f}, 1, 1, {1.0f});
    s.epilogue.residual_scale = 0.5f;
    s.epilogue.activation = Activation::ReLU;
    Tensor in(Shape(2, 1, 1, 1)), res(Shape(2, 1, 1, 1)), out(Shape(2, 1, 1, 1));
    in[0] = 3, in[1] = -3, res[0] = 1, res[1] = 1;
    Conv2d<ReferenceBackend> conv(s);
    ConstView rv = res.view();
    Workspace ws;
    conv.forward(in, out, Context{nullptr, &ws}, &rv);
    CHECK(out[0] == doctest::Approx(1 + 0.5 * (6 + 1)));
    CHECK(out[1] == 0.0f);  // 1 + 0.5·(−6 + 1) = −1.5 -> ReLU
}

TEST_CASE("scalar depthwise and PReLU match a hand-computed case") {
    DepthwiseSpec s;
    s.window = Window::square(3, 1, 1);
    s.channels = 2;
    s.weights.assign(18, 0.0f);
    s.weights[4 * 2 + 0] = 1.0f;   // centre tap, channel 0: identity
    s.weights[4 * 2 + 1] = -2.0f;  // centre tap, channel 1: ×(−2)
    s.epilogue.bias = {0, 0};
    s.epilogue.activation = Activation::PReLU;
    s.epilogue.alpha = {0.1f, 0.25f};
    Tensor in(Shape(1, 2, 2, 2));
    for (int i = 0; i < 8; ++i) in[i] = float(i) - 3.0f;  // -3 -2 / -1 0 / 1 2 / 3 4
    DepthwiseConv2d<ReferenceBackend> dw(s);
    Tensor out(dw.output_shape(in.shape()));
    Workspace ws;
    dw.forward(in, out, Context{nullptr, &ws});
    CHECK(out[0] == doctest::Approx(-0.3));  // -3 -> PReLU 0.1
    CHECK(out[1] == doctest::Approx(4.0));   // -2 × -2
    CHECK(out[7] == doctest::Approx(-8 * 0.25));
}

TEST_CASE("the fast backends agree with the scalar reference: convolution") {
    check_conv_backend<DefaultBackend>();
    check_conv_backend<EigenBackend>();
}

TEST_CASE("the xsimd convolution gives the same floats on a channel slice as on a dense copy") {
    // A dense input lets whole kernel rows be read as one run (the interior path); a channel slice of a
    // wider tensor forces one pointer per tap (the general path). Both must sum in the same order.
    std::mt19937 rng(7);
    ThreadPool pool(2);
    Workspace ws;
    for (const ConvCase& cc : kConvCases) {
        const ConvSpec spec = random_conv(cc, rng, 2);
        Tensor wide = random_tensor(Shape(cc.n, cc.h, cc.w, cc.cin + 5), rng);
        const ConstView slice = wide.view().channels(2, cc.cin);
        Tensor dense(slice.shape);
        for (std::size_t px = 0; px < slice.shape.pixels(); ++px)
            std::copy(slice.pixel(px), slice.pixel(px) + cc.cin, dense.view().pixel(px));
        Conv2d<DefaultBackend> conv(spec);
        const Shape os = conv.output_shape(dense.shape());
        Tensor a(os), b(Shape(os.n, os.h, os.w, os.c + 3));
        conv.forward(dense, a, Context{&pool, &ws});
        conv.forward(slice, b.view().channels(1, os.c), Context{&pool, &ws});
        bool same = true;
        for (std::size_t px = 0; px < os.pixels(); ++px)
            same = same && std::equal(a.view().pixel(px), a.view().pixel(px) + os.c, b.view().pixel(px) + 1);
        CAPTURE(os.to_string());
        CHECK(same);
    }
}

TEST_CASE("the xsimd convolution of an image does not depend on the batch around it") {
    // Tile heights and the choice of Winograd depend on the map; neither may change an image's floats.
    std::mt19937 rng(11);
    ThreadPool pool(2);
    Workspace ws;
    for (const ConvCase& cc : kConvCases) {
        const ConvSpec spec = random_conv(cc, rng, 1);
        Conv2d<DefaultBackend> conv(spec);
        Tensor batch = random_tensor(Shape(5, cc.h, cc.w, cc.cin), rng);
        const ConstView third = batch.view().batch(2, 1);
        Tensor alone(conv.output_shape(third.shape)), all(conv.output_shape(batch.shape()));
        conv.forward(third, alone, Context{&pool, &ws});
        conv.forward(batch, all, Context{&pool, &ws});
        CAPTURE(alone.shape().to_string());
        CHECK(std::equal(alone.data(), alone.data() + alone.size(), all.view().batch(2, 1).data));
    }
}

TEST_CASE("the fast backends agree with the scalar reference: depthwise convolution") {
    check_depthwise_backend<DefaultBackend>();
    check_depthwise_backend<EigenBackend>();
}

TEST_CASE("max pooling follows PyTorch's ceil_mode") {
    CHECK(pool_out_dim(10, 2, 2, 0, 0, true) == 5);
    CHECK(pool_out_dim(11, 2, 2, 0, 0, true) == 6);   // hangs over by one
    CHECK(pool_out_dim(11, 2, 2, 0, 0, false) == 5);
    CHECK(pool_out_dim(23, 3, 2, 0, 0, true) == 11);
    CHECK(pool_out_dim(24, 3, 2, 0, 0, true) == 12);  // R-Net pool on 22×22 after conv: ceil
    Tensor in(Shape(1, 3, 3, 1));
    for (int i = 0; i < 9; ++i) in[i] = float((i * 5) % 9);  // 0 5 1 / 6 2 7 / 3 8 4
    MaxPool2d pool{Window::square(2, 2), true};
    Tensor out(pool.output_shape(in.shape()));
    REQUIRE(out.shape() == Shape(1, 2, 2, 1));
    Workspace ws;
    pool.forward(in, out, Context{nullptr, &ws});
    CHECK(out[0] == 6.0f);
    CHECK(out[1] == 7.0f);  // the window that hangs over takes the max of its in-image part
    CHECK(out[2] == 8.0f);
    CHECK(out[3] == 4.0f);
}

TEST_CASE("a convolution and its max pool in one pass give the floats of the two in turn") {
    // The default backend's fused passes (xsimd's) against Conv2d then max pooling on the same backend (bit for bit) and on the
    // scalar reference. P-Net's stem (3 → 10, 2×2/2) over pixels: odd and even sizes (ceil mode's one-wide
    // last windows), maps narrower than a vector, several vectors per row, floor mode, a batch. R-Net's
    // and O-Net's stems (3×3/2 after row tiles of 11 and of 12, the last shifted) through the ring of
    // rows; other channel counts; a pool whose stride exceeds nothing it skips.
    std::mt19937 rng(77);
    ThreadPool pool(2);
    struct Case { int n, h, w, cin, cout, k, s; bool ceil; };
    const Case cases[] = {{1, 12, 12, 3, 10, 2, 2, true}, {1, 13, 15, 3, 10, 2, 2, true}, {2, 26, 41, 3, 10, 2, 2, true},
                          {1, 74, 385, 3, 10, 2, 2, true}, {1, 5, 4, 3, 10, 2, 2, true},   {1, 19, 70, 3, 10, 2, 2, false},
                          {3, 9, 37, 3, 10, 2, 2, true},   {1, 4, 4, 3, 10, 2, 2, true},   {3, 24, 24, 3, 28, 3, 2, true},
                          {2, 48, 48, 3, 32, 3, 2, true},  {1, 25, 27, 3, 32, 3, 2, false}, {2, 16, 30, 10, 16, 3, 2, true},
                          {1, 20, 40, 5, 24, 2, 2, true},  {1, 14, 26, 3, 20, 3, 3, true}};
    int variant = 0;
    for (const Case& cc : cases)
        for (int v = 0; v < 3; ++v) {
            ConvSpec spec = random_conv(ConvCase{cc.n, cc.h, cc.w, cc.cin, cc.cout, Window::square(3)}, rng, variant++);
            const MaxPool2d mp{Window::square(cc.k, cc.s), cc.ceil};
            Tensor in = random_tensor(Shape(cc.n, cc.h, cc.w, cc.cin), rng);
            ConvMaxPool2d<DefaultBackend> fused(spec, mp);
            Conv2d<DefaultBackend> conv(spec);
            Conv2d<ReferenceBackend> conv_ref(spec);
            Tensor mid(conv.output_shape(in.shape())), mid_ref(conv.output_shape(in.shape()));
            Tensor a(fused.output_shape(in.shape())), b(a.shape()), r(a.shape());
            fused.forward(in, a, Context{&pool, nullptr});
            conv.forward(in, mid, Context{&pool, nullptr});
            max_pool<DefaultBackend>(mp, mid, b, Context{});
            conv_ref.forward(in, mid_ref, Context{});
            mp.forward(mid_ref, r, Context{});
            CAPTURE(in.shape().to_string());
            CAPTURE(cc.cout);
            CAPTURE(int(spec.epilogue.activation));
            CHECK(max_abs_diff(a, b) == 0.0f);
            CHECK(max_abs_diff(a, r) <= 2e-6f * 9 * float(cc.cin));
        }
}

TEST_CASE("average pooling, softmax and L2 normalisation") {
    Tensor in(Shape(1, 2, 2, 2));
    for (int i = 0; i < 8; ++i) in[i] = float(i);
    Tensor avg(Shape(1, 1, 1, 2)), gap(Shape(1, 1, 1, 2));
    Workspace ws;
    AvgPool2d{Window::square(2, 2)}.forward(in, avg, Context{nullptr, &ws});
    GlobalAvgPool{}.forward(in, gap, Context{nullptr, &ws});
    CHECK(avg[0] == doctest::Approx(3.0));
    CHECK(avg[1] == doctest::Approx(4.0));
    CHECK(gap[0] == avg[0]);
    Tensor sm(Shape(1, 1, 1, 2));
    sm[0] = 1.0f, sm[1] = 3.0f;
    softmax_channels(sm);
    CHECK(sm[1] == doctest::Approx(1.0 / (1.0 + std::exp(-2.0))));
    CHECK(sm[0] + sm[1] == doctest::Approx(1.0));
    Tensor v(Shape(1, 1, 1, 2));
    v[0] = 3.0f, v[1] = 4.0f;
    l2_normalize(v);
    CHECK(v[0] == doctest::Approx(0.6));
    CHECK(v[1] == doctest::Approx(0.8));
}

TEST_CASE("batchnorm folds into the preceding convolution") {
    ConvSpec s = linear_spec({2.0f, -1.0f}, 2, 1, {0.5f});
    fold_batchnorm(s, {3.0f}, {0.1f}, {0.2f}, {4.0f - 1e-3f}, 1e-3f);
    // conv(x) = 2a − b + 0.5; bn(y) = (y − 0.2)·3/2 + 0.1
    CHECK(s.weights[0] == doctest::Approx(3.0));
    CHECK(s.weights[1] == doctest::Approx(-1.5));
    CHECK(s.epilogue.bias[0] == doctest::Approx((0.5 - 0.2) * 1.5 + 0.1));
}

TEST_CASE("layers refuse mismatched shapes with a message") {
    ConvSpec s = linear_spec({1.0f, 2.0f}, 2, 1);
    Conv2d<DefaultBackend> conv(s);
    Tensor in(Shape(1, 1, 1, 3)), out(Shape(1, 1, 1, 1));
    Workspace ws;
    CHECK_THROWS_WITH_AS(conv.forward(in, out, Context{nullptr, &ws}), "Conv2d expects 2 input channels, got 3",
                         InvalidArgument);
    CHECK_THROWS_AS(Shape(1, -2, 3, 4), InvalidArgument);
    ConvSpec bad = s;
    bad.weights.pop_back();
    CHECK_THROWS_AS(Conv2d<DefaultBackend>{bad}, InvalidArgument);
}

TEST_CASE("thread pool: every task runs once, exceptions propagate, results match serial") {
    ThreadPool pool(2);
    std::vector<int> hits(1000, 0);
    pool.parallel_for(1000, [&](std::int64_t i) { hits[std::size_t(i)]++; });
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
    CHECK_THROWS_WITH(pool.parallel_for(10, [](std::int64_t i) { if (i == 7) throw Error("boom"); }), "boom");
    std::atomic<int> count{0};
    pool.parallel_for(5, [&](std::int64_t) { pool.parallel_for(3, [&](std::int64_t) { count++; }); });
    CHECK(count == 15);  // nested loops run serially inside a task
}
