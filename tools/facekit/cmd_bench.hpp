// facekit bench: forward-pass time on a fixed input after warm-up (the measure of
// ../shared/peers/bench.sh, so the two compare side by side), per backend.
#pragma once
#include <facekit/identify/gallery.hpp>
#include <facekit/detect/detector.hpp>
#include <facekit/embed/embedder.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <atomic>
#include <iostream>
#include <random>
#include <thread>

#include "common.hpp"

namespace cli {

struct Timing {
    double median_ms = 0, min_ms = 0;
};

template <class F>
Timing time_it(int reps, int warmup, F&& f) {
    for (int i = 0; i < warmup; ++i) f();
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms.front()};
}

inline std::string bench_json(const std::string& model, const char* backend, const char* isa, int batch, int threads,
                              int reps, Timing t, double flops) {
    return "{\"model\": " + str(model) + ", \"backend\": " + str(backend) + ", \"isa\": " + str(isa) +
           ", \"batch\": " + std::to_string(batch) + ", \"threads\": " + std::to_string(threads) +
           ", \"reps\": " + std::to_string(reps) + ", \"median_ms\": " + num(t.median_ms) + ", \"min_ms\": " + num(t.min_ms) +
           ", \"median_ms_per_item\": " + num(t.median_ms / batch) + ", \"gflops\": " + num(flops / (t.median_ms * 1e6));
}

