// facekit cluster: the faces of a folder of photos grouped by person (see ../shared/CLI.md).
#pragma once
#include <facekit/eval/cluster.hpp>
#include <facekit/eval/metrics.hpp>

#include <filesystem>

#include "pipeline.hpp"

namespace cli {

inline const Command kCluster = {
    "cluster", "[OPTIONS] IMAGE_OR_DIR...", "group faces by identity",
    "Groups faces by identity. Every face is clustered and named IMAGE#i (face i in detect's order); with\n"
    "--largest only the largest face of each image, named by the image. Prints {\"clusters\", \"noise\"}, and\n"
    "\"no_face\" for images without a face.",
    options({{{"algorithm", "A", "dbscan", "dbscan or chinese-whispers"},
              {"threshold", "T", "0.75 for mobilefacenet, 0.8 for facenet", "largest distance between neighbours"},
              {"min-samples", "N", "2", "DBSCAN: neighbours that make a core point"},
              {"largest", "", "", "only the largest face of each image"},
              {"evaluate", "", "", "score against the truth given by each image's folder (pairwise precision, recall, F1)"},
              {"flip", "", "", "add the mirrored crop's embedding (then normalise)"}},
             kModelOptions, kDetectorOptions, kImageOptions}),
    kManyImagesNote};

inline int cmd_cluster(const std::vector<std::string>& argv) {
    Args a(argv, kCluster);
    if (a.positional().empty()) throw UsageError("cluster needs images or directories");
    const std::string algorithm = a.choice("algorithm", {"dbscan", "chinese-whispers"});
    FacePipeline p(a, true);
    const double threshold = a.number("threshold", facekit::eval::default_thresholds(p.embedder->name()).cluster, 0, 4);
    const auto min_samples = std::size_t(a.integer("min-samples", 1, 1000000));
    const bool largest = a.flag("largest");
    const std::vector<std::string> files = expand_images(a.positional());
    std::vector<std::string> labels_of_faces, no_face;  // "IMAGE#i" (IMAGE with --largest)
    std::vector<std::string> folder_of_face;            // for --evaluate
    std::vector<float> matrix;
    std::string errors;
    Failures failures;
    Progress progress("cluster", files.size(), &failures);
    for (const std::string& f : files) {
        try {
            auto crops = p.crops(load(a, f), largest);
            if (crops.empty()) no_face.push_back(f);
            auto e = p.embedder->embed(crops);
            for (std::size_t i = 0; i < e.size(); ++i) {
                labels_of_faces.push_back(largest ? f : f + "#" + std::to_string(i));
                folder_of_face.push_back(std::filesystem::path(f).parent_path().string());
                matrix.insert(matrix.end(), e[i].begin(), e[i].end());
            }
        } catch (const std::exception& e) {
            errors += (errors.empty() ? "" : ", ") + error_entry(f, failures.report(f, e));
        }
        progress.tick();
    }
    const std::size_t n = labels_of_faces.size();
    auto dist = facekit::eval::distance_matrix(matrix.data(), n, p.embedder->dim());
    auto labels = algorithm == "dbscan" ? facekit::eval::dbscan(dist, n, threshold, min_samples)
                                        : facekit::eval::chinese_whispers(dist, n, threshold);
    std::map<int, std::vector<std::string>> clusters;
    std::vector<std::string> noise;
    for (std::size_t i = 0; i < n; ++i) (labels[i] < 0 ? noise : clusters[labels[i]]).push_back(labels_of_faces[i]);
    auto list = [](const std::vector<std::string>& v) {
        std::string s = "[";
        for (std::size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + str(v[k]);
        return s + "]";
    };
    std::string out = "{\"clusters\": [";
    bool first = true;
    for (auto& [id, members] : clusters) out += (first ? "" : ", ") + list(members), first = false;
    out += "], \"noise\": " + list(noise) + ", \"no_face\": " + list(no_face);
    if (!errors.empty()) out += ", \"errors\": [" + errors + "]";
    if (a.flag("evaluate")) {  // truth: the folder of each image
        std::map<std::string, int> ids;
        std::vector<int> truth;
        for (const std::string& dir : folder_of_face) truth.push_back(ids.emplace(dir, int(ids.size())).first->second);
        auto sc = facekit::eval::pairwise_scores(labels, truth);
        out += ", \"identities\": " + std::to_string(ids.size()) + ", \"faces\": " + std::to_string(n) +
               ", \"precision\": " + num(sc.precision) + ", \"recall\": " + num(sc.recall) + ", \"f1\": " + num(sc.f1);
    }
    std::cout << out << "}\n";
    return failures.exit_status();
}

}  // namespace cli
