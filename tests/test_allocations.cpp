// The fixed memory budget: after Detector::reserve and Embedder::reserve, detecting, aligning and embedding
// every reference photo makes no heap allocation at all (counted by a replaced global operator new), and
// gives the same faces and embeddings as the allocating calls.
#include <atomic>
#include <cstdlib>
#include <new>

#include "facekit/facekit.hpp"
#include "reference.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// The replacements pair malloc with free, which GCC cannot see through the replaced operators.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Every form of operator new ends here (the array and aligned forms forward to these in libstdc++ only
// for some of them, so each is replaced).
void* operator new(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    const std::size_t al = std::size_t(a);
    if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace facekit;
using namespace facekit::test;

TEST_CASE("after reserve, detect + align + embed of every reference photo allocate nothing") {
    auto nets = models::MtcnnNets<>::load(models_dir());
    Detector<> detector(nets);  // no thread pool: the firmware configuration
    auto embedder = load_embedder("mobilefacenet", models_dir());
    Json ref = load_json(shared("reference/mtcnn/detections.json"));
    std::vector<std::pair<std::string, Image>> photos;
    int max_w = 0, max_h = 0;
    for (auto& [name, entry] : ref.object()) {
        if (name == "_settings") continue;
        photos.emplace_back(name, load_image(shared("data/images/png/" + name + ".png")));
        max_w = std::max(max_w, photos.back().second.width), max_h = std::max(max_h, photos.back().second.height);
    }
    REQUIRE(photos.size() == 37);

    // the allocating calls give the expected results
    std::vector<std::vector<Detection>> want_faces;
    std::vector<Embedding> want_embeddings;
    for (auto& [name, img] : photos) {
        want_faces.push_back(detector.detect(img));
        for (const Detection& d : want_faces.back()) want_embeddings.push_back(embedder->embed(embedder->align(img, d)));
    }
    REQUIRE(want_embeddings.size() == 100);

    // a fresh detector and embedder, sized once
    Detector<> fixed(nets);
    auto fixed_embedder = embedder->clone();
    std::vector<Detection> faces;
    Image crop;
    Embedding e;
    fixed.reserve(max_w, max_h, &faces);
    fixed_embedder->reserve(&e, &crop);

    const long before = g_allocations.load();
    std::size_t k = 0, found = 0;
    bool same = true;
    for (std::size_t i = 0; i < photos.size(); ++i) {
        fixed.detect(photos[i].second, faces);
        same = same && faces.size() == want_faces[i].size();
        for (std::size_t f = 0; f < faces.size() && same; ++f, ++k) {
            same = faces[f].box == want_faces[i][f].box && faces[f].landmarks[4].x == want_faces[i][f].landmarks[4].x;
            fixed_embedder->align(photos[i].second, faces[f], crop);
            fixed_embedder->embed(crop, e);
            same = same && e == want_embeddings[k];
        }
        found += faces.size();
    }
    const long allocations = g_allocations.load() - before;
    CHECK(same);
    CHECK(found == 100);
    MESSAGE("heap allocations in 37 detect calls and 100 align + embed calls after reserve: " << allocations);
    CHECK(allocations == 0);
}

TEST_CASE("reserve covers the other orientation, and detect still allocates without it") {
    auto nets = models::MtcnnNets<>::load(models_dir());
    const Image photo = load_image(shared("data/images/png/multiface.png"));  // 1200×630
    Image portrait(photo.height, photo.width);  // the photo turned a quarter
    for (int y = 0; y < portrait.height; ++y)
        for (int x = 0; x < portrait.width; ++x)
            std::copy(photo.at(y, photo.height - 1 - x), photo.at(y, photo.height - 1 - x) + 3, portrait.at(x, y));
    Detector<> fixed(nets);
    std::vector<Detection> faces;
    fixed.reserve(photo.width, photo.height, &faces);
    long before = g_allocations.load();
    fixed.detect(portrait, faces);
    CHECK(g_allocations.load() - before == 0);

    Detector<> unsized(nets);
    std::vector<Detection> want;
    before = g_allocations.load();
    unsized.detect(portrait, want);
    CHECK(g_allocations.load() - before > 0);  // the counter sees the detector's own allocations
    REQUIRE(faces.size() == want.size());
    CHECK(!faces.empty());
    for (std::size_t i = 0; i < faces.size(); ++i) CHECK(faces[i].box == want[i].box);
}
