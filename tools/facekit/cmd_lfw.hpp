// facekit lfw: the whole pipeline on LFW (detect → align → embed → the 10-fold protocol).
#pragma once
#include <facekit/eval/lfw.hpp>
#include <facekit/eval/metrics.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "pipeline.hpp"

namespace cli {

/// The face LFW evaluation uses: nearest the image centre, weighted by size (as facenet's
/// align_dataset_mtcnn: area − 2 · squared offset of the box centre).
inline const Detection* central_face(const std::vector<Detection>& faces, const Image& img) {
    const Detection* best = nullptr;
    double best_score = 0;
    for (const Detection& d : faces) {
        const double ox = (d.box[0] + d.box[2]) / 2 - img.width / 2.0, oy = (d.box[1] + d.box[3]) / 2 - img.height / 2.0;
        const double score = double(d.area()) - 2.0 * (ox * ox + oy * oy);
        if (!best || score > best_score) best = &d, best_score = score;
    }
    return best;
}

/// Without a detection: the central 80 % of the image as the box, landmarks from the ArcFace template.
inline Detection centred_face(const Image& img) {
    Detection d;
    const float s = 0.8f * float(std::min(img.width, img.height));
    const float x0 = (img.width - s) / 2, y0 = (img.height - s) / 2;
    d.box = {x0, y0, x0 + s, y0 + s};
    for (int k = 0; k < 5; ++k)
        d.landmarks[std::size_t(k)] = {x0 + facekit::kArcFaceTemplate112[std::size_t(k)].x / 112.0f * s,
                                       y0 + facekit::kArcFaceTemplate112[std::size_t(k)].y / 112.0f * s};
    return d;
}

inline const Command kLfw = {
    "lfw", "--pairs PAIRS.txt --images DIR [OPTIONS]", "the LFW 10-fold verification protocol",
    "The LFW verification protocol on the whole pipeline (detect, align, embed): prints accuracy, VAL@FAR,\n"
    "AUC, EER and the thresholds found, over the folds of PAIRS.txt.",
    options({{{"pairs", "FILE", "", "the pairs list (pairs.txt)"},
              {"images", "DIR", "", "the LFW images, DIR/<Name>/<Name>_NNNN.jpg"},
              {"folds", "N", "the pairs file's", "number of folds"},
              {"flip", "", "", "add the mirrored crop's embedding (then normalise)"}},
             kModelOptions}),
    ""};

inline int cmd_lfw(const std::vector<std::string>& argv) {
    Args a(argv, kLfw);
    if (!a.has("pairs") || !a.has("images")) throw UsageError("lfw needs --pairs PAIRS.txt and --images DIR");
    if (!a.positional().empty()) throw UsageError("lfw takes no positional arguments");
    const auto t0 = std::chrono::steady_clock::now();
    facekit::eval::LfwPairs pairs = facekit::eval::load_lfw_pairs(a.get("pairs"));
    const int folds = int(a.integer("folds", pairs.folds, 2, 1000));
    if (folds < 2)  // before embedding thousands of images
        throw facekit::FileError(a.get("pairs"), "has " + std::to_string(folds) + " fold; the protocol needs at least 2 (or --folds N)");
    // the distinct images, each embedded once
    std::map<std::string, std::size_t> index;
    std::vector<std::string> paths;
    auto path_of = [&](const std::string& name, int i) {
        std::string p = facekit::eval::lfw_image_path(a.get("images"), name, i);
        if (index.emplace(p, paths.size()).second) paths.push_back(p);
        return index[p];
    };
    std::vector<std::pair<std::size_t, std::size_t>> pair_rows;
    for (auto& p : pairs.pairs) pair_rows.emplace_back(path_of(p.name1, p.index1), path_of(p.name2, p.index2));
    for (auto& p : paths) {
        struct stat sb {};
        if (::stat(p.c_str(), &sb) != 0) throw facekit::FileError(p, "missing (named by " + a.get("pairs") + ")");
    }
    // workers: each a single-threaded detector and embedder over a share of the images
    const int threads = int(a.integer("threads", int(std::max(1u, std::thread::hardware_concurrency())), 1, 256));
    const std::string dir = models_dir(a);
    auto nets = facekit::models::MtcnnNets<>::load(dir);
    auto proto = facekit::load_embedder(model_name(a), dir, nullptr, a.get("weights"),
                                        a.flag("allow-synthetic") ? facekit::SyntheticWeights::Allow : facekit::SyntheticWeights::Refuse);
    proto->set_options({a.flag("flip"), 16});
    const int dim = proto->dim();
    std::vector<float> emb(paths.size() * std::size_t(dim));
    std::atomic<std::size_t> next{0}, no_face{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    Progress progress("lfw", paths.size());
    auto work = [&] {
        try {
            facekit::Detector<> det(nets);
            auto embedder = proto->clone();
            constexpr std::size_t kBatch = 16;
            for (;;) {
                const std::size_t b0 = next.fetch_add(kBatch);
                if (b0 >= paths.size()) break;
                const std::size_t b1 = std::min(paths.size(), b0 + kBatch);
                std::vector<Image> crops;
                for (std::size_t i = b0; i < b1; ++i) {
                    Image img = facekit::load_image(paths[i]);
                    auto faces = det.detect(img);
                    const Detection* f = central_face(faces, img);
                    crops.push_back(embedder->align(img, f ? *f : centred_face(img)));
                    if (!f) ++no_face;
                    progress.tick();
                }
                auto e = embedder->embed(crops);
                for (std::size_t i = b0; i < b1; ++i) std::copy(e[i - b0].begin(), e[i - b0].end(), &emb[i * std::size_t(dim)]);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            next = paths.size();
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);

    std::vector<float> e1, e2;
    std::vector<std::uint8_t> same;
    for (std::size_t i = 0; i < pair_rows.size(); ++i) {
        e1.insert(e1.end(), &emb[pair_rows[i].first * dim], &emb[pair_rows[i].first * dim] + dim);
        e2.insert(e2.end(), &emb[pair_rows[i].second * dim], &emb[pair_rows[i].second * dim] + dim);
        same.push_back(pairs.pairs[i].same);
    }
    facekit::eval::VerificationOptions opt;
    opt.folds = folds;
    auto r = facekit::eval::evaluate_verification(e1.data(), e2.data(), same.size(), dim, same, opt);
    // The best threshold over all pairs (the accuracy grid), and the one at FAR = 1e-3 over all pairs.
    std::vector<std::size_t> all(same.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    std::vector<double> dist(same.size());
    for (std::size_t i = 0; i < dist.size(); ++i) dist[i] = facekit::eval::squared_euclidean(&e1[i * dim], &e2[i * dim], dim);
    double best_t = 0, best_acc = -1;
    for (double t : r.thresholds) {
        const double acc = facekit::eval::detail::rates(dist, same, t, all).acc;
        if (acc > best_acc) best_acc = acc, best_t = t;
    }
    const double far_t = facekit::eval::detail::threshold_at_far(dist, same, all, facekit::eval::detail::grid(0.001, 4000), 1e-3);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "{\"pairs\": " << same.size() << ", \"images\": " << paths.size() << ", \"no_face\": " << no_face.load()
              << ", \"model\": " << str(proto->name()) << ", \"flip\": " << (a.flag("flip") ? "true" : "false")
              << ", \"accuracy\": " << num(r.accuracy) << ", \"accuracy_std\": " << num(r.accuracy_std)
              << ", \"val\": " << num(r.val) << ", \"val_std\": " << num(r.val_std) << ", \"far\": " << num(r.far)
              << ", \"auc\": " << num(r.auc) << ", \"eer\": " << num(r.eer) << ", \"threshold\": " << num(best_t)
              << ", \"threshold_far_1e-3\": " << num(far_t) << ", \"wall_s\": " << num(wall) << "}\n";
    return 0;
}

}  // namespace cli
