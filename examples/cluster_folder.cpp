// Group the photos of a folder by person (Chinese whispers on face embeddings).
//   cluster_folder DIR
#include <facekit/eval/cluster.hpp>
#include <facekit/eval/thresholds.hpp>
#include <facekit/detect/detector.hpp>
#include <facekit/embed/embedder.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "example_common.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    try {
        facekit::ThreadPool pool(2);
        facekit::Detector<> detector(facekit::models::MtcnnNets<>::load(models_dir()), {}, &pool);
        auto embedder = facekit::load_embedder("mobilefacenet", models_dir(), &pool);

        // 1. One embedding per photo (its largest face), stacked as rows of a matrix.
        std::vector<std::string> files;
        for (auto& e : std::filesystem::recursive_directory_iterator(argv[1]))
            if (e.is_regular_file()) files.push_back(e.path().string());
        std::sort(files.begin(), files.end());
        std::vector<std::string> used;
        std::vector<float> rows;
        for (const std::string& f : files) {
            facekit::Image photo = facekit::load_image(f);
            auto faces = detector.detect(photo);
            if (faces.empty()) continue;
            auto e = embedder->embed(embedder->align(photo, faces[0]));
            rows.insert(rows.end(), e.begin(), e.end());
            used.push_back(f);
        }

        // 2. All pairwise distances, then the graph clustering: photos closer than the threshold are linked.
        auto dist = facekit::eval::distance_matrix(rows.data(), used.size(), embedder->dim());
        auto label = facekit::eval::chinese_whispers(dist, used.size(), facekit::eval::default_thresholds("mobilefacenet").cluster);

        std::map<int, std::vector<std::string>> groups;
        for (std::size_t i = 0; i < used.size(); ++i) groups[label[i]].push_back(used[i]);
        for (auto& [id, members] : groups) {
            std::printf("person %d:\n", id);
            for (auto& m : members) std::printf("  %s\n", m.c_str());
        }
    } catch (const facekit::Error& err) {
        std::fprintf(stderr, "error: %s\n", err.what());
        return 1;
    }
}
