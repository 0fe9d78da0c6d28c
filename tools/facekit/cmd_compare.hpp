// facekit compare: the distance between the faces of two photos, and the decision (see ../shared/CLI.md).
#pragma once
#include <iostream>

#include "pipeline.hpp"

namespace cli {

inline const Command kCompare = {
    "compare", "[OPTIONS] IMAGE_A IMAGE_B", "distance between the largest faces of two images",
    "Compares the largest face of two images: prints their squared distance (unit embeddings, 0 to 4) and\n"
    "whether it is within the threshold (\"same\").",
    options({{{"threshold", "T", "1.26 for mobilefacenet, 1.1 for facenet", "largest distance that counts as the same person"},
              {"flip", "", "", "add the mirrored crop's embedding (then normalise)"}},
             kModelOptions, kDetectorOptions, kImageOptions}),
    ""};

inline int cmd_compare(const std::vector<std::string>& argv) {
    Args a(argv, kCompare);
    if (a.positional().size() != 2) throw UsageError("compare needs exactly two images: IMAGE_A IMAGE_B");
    FacePipeline p(a, true);
    const double threshold = a.number("threshold", facekit::eval::default_thresholds(model_name(a)).verify, 0, 4);
    facekit::Embedding e[2];
    for (int i = 0; i < 2; ++i) {
        const std::string& path = a.positional()[std::size_t(i)];
        auto crops = p.crops(load(a, path), true);
        if (crops.empty()) throw facekit::FileError(path, "no face found");
        e[i] = p.embedder->embed(crops[0]);
    }
    const double d = facekit::squared_distance(e[0], e[1]);
    std::cout << "{\"distance\": " << num(d) << ", \"threshold\": " << num(threshold)
              << ", \"same\": " << (d <= threshold ? "true" : "false") << "}\n";
    return 0;
}

}  // namespace cli
