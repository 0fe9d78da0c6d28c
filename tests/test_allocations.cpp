// The fixed memory budget: after Detector::reserve and Embedder::reserve, detecting, aligning and embedding
// every reference photo makes no heap allocation at all (counted by a replaced global operator new and,
// with glibc, replaced C allocators), and gives the same faces and embeddings as the allocating calls.
#include <atomic>
#include <cstdlib>
#include <new>

#include "facekit/facekit.hpp"
#include "reference.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// With glibc, the C allocation functions are counted too (AlignedBuffer takes tensors from aligned_alloc):
// the program's definitions take the place of the C library's, which they call by its internal names.
// Not under a sanitizer, whose runtime must see every allocation.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FACEKIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FACEKIT_SANITIZED 1
#endif
#endif
#if defined(__GLIBC__) && !defined(FACEKIT_SANITIZED)
#define FACEKIT_COUNTS_MALLOC 1
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void* malloc(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    void* p = __libc_memalign(alignment, n);
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}
}
#endif

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
    int max_w = 0, max_h = 0, seen = 0;
    std::size_t reference_faces = 0;
    for (auto& [name, entry] : ref.object()) {
        if (name == "_settings" || seen++ % test_every()) continue;  // every photo unless FACEKIT_TEST_EVERY says
        photos.emplace_back(name, load_image(shared("data/images/png/" + name + ".png")));
        max_w = std::max(max_w, photos.back().second.width), max_h = std::max(max_h, photos.back().second.height);
        reference_faces += entry.find("boxes")->array().size();
    }
    REQUIRE(photos.size() == std::size_t(36 / test_every() + 1));

    // first (so that no earlier call has grown any per-thread buffer): a detector and an embedder sized
    // once, then every photo
    Detector<> fixed(nets);
    auto fixed_embedder = embedder->clone();
    std::vector<Detection> faces;
    Image crop;
    Embedding e;
    fixed.reserve(max_w, max_h, &faces);
    fixed_embedder->reserve(&e, &crop);
    std::vector<std::vector<Detection>> got_faces;
    std::vector<Embedding> got_embeddings;
    got_faces.reserve(photos.size()), got_embeddings.reserve(200);
    for (std::size_t i = 0; i < photos.size(); ++i) got_faces.emplace_back().reserve(64);
    for (int k = 0; k < 200; ++k) got_embeddings.emplace_back().reserve(192);

    const long before = g_allocations.load();
    std::size_t k = 0;
    for (std::size_t i = 0; i < photos.size(); ++i) {
        fixed.detect(photos[i].second, faces);
        got_faces[i].assign(faces.begin(), faces.end());
        for (const Detection& d : faces) {
            fixed_embedder->align(photos[i].second, d, crop);
            fixed_embedder->embed(crop, e);
            if (k < got_embeddings.size()) got_embeddings[k++].assign(e.begin(), e.end());
        }
    }
    const long allocations = g_allocations.load() - before;
    REQUIRE(k == reference_faces);  // 100 for all 37 photos

    // the allocating calls give the same faces and embeddings
    std::size_t j = 0;
    for (std::size_t i = 0; i < photos.size(); ++i) {
        const std::vector<Detection> want = detector.detect(photos[i].second);
        REQUIRE(want.size() == got_faces[i].size());
        for (std::size_t f = 0; f < want.size(); ++f, ++j) {
            CHECK(want[f].box == got_faces[i][f].box);
            CHECK(embedder->embed(embedder->align(photos[i].second, want[f])) == got_embeddings[j]);
        }
    }
#ifdef FACEKIT_COUNTS_MALLOC
    MESSAGE("heap allocations (operator new and the C allocators) in " << photos.size() << " detect calls and " << k
                                                                          << " align + embed calls after reserve: " << allocations);
#else
    MESSAGE("operator new calls (sanitizer build: the C allocators are not counted) in " << photos.size() << " detect calls and "
                                                                                       << k << " align + embed calls after reserve: " << allocations);
#endif
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
#ifdef FACEKIT_COUNTS_MALLOC
    before = g_allocations.load();
    AlignedBuffer<float> buffer;
    buffer.resize(1000);
    CHECK(g_allocations.load() - before == 1);  // and a tensor's aligned_alloc
#endif
    REQUIRE(faces.size() == want.size());
    CHECK(!faces.empty());
    for (std::size_t i = 0; i < faces.size(); ++i) CHECK(faces[i].box == want[i].box);
}
