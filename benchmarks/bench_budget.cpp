// The RAM budget of a firmware-style detector + embedder: heap in use for MTCNN's packed weights,
// MobileFaceNet's, and the scratch that Detector::reserve and Embedder::reserve set aside for photos up to
// a given size; then a detect + align + embed of a photo, which must leave the heap as it was.
//   build/benchmarks/bench_budget [MODELS_DIR [PHOTO [MAX_W MAX_H]]]
//   (defaults: the build's models, its benchmark photo, the photo's own size)
#include <facekit/facekit.hpp>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <string>

#ifndef FACEKIT_DEFAULT_MODELS_DIR
#define FACEKIT_DEFAULT_MODELS_DIR "models"
#endif

namespace {
/// Bytes of heap in use (glibc: the arena's allocated chunks plus mmap'd blocks).
double heap_mib() {
#ifdef __GLIBC__
    const struct mallinfo2 m = mallinfo2();
    return double(m.uordblks + m.hblkhd) / (1024.0 * 1024.0);
#else
    return 0.0;  // no portable way to read the heap in use: the figures read 0
#endif
}
}  // namespace

int main(int argc, char** argv) {
    using namespace facekit;
    const std::string models = argc > 1 ? argv[1] : FACEKIT_DEFAULT_MODELS_DIR;
    const std::string photo_path = argc > 2 ? argv[2] : models + "/bench_photo.png";
    const Image photo = load_image(photo_path);
    const int max_w = argc > 4 ? std::atoi(argv[3]) : photo.width, max_h = argc > 4 ? std::atoi(argv[4]) : photo.height;

    const double h0 = heap_mib();
    auto nets = models::MtcnnNets<>::load(models);
    const double h1 = heap_mib();
    auto embedder = load_embedder("mobilefacenet", models);
    const double h2 = heap_mib();
    Detector<> detector(nets);
    std::vector<Detection> faces;
    Image crop;
    Embedding e;
    detector.reserve(max_w, max_h, &faces);
    const double h3 = heap_mib();
    embedder->reserve(&e, &crop);
    const double h4 = heap_mib();
    detector.detect(photo, faces);
    for (const Detection& d : faces) {
        embedder->align(photo, d, crop);
        embedder->embed(crop, e);
    }
    const double h5 = heap_mib();
    // a packed weights file (facekit pack) is read in place from its mapping: no heap for the arrays
    const bool packed = !facekit::SafeTensors::open(models + "/pnet.safetensors").metadata("packed_layout").empty();
    std::printf("RAM budget, MTCNN + MobileFaceNet, photos up to %d×%d (heap in use, MiB):\n", max_w, max_h);
    const std::string how = packed ? "(read in place)" : "(packed at load)";
    std::printf("  %-38s%7.2f\n", ("MTCNN weights " + how).c_str(), h1 - h0);
    std::printf("  %-38s%7.2f\n", ("MobileFaceNet weights " + how).c_str(), h2 - h1);
    std::printf("  %-38s%7.2f\n", "detector scratch (reserve)", h3 - h2);
    std::printf("  %-38s%7.2f\n", "embedder scratch (reserve)", h4 - h3);
    std::printf("  %-38s%7.2f\n", "total", h4 - h0);
    std::printf("  change after detect + embed of %zu faces in a %d×%d photo: %+.3f\n", faces.size(), photo.width,
                photo.height, h5 - h4);
    return h5 == h4 ? 0 : 1;
}
