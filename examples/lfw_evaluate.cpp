// Evaluate face verification on LFW: embed both photos of every pair, then the 10-fold protocol.
//   lfw_evaluate PAIRS.txt IMAGES_DIR
#include <facekit/eval/lfw.hpp>
#include <facekit/eval/metrics.hpp>
#include <facekit/detect/detector.hpp>
#include <facekit/embed/embedder.hpp>

#include <cstdio>
#include <map>

#include "example_common.hpp"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s PAIRS.txt IMAGES_DIR\n", argv[0]);
        return 2;
    }
    try {
        facekit::ThreadPool pool(2);
        facekit::Detector<> detector(facekit::models::MtcnnNets<>::load(models_dir()), {}, &pool);
        auto embedder = facekit::load_embedder("mobilefacenet", models_dir(), &pool);
        facekit::eval::LfwPairs pairs = facekit::eval::load_lfw_pairs(argv[1]);

        // Each image is embedded once, even when several pairs use it.
        std::map<std::string, facekit::Embedding> cache;
        auto embedding = [&](const std::string& name, int index) -> const facekit::Embedding& {
            const std::string path = facekit::eval::lfw_image_path(argv[2], name, index);
            auto it = cache.find(path);
            if (it != cache.end()) return it->second;
            facekit::Image photo = facekit::load_image(path);
            auto faces = detector.detect(photo);
            if (faces.empty()) throw facekit::FileError(path, "no face found");
            return cache[path] = embedder->embed(embedder->align(photo, faces[0]));
        };

        std::vector<float> a, b;
        std::vector<std::uint8_t> same;
        for (const auto& p : pairs.pairs) {
            const auto& e1 = embedding(p.name1, p.index1);
            const auto& e2 = embedding(p.name2, p.index2);
            a.insert(a.end(), e1.begin(), e1.end());
            b.insert(b.end(), e2.begin(), e2.end());
            same.push_back(p.same);
        }
        // The threshold is chosen on 9 folds and tested on the 10th, ten times.
        auto r = facekit::eval::evaluate_verification(a.data(), b.data(), same.size(), embedder->dim(), same);
        std::printf("accuracy %.2f%% ± %.2f, VAL@FAR=1e-3 %.2f%%, AUC %.5f, EER %.2f%%\n", 100 * r.accuracy,
                    100 * r.accuracy_std, 100 * r.val, r.auc, 100 * r.eer);
    } catch (const facekit::Error& err) {
        std::fprintf(stderr, "error: %s\n", err.what());
        return 1;
    }
}
