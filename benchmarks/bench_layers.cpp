// Backend benchmark: representative convolutions of the networks (and the whole networks) on each
// backend, as time, GFLOP/s and the ratio to Eigen's large-GEMM throughput measured in the same run;
// MTCNN's stems with their max pools, fused against the two layers in turn; MTCNN's three networks.
// Usage: bench_layers [--threads N] [--reps R] [--models DIR]
#include <facekit/detect/mtcnn.hpp>
#include <facekit/embed/inception_resnet_v1.hpp>
#include <facekit/embed/mobilefacenet.hpp>
#include <facekit/engine/backends.hpp>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

using namespace facekit;
using namespace facekit::nn;

namespace {
template <class F>
double median_ms(int reps, F&& f) {
    f();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        auto a = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

/// Eigen's single-threaded GEMM on large square matrices: the reference throughput (GFLOP/s per core).
double eigen_gemm_gflops(int reps) {
    const int n = 1024;
    Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
    const double ms = median_ms(reps, [&] { c.noalias() = a * b; });
    return 2.0 * n * n * n / (ms * 1e6);
}

struct ConvCase {
    const char* name;
    int n, h, w, cin, cout;
    Window win;
};

template <class B>
void bench_conv(const ConvCase& cc, ThreadPool* pool, int reps, double ref) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> d(-1, 1);
    ConvSpec s;
    s.window = cc.win, s.cin = cc.cin, s.cout = cc.cout;
    s.weights.resize(std::size_t(cc.cout) * cc.win.taps() * cc.cin);
    for (auto& x : s.weights) x = d(rng);
    s.epilogue.bias.assign(std::size_t(cc.cout), 0.1f);
    s.epilogue.activation = Activation::ReLU;
    Conv2d<B> conv(s);
    Tensor in(Shape(cc.n, cc.h, cc.w, cc.cin));
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = d(rng);
    Tensor out(conv.output_shape(in.shape()));
    Workspace ws;
    Context ctx{pool, &ws};
    const double ms = median_ms(reps, [&] { conv.forward(in, out, ctx); });
    const double gf = conv.flops(in.shape()) / (ms * 1e6);
    std::printf("  %-8s %-34s %9.3f ms %8.1f GFLOP/s %6.0f %%\n", B::name, cc.name, ms, gf, 100.0 * gf / ref);
}

/// A convolution with PReLU and the max pool after it: in one pass (ConvMaxPool2d, where the backend
/// fuses them) against the two layers in turn, on the same backend.
struct ConvPoolCase {
    const char* name;
    int n, h, w, cout, pool, stride;
};
void bench_conv_pool(const ConvPoolCase& cc, ThreadPool* pool, int reps) {
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> d(-1, 1);
    ConvSpec s;
    s.window = Window::square(3), s.cin = 3, s.cout = cc.cout;
    s.weights.resize(std::size_t(cc.cout) * 27);
    for (auto& x : s.weights) x = d(rng);
    s.epilogue.bias.assign(std::size_t(cc.cout), 0.1f);
    s.epilogue.activation = Activation::PReLU;
    s.epilogue.alpha.assign(std::size_t(cc.cout), 0.25f);
    const MaxPool2d mp{Window::square(cc.pool, cc.stride), true};
    ConvMaxPool2d<DefaultBackend> fused(s, mp);
    Conv2d<DefaultBackend> conv(s);
    Tensor in(Shape(cc.n, cc.h, cc.w, 3));
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = d(rng);
    Tensor mid(conv.output_shape(in.shape())), out(fused.output_shape(in.shape()));
    Context ctx{pool, nullptr};
    const double one = median_ms(reps, [&] { fused.forward(in, out, ctx); });
    const double two = median_ms(reps, [&] { conv.forward(in, mid, ctx), max_pool<DefaultBackend>(mp, mid, out, ctx); });
    std::printf("  %-8s %-34s %9.3f ms fused, %.3f ms conv then pool (%.2f×)\n", DefaultBackend::name, cc.name, one,
                two, two / one);
}

/// The fixed input of `facekit bench` and ort_bench.js: sin(i · 0.37).
void fill_fixed(Tensor& t) {
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = float(std::sin(double(i) * 0.37));
}

template <class B>
void bench_nets(const std::string& dir, ThreadPool* pool, int reps, double ref) {
    Workspace ws;
    Context ctx{pool, &ws};
    for (int batch : {1, 8}) {
        models::InceptionResnetV1<B> irv1(SafeTensors::open(dir + "/facenet-synthetic.safetensors"));
        Tensor in(Shape(batch, 160, 160, 3));
        fill_fixed(in);
        const double ms = median_ms(batch == 1 ? reps : std::max(3, reps / 8), [&] { irv1.forward(in, ws, ctx); });
        const double gf = irv1.flops(in.shape()) / (ms * 1e6);
        std::printf("  %-8s %-34s %9.3f ms %8.1f GFLOP/s %6.0f %%  (%.2f ms per face)\n", B::name,
                    batch == 1 ? "InceptionResnetV1 160², batch 1" : "InceptionResnetV1 160², batch 8", ms, gf, 100.0 * gf / ref,
                    ms / batch);
    }
    models::MobileFaceNet<B> mfn(SafeTensors::open(dir + "/mobilefacenet.safetensors"));
    Tensor in(Shape(1, 112, 112, 3));
    fill_fixed(in);
    const double ms = median_ms(reps, [&] { mfn.forward(in, ws, ctx); });
    const double gf = mfn.flops(in.shape()) / (ms * 1e6);
    std::printf("  %-8s %-34s %9.3f ms %8.1f GFLOP/s %6.0f %%\n", B::name, "MobileFaceNet 112², batch 1", ms, gf, 100.0 * gf / ref);
}

/// MTCNN's three networks on the inputs a 640×480 photo gives them: P-Net on its largest pyramid level,
/// R-Net and O-Net on a batch of 8 crops (the detector's default batches are larger; 8 keeps the
/// reference backend's rows short).
template <class B>
void bench_mtcnn(const std::string& dir, ThreadPool* pool, int reps) {
    const auto nets = models::MtcnnNets<B>::load(dir);
    Workspace ws;
    Context ctx{pool, &ws};
    auto row = [&](const char* what, const auto& net, Shape shape) {
        Tensor in(shape);
        fill_fixed(in);
        const double ms = median_ms(reps, [&] { net.forward(in, ws, ctx); });
        std::printf("  %-8s %-34s %9.3f ms\n", B::name, what, ms);
    };
    row("P-Net 3×289×385 (scale 0.6)", nets->pnet, Shape(1, 289, 385, 3));
    row("R-Net 8 × 24²", nets->rnet, Shape(8, 24, 24, 3));
    row("O-Net 8 × 48²", nets->onet, Shape(8, 48, 48, 3));
}
}  // namespace

