// facekit detect: faces, boxes and landmarks of each photo (see ../shared/CLI.md).
#pragma once
#include <iostream>

#include "pipeline.hpp"

namespace cli {

inline const Command kDetect = {
    "detect", "[OPTIONS] IMAGE...", "find faces: boxes, scores, landmarks",
    "Finds faces with MTCNN; prints each image's size and its faces' boxes, scores and five landmarks as JSON\n"
    "(pixel coordinates; largest box first).",
    options({{{"models", "DIR", kModelsDefault, "directory of converted weights"},
              {"threads", "N", "all cores", "worker threads"}},
             kDetectorOptions, kDrawOptions, kImageOptions}),
    kManyImagesNote};

inline int cmd_detect(const std::vector<std::string>& argv) {
    Args a(argv, kDetect);
    if (a.positional().empty()) throw UsageError("detect needs at least one IMAGE");
    auto pool = make_pool(a);
    facekit::Detector<> det(facekit::models::MtcnnNets<>::load(models_dir(a)), detector_options(a), pool.get());
    Drawings drawings(a);
    return print_entry_per_image(a, "detect", [&](const std::string& path) {
        Image img = load(a, path);
        auto faces = det.detect(img);
        std::string entry = "{\"image\": " + str(path) + ", \"width\": " + std::to_string(img.width) +
                            ", \"height\": " + std::to_string(img.height) + ", \"faces\": [";
        for (std::size_t k = 0; k < faces.size(); ++k) entry += (k ? ",\n    " : "\n    ") + face_json(faces[k]);
        if (drawings.enabled()) {
            for (const Detection& d : faces) facekit::draw_labelled_detection(img, d, num_fixed(d.score, 3), {0, 200, 0});
            drawings.save(img, path);
        }
        return entry + "]}";
    });
}

}  // namespace cli
