// Concurrency: networks loaded once and shared read-only by many threads give the same results as one
// thread; results do not depend on the pool size; pools start and stop cleanly. Run under TSan in CI.
#include <atomic>
#include <thread>

#include "facekit/identify/gallery.hpp"
#include "facekit/detect/detector.hpp"
#include "facekit/embed/embedder.hpp"
#include "reference.hpp"

using namespace facekit;
using namespace facekit::test;

namespace {
struct Result {
    std::vector<Detection> faces;
    std::vector<Embedding> embeddings;
};
Result run(Detector<>& det, Embedder& emb, const Image& img) {
    Result r;
    r.faces = det.detect(img);
    std::vector<Image> crops;
    for (auto& f : r.faces) crops.push_back(emb.align(img, f));
    r.embeddings = emb.embed(crops);
    return r;
}
bool same(const Result& a, const Result& b) {
    if (a.faces.size() != b.faces.size() || a.embeddings != b.embeddings) return false;
    for (std::size_t i = 0; i < a.faces.size(); ++i)
        if (a.faces[i].box != b.faces[i].box || a.faces[i].score != b.faces[i].score) return false;
    return true;
}
}  // namespace

TEST_CASE("a model shared read-only by several threads gives the single-thread results") {
    auto nets = models::MtcnnNets<>::load(models_dir());
    auto proto = load_embedder("mobilefacenet", models_dir());
    const Image img = load_image(shared("data/images/png/2008_002079.png"));
    Detector<> det0(nets);
    const Result expected = run(det0, *proto, img);
    REQUIRE(expected.faces.size() == 5);
    constexpr int kThreads = 4;
    std::vector<int> ok(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            Detector<> det(nets);  // own scratch memory, shared weights
            auto emb = proto->clone();
            for (int rep = 0; rep < 3; ++rep) ok[std::size_t(t)] += same(run(det, *emb, img), expected);
        });
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) CHECK(ok[std::size_t(t)] == 3);
}

TEST_CASE("results do not depend on the number of pool threads") {
    auto nets = models::MtcnnNets<>::load(models_dir());
    const Image img = load_image(shared("data/images/png/multiface.png"));
    ThreadPool one(1), two(2), three(3);
    Detector<> a(nets, {}, &one), b(nets, {}, &two), c(nets, {}, &three);
    auto fa = a.detect(img), fb = b.detect(img), fc = c.detect(img);
    REQUIRE(fa.size() == 6);
    REQUIRE(fb.size() == fa.size());
    REQUIRE(fc.size() == fa.size());
    for (std::size_t i = 0; i < fa.size(); ++i) {
        CHECK(fa[i].box == fb[i].box);
        CHECK(fa[i].box == fc[i].box);
        CHECK(fa[i].score == fc[i].score);
    }
}

TEST_CASE("two threads sharing one pool: the second runs its loop itself, results intact") {
    ThreadPool pool(2);
    std::vector<long> sums(2, 0);
    std::vector<std::thread> callers;
    for (int c = 0; c < 2; ++c)
        callers.emplace_back([&, c] {
            for (int rep = 0; rep < 200; ++rep) {
                std::vector<long> part(64, 0);
                pool.parallel_for(64, [&](std::int64_t i) { part[std::size_t(i)] = i; });
                for (long v : part) sums[std::size_t(c)] += v;
            }
        });
    for (auto& t : callers) t.join();
    CHECK(sums[0] == 200L * 2016);
    CHECK(sums[1] == 200L * 2016);
}

TEST_CASE("thread pools start and shut down cleanly, also when idle or busy") {
    std::atomic<int> ran{0};
    for (int i = 0; i < 50; ++i) {
        ThreadPool p(3);
        if (i % 2) p.parallel_for(10, [&](std::int64_t) { ran.fetch_add(1, std::memory_order_relaxed); });
    }
    CHECK(ran.load() == 25 * 10);  // every task of the busy pools ran; the idle ones joined without work
}

TEST_CASE("a gallery searched by several threads at once") {
    Gallery g("m", 8);
    for (int i = 0; i < 200; ++i) {
        std::vector<float> v(8, 0.0f);
        v[std::size_t(i % 8)] = 1.0f, v[std::size_t((i / 8) % 8)] += 0.5f;
        g.enroll("p" + std::to_string(i % 10), v);
    }
    ThreadPool pool(2);
    const std::vector<float> q = {1, 0.5f, 0, 0, 0, 0, 0, 0};
    auto expected = g.search(q, 5, 1.0f);
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 20; ++rep) {
                auto r = g.search(q, 5, 1.0f, &pool);
                ok[std::size_t(t)] += r.name == expected.name && r.nearest.size() == expected.nearest.size() &&
                                      r.nearest[0].distance == expected.nearest[0].distance;
            }
        });
    for (auto& th : threads) th.join();
    for (int v : ok) CHECK(v == 20);
}

TEST_CASE("pools of more threads than cores, on cores taken by other threads, give the one-thread results") {
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    auto nets = models::MtcnnNets<>::load(models_dir());
    const Image img = load_image(shared("data/images/png/2008_002079.png"));
    const std::string irv1 = model("facenet-synthetic.safetensors");
    auto embed_all = [&](ThreadPool* pool) {
        Detector<> det(nets, {}, pool);
        auto mfn = load_embedder("mobilefacenet", models_dir(), pool);
        auto fn = load_embedder("facenet", models_dir(), pool, irv1, SyntheticWeights::Allow);
        Result r;
        r.faces = det.detect(img);
        std::vector<Image> crops;
        for (auto& f : r.faces) crops.push_back(mfn->align(img, f));
        r.embeddings = mfn->embed(crops);
        crops.clear();
        for (auto& f : r.faces) crops.push_back(fn->align(img, f));
        for (auto& e : fn->embed(crops)) r.embeddings.push_back(e);
        return r;
    };
    const Result expected = embed_all(nullptr);
    REQUIRE(expected.faces.size() == 5);
    std::atomic<bool> stop{false};
    std::vector<std::thread> spinners;
    for (int i = 0; i < cores; ++i)
        spinners.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
            }
        });
    for (int threads : {2, 2 * cores + 1}) {
        ThreadPool pool(threads);
        CAPTURE(threads);
        CHECK(same(embed_all(&pool), expected));
    }
    stop = true;
    for (auto& t : spinners) t.join();
}