int main(int argc, char** argv) {
    int threads = 2, reps = 20;
    std::string models = FACEKIT_DEFAULT_MODELS_DIR;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--models")) models = argv[i + 1];
    }
    ThreadPool pool(threads);
    const double eigen1 = eigen_gemm_gflops(5);
    const double ref = eigen1 * threads;  // Eigen's large GEMM, scaled to the threads used
    std::printf("facekit backend benchmark: %d thread(s), xsimd ISA %s, Eigen SIMD %s\n", threads,
                DefaultBackend::isa(), Eigen::SimdInstructionSetsInUse());
    std::printf("Eigen large GEMM (1024³, 1 thread): %.1f GFLOP/s; %% below = share of %d × that = %.1f GFLOP/s\n\n",
                eigen1, threads, ref);
    const ConvCase cases[] = {
        {"stem conv2d_2b 3×3 32→64 @77²", 1, 77, 77, 32, 64, Window::square(3, 1, 1)},
        {"stem conv2d_4a 3×3 80→192 @38²", 1, 38, 38, 80, 192, Window::square(3)},
        {"block35 1×1 256→96 @17²", 1, 17, 17, 256, 96, Window::square(1)},
        {"block35 up 1×1 96→256 @17²", 1, 17, 17, 96, 256, Window::square(1)},
        {"block17 1×7 128→128 @8²", 1, 8, 8, 128, 128, Window::rect(1, 7, 0, 3)},
        {"block17 up 1×1 256→896 @8²", 1, 8, 8, 256, 896, Window::square(1)},
        {"block8 1×1 1792→384 @3²", 1, 3, 3, 1792, 384, Window::square(1)},
        {"mfn expand 1×1 64→128 @28²", 1, 28, 28, 64, 128, Window::square(1)},
        {"pnet conv1 3×3 3→10 @240×320", 1, 240, 320, 3, 10, Window::square(3)},
    };
    for (const ConvCase& c : cases) {
        bench_conv<DefaultBackend>(c, &pool, reps, ref);
        bench_conv<EigenBackend>(c, &pool, reps, ref);
        bench_conv<ReferenceBackend>(c, &pool, std::max(1, reps / 10), ref);
    }
    std::printf("\nMTCNN stems: conv 3×3 + PReLU + max pool\n");
    const ConvPoolCase stems[] = {{"P-Net 3→10, pool 2×2/2, 74×385 band", 1, 74, 385, 10, 2, 2},
                                  {"R-Net 3→28, pool 3×3/2, 8 × 24²", 8, 24, 24, 28, 3, 2},
                                  {"O-Net 3→32, pool 3×3/2, 8 × 48²", 8, 48, 48, 32, 3, 2}};
    for (const ConvPoolCase& c : stems) bench_conv_pool(c, &pool, reps);
    std::printf("\nwhole networks\n");
    bench_nets<DefaultBackend>(models, &pool, reps, ref);
    bench_nets<EigenBackend>(models, &pool, std::max(3, reps / 4), ref);
    bench_nets<ReferenceBackend>(models, &pool, std::max(1, reps / 20), ref);
    std::printf("\nMTCNN networks\n");
    bench_mtcnn<DefaultBackend>(models, &pool, reps);
    bench_mtcnn<EigenBackend>(models, &pool, reps);
    bench_mtcnn<ReferenceBackend>(models, &pool, std::max(1, reps / 10));
    return 0;
}
