// Enrol people from a folder with one sub-folder per person, then say who is in each query photo.
//   gallery_identify PEOPLE_DIR QUERY_PHOTO...
#include <facekit/eval/thresholds.hpp>
#include <facekit/identify/gallery_io.hpp>
#include <facekit/detect/detector.hpp>
#include <facekit/embed/embedder.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "example_common.hpp"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s PEOPLE_DIR QUERY_PHOTO...\n", argv[0]);
        return 2;
    }
    namespace fs = std::filesystem;
    try {
        facekit::ThreadPool pool(2);
        facekit::Detector<> detector(facekit::models::MtcnnNets<>::load(models_dir()), {}, &pool);
        auto embedder = facekit::load_embedder("mobilefacenet", models_dir(), &pool);
        auto largest_face = [&](const std::string& path) -> std::optional<facekit::Embedding> {
            facekit::Image photo = facekit::load_image(path);
            auto faces = detector.detect(photo);
            if (faces.empty()) return std::nullopt;
            return embedder->embed(embedder->align(photo, faces[0]));
        };

        // 1. Enrol: the sub-folder's name is the person's name; every photo adds one embedding.
        facekit::Gallery gallery(embedder->name(), embedder->dim());
        std::vector<fs::path> people;
        for (auto& entry : fs::directory_iterator(argv[1]))
            if (entry.is_directory()) people.push_back(entry.path());
        std::sort(people.begin(), people.end());
        for (const fs::path& person : people)
            for (auto& photo : fs::directory_iterator(person))
                if (auto e = largest_face(photo.path().string())) gallery.enroll(person.filename().string(), *e);
        std::printf("enrolled %zu people, %zu photos\n", gallery.identities(), gallery.size());

        // 2. Identify: the 5 nearest embeddings vote; too far from everyone means "unknown".
        const float threshold = float(facekit::eval::default_thresholds("mobilefacenet").identify);
        for (int i = 2; i < argc; ++i) {
            auto e = largest_face(argv[i]);
            if (!e) {
                std::printf("%s: no face\n", argv[i]);
                continue;
            }
            facekit::GallerySearch r = gallery.search(*e, 5, threshold, &pool);
            std::printf("%s: %s (distance %.3f)\n", argv[i], r.name ? r.name->c_str() : "unknown", r.distance);
        }
        // 3. A gallery can be saved (atomically) and loaded again.
        facekit::save_gallery(gallery, "people.fkg");
    } catch (const facekit::Error& err) {
        std::fprintf(stderr, "error: %s\n", err.what());
        return 1;
    }
}