/// `--busy N`: N threads that spin until destroyed, the other program a real application shares its CPU
/// with (a video decoder, a UI). They are ordinary threads of this process at the default priority, so
/// the scheduler treats them as it would another program's.
class Spinners {
public:
    explicit Spinners(int n) {
        for (int i = 0; i < n; ++i)
            threads_.emplace_back([this] {
                std::uint64_t x = 1;
                while (!stop_.load(std::memory_order_relaxed))
                    for (int k = 0; k < 1000; ++k) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                sink_.fetch_add(x, std::memory_order_relaxed);
            });
    }
    Spinners(const Spinners&) = delete;
    Spinners& operator=(const Spinners&) = delete;
    ~Spinners() {
        stop_.store(true);
        for (auto& t : threads_) t.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> sink_{0};
    std::vector<std::thread> threads_;
};

/// The same fixed input as ort_bench.js: sin(i · 0.37).
inline void fill_fixed(facekit::Tensor& t) {
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = float(std::sin(double(i) * 0.37));
}

template <class B>
std::string bench_embedder(const std::string& model, const std::string& weights, int batch, int reps, facekit::ThreadPool& pool) {
    using namespace facekit;
    auto st = SafeTensors::open(weights);
    Workspace ws;
    Context ctx{&pool, &ws};
    auto run = [&](const auto& net, int size) {
        Tensor in(Shape(batch, size, size, 3));
        fill_fixed(in);
        Timing t = time_it(reps, 5, [&] { net.forward(in, ws, ctx); });
        return bench_json(model, B::name, B::isa(), batch, pool.size(), reps, t, net.flops(in.shape()));
    };
    if (model == "facenet") return run(models::InceptionResnetV1<B>(st), 160) + "}";
    return run(models::MobileFaceNet<B>(st), 112) + "}";
}

template <class B>
std::string bench_mtcnn(const std::string& dir, const facekit::Image& img, int reps, facekit::ThreadPool& pool) {
    using namespace facekit;
    auto nets = models::MtcnnNets<B>::load(dir);
    Detector<B> det(nets, {}, &pool);
    std::vector<StageTimes> stages;
    std::size_t faces = 0;
    Timing t = time_it(reps, 3, [&] {
        faces = det.detect(img).size();
        stages.push_back(det.last_times());
    });
    auto median = [&](double StageTimes::*m) {
        std::vector<double> v;
        for (auto& s : stages) v.push_back(s.*m);
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    return bench_json("mtcnn", B::name, B::isa(), 1, pool.size(), reps, t, 0.0).substr(0) + ", \"width\": " +
           std::to_string(img.width) + ", \"height\": " + std::to_string(img.height) + ", \"faces\": " + std::to_string(faces) +
           ", \"stages_ms\": {\"pnet\": " + num(median(&StageTimes::pnet)) + ", \"rnet\": " + num(median(&StageTimes::rnet)) +
           ", \"onet\": " + num(median(&StageTimes::onet)) + "}, \"windows\": {\"rnet\": " +
           std::to_string(stages.back().rnet_windows) + ", \"onet\": " + std::to_string(stages.back().onet_windows) + "}}";
}

/// The default detector input: the central 4:3 region of the bench photo (multiface.png, all six faces,
/// copied beside the models by the build) at 640×480.
inline facekit::Image default_bench_photo(const std::string& models) {
    const std::string path = models + "/bench_photo.png";
    struct stat sb {};
    if (::stat(path.c_str(), &sb) != 0)
        throw facekit::FileError(path, "the default benchmark photo is missing: give one with --image FILE");
    facekit::Image img = facekit::load_image(path);
    const int w = img.height * 4 / 3;
    return facekit::pil_bilinear_resize(img, {(img.width - w) / 2, 0, (img.width - w) / 2 + w, img.height}, 640, 480);
}

/// A top-k query over `size` random unit vectors, next to a plain read of the same bytes with the same
/// threads (the physical limit of a brute-force scan).
inline std::string bench_gallery(const Args& a, int reps, facekit::ThreadPool& pool) {
    const std::size_t size = std::size_t(a.integer("size", 1, 100000000));
    const int dim = int(a.integer("dim", 1, facekit::Gallery::kMaxDim));
    const int k = int(a.integer("k", 1, 1000));
    const bool int8 = a.flag("int8");
    std::mt19937 rng(42);
    std::normal_distribution<float> nd;
    std::vector<float> v(static_cast<std::size_t>(dim));
    auto unit = [&] {
        double ss = 0;
        for (float& x : v) x = nd(rng), ss += double(x) * x;
        facekit::Gallery::scale_to_unit(v, ss);
    };
    std::vector<float> floats;
    std::vector<std::int8_t> bytes;
    std::vector<float> scales;
    if (int8) bytes.resize(size * std::size_t(dim)), scales.resize(size);
    else floats.resize(size * std::size_t(dim));
    for (std::size_t r = 0; r < size; ++r) {
        unit();
        if (int8) facekit::Gallery::quantize(v.data(), dim, &bytes[r * std::size_t(dim)], scales[r]);
        else std::copy(v.begin(), v.end(), &floats[r * std::size_t(dim)]);
    }
    std::vector<std::string> names;
    for (int i = 0; i < 1000; ++i) names.push_back("person" + std::to_string(i));
    std::vector<std::uint32_t> owners(size);
    for (std::size_t r = 0; r < size; ++r) owners[r] = std::uint32_t(r % names.size());
    facekit::Gallery g("bench", dim, int8 ? facekit::Gallery::Store::Int8 : facekit::Gallery::Store::Float);
    g.assign(std::move(names), std::move(owners), std::move(floats), std::move(bytes), std::move(scales));
    unit();
    const Timing t = time_it(reps, 2, [&] { (void)g.search(v, k, 1.0f, &pool); });
    const double store_bytes = double(size) * dim * (int8 ? 1 : 4) + (int8 ? 4.0 * double(size) : 0.0);
    // the reference: every thread sums its share of the same bytes as 64-bit words
    const auto* words = int8 ? reinterpret_cast<const std::uint64_t*>(g.bytes().data())
                             : reinterpret_cast<const std::uint64_t*>(g.floats().data());
    const std::size_t nwords = std::size_t(double(size) * dim * (int8 ? 1 : 4) / 8);
    std::vector<std::uint64_t> sums(std::size_t(pool.size()) * 8, 0);
    const Timing stream = time_it(reps, 2, [&] {
        const std::int64_t parts = pool.size();
        pool.parallel_for(parts, [&](std::int64_t p) {
            std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            const std::size_t b = nwords * std::size_t(p) / std::size_t(parts), e = nwords * std::size_t(p + 1) / std::size_t(parts);
            std::size_t i = b;
            for (; i + 4 <= e; i += 4) s0 += words[i], s1 += words[i + 1], s2 += words[i + 2], s3 += words[i + 3];
            for (; i < e; ++i) s0 += words[i];
            sums[std::size_t(p) * 8] = s0 + s1 + s2 + s3;
        });
    });
    const double gbps = store_bytes / (t.median_ms * 1e6), stream_gbps = store_bytes / (stream.median_ms * 1e6);
    return "{\"model\": \"gallery\", \"backend\": \"xsimd\", \"isa\": " + str(facekit::nn::DefaultBackend::isa()) +
           ", \"threads\": " + std::to_string(pool.size()) + ", \"reps\": " + std::to_string(reps) + ", \"size\": " +
           std::to_string(size) + ", \"dim\": " + std::to_string(dim) + ", \"store\": \"" + (int8 ? "int8" : "float") +
           "\", \"k\": " + std::to_string(k) + ", \"median_ms\": " + num(t.median_ms) + ", \"min_ms\": " + num(t.min_ms) +
           ", \"gb_per_s\": " + num(gbps) + ", \"stream_ms\": " + num(stream.median_ms) + ", \"stream_gb_per_s\": " +
           num(stream_gbps) + ", \"fraction_of_stream\": " + num(gbps / stream_gbps) + "}";
}

/// The backend named `name` (xsimd, eigen, scalar) as a type: returns f(BackendType<B>{}).
template <class B>
struct BackendType {
    using type = B;
};
template <class F>
std::string on_backend(const std::string& name, F&& f) {
    using namespace facekit::nn;
    if (name == "xsimd") return f(BackendType<DefaultBackend>{});
    if (name == "eigen") return f(BackendType<EigenBackend>{});
    return f(BackendType<ReferenceBackend>{});
}

inline const Command kBench = {
    "bench", "[OPTIONS]", "time the networks, the detector or a gallery query",
    "Times the forward pass alone on a fixed input after warm-up (the measure of ../shared/peers/bench.sh, so\n"
    "that the two compare side by side); mtcnn times the whole detector on a photo, gallery one top-k query.\n"
    "Prints median and minimum milliseconds as JSON.",
    {{"model", "M", "facenet", "facenet, mobilefacenet, mtcnn or gallery"},
     {"backend", "B", "xsimd", "xsimd, eigen, scalar (the reference backend) or all: one line each"},
     {"batch", "N", "1", "faces per forward pass (facenet, mobilefacenet)"},
     {"reps", "N", "100; mtcnn 30; gallery 20; scalar a tenth", "timed repetitions"},
     {"image", "FILE", "640×480 of MODELS/bench_photo.png", "mtcnn: the photo to detect on"},
     {"size", "N", "1000000", "gallery: rows of random unit vectors"},
     {"dim", "N", "192", "gallery: dimension"},
     {"k", "K", "5", "gallery: neighbours per query"},
     {"int8", "", "", "gallery: the int8 store"},
     {"models", "DIR", kModelsDefault, "directory of converted weights"},
     {"weights", "FILE", "facenet.safetensors, else facenet-synthetic.safetensors", "embedder weights (the values do not matter for timing)"},
     {"threads", "N", "all cores", "worker threads"},
     {"busy", "N", "0", "spin N threads of other work while timing (a machine that is not quiet)"}},
    ""};

inline int cmd_bench(const std::vector<std::string>& argv) {
    Args a(argv, kBench);
    if (!a.positional().empty()) throw UsageError("bench takes no positional arguments");
    const std::string model = a.choice("model", {"facenet", "mobilefacenet", "mtcnn", "gallery"});
    const std::string backend = a.choice("backend", {"xsimd", "eigen", "scalar", "all"});
    const int batch = int(a.integer("batch", 1, 4096));
    const int default_reps = model == "mtcnn" ? 30 : 100;
    // the reference backend is 20–50 times slower: a tenth of the repetitions unless asked for
    auto reps_of = [&](const std::string& b) {
        return int(a.integer("reps", b == "scalar" ? std::max(default_reps / 10, 1) : default_reps, 1, 1000000));
    };
    const int busy = int(a.integer("busy", 0, 1024));
    auto pool = make_pool(a);
    Spinners spinners(busy);
    auto print = [&](std::string out) {
        if (busy > 0) out.insert(out.size() - 1, ", \"busy\": " + std::to_string(busy));  // before the closing brace
        std::cout << out << std::endl;
    };
    using namespace facekit::nn;
    if (model == "gallery") {
        print(bench_gallery(a, int(a.integer("reps", 20, 1, 100000)), *pool));
        return 0;
    }
    // each backend in turn, so that `--backend all` prints them side by side from one run
    const std::vector<std::string> backends =
        backend == "all" ? std::vector<std::string>{"xsimd", "eigen", "scalar"} : std::vector<std::string>{backend};
    if (model == "mtcnn") {
        if (a.has("batch")) throw UsageError("--batch does not apply to mtcnn");
        const std::string dir = models_dir(a);
        facekit::Image img = a.has("image") ? facekit::load_image(a.get("image")) : default_bench_photo(dir);
        for (const std::string& b : backends)
            print(on_backend(b, [&](auto type) {
                return bench_mtcnn<typename decltype(type)::type>(dir, img, reps_of(b), *pool);
            }));
        return 0;
    }
    // timing does not depend on the values: the synthetic FaceNet checkpoint serves when the real one is absent
    std::string weights = a.get("weights", models_dir(a) + "/" + model + ".safetensors");
    struct stat sb {};
    if (!a.has("weights") && model == "facenet" && ::stat(weights.c_str(), &sb) != 0)
        weights = models_dir(a) + "/facenet-synthetic.safetensors";
    for (const std::string& b : backends)
        print(on_backend(b, [&](auto type) {
            return bench_embedder<typename decltype(type)::type>(model, weights, batch, reps_of(b), *pool);
        }));
    return 0;
}

}  // namespace cli
