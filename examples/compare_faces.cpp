// Are two photos of the same person? Compare the embeddings of their largest faces.
//   compare_faces PHOTO_A PHOTO_B
#include <facekit/eval/thresholds.hpp>
#include <facekit/detect/detector.hpp>
#include <facekit/embed/embedder.hpp>

#include <cstdio>

#include "example_common.hpp"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s PHOTO_A PHOTO_B\n", argv[0]);
        return 2;
    }
    try {
        facekit::Detector<> detector(facekit::models::MtcnnNets<>::load(models_dir()));
        auto embedder = facekit::load_embedder("mobilefacenet", models_dir());

        facekit::Embedding e[2];
        for (int i = 0; i < 2; ++i) {
            facekit::Image photo = facekit::load_image(argv[i + 1]);
            auto faces = detector.detect(photo);  // largest face first
            if (faces.empty()) {
                std::fprintf(stderr, "no face in %s\n", argv[i + 1]);
                return 1;
            }
            // The embedder aligns the face its own way (MobileFaceNet: 5-point similarity to 112×112),
            // then returns a unit-length 192-d vector.
            e[i] = embedder->embed(embedder->align(photo, faces[0]));
        }
        // Squared distance between unit vectors: ~0.5 for the same person, ~2 for different people.
        const float d = facekit::squared_distance(e[0], e[1]);
        const double t = facekit::eval::default_thresholds("mobilefacenet").verify;
        std::printf("distance %.3f (threshold %.2f): %s\n", d, t, d <= t ? "same person" : "different people");
    } catch (const facekit::Error& err) {
        std::fprintf(stderr, "error: %s\n", err.what());
        return 1;
    }
}
