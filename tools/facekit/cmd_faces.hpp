// facekit detect | embed | compare (see ../shared/CLI.md).
#pragma once
#include <facekit/engine/safetensors_writer.hpp>
#include <facekit/eval/thresholds.hpp>
#include <facekit/detect/detector.hpp>
#include <facekit/embed/embedder.hpp>

#include <iostream>

#include "common.hpp"

namespace cli {

using facekit::Detection;
using facekit::Image;

inline facekit::DetectorOptions detector_options(const Args& a) {
    facekit::DetectorOptions o;
    o.min_face = int(a.integer("min-face", 1, 100000));
    if (a.has("thresholds")) {
        std::string t = a.get("thresholds");
        std::size_t start = 0;
        for (int i = 0; i < 3; ++i) {
            const std::size_t comma = t.find(',', start);
            if ((i < 2) != (comma != std::string::npos)) throw UsageError("--thresholds needs three numbers: P,R,O");
            o.thresholds[std::size_t(i)] = float(Args::parse_number("--thresholds", t.substr(start, comma - start), 0, 1));
            start = comma + 1;
        }
    }
    o.factor = a.number("factor", 1e-3, 0.999);
    o.max_pyramid_pixels = a.integer("max-pyramid-pixels", 1, std::numeric_limits<long>::max());
    return o;
}

/// Detector + embedder for commands that go from photos to embeddings.
struct FacePipeline {
    std::unique_ptr<facekit::ThreadPool> pool;
    std::unique_ptr<facekit::Detector<>> detector;
    std::unique_ptr<facekit::Embedder> embedder;

    /// The embedder `model` (commands working on a gallery take the gallery's), with its detector unless
    /// the inputs are aligned crops already.
    FacePipeline(const Args& a, const std::string& model, bool need_detector) : pool(make_pool(a)) {
        const std::string dir = models_dir(a);
        if (need_detector)
            detector = std::make_unique<facekit::Detector<>>(facekit::models::MtcnnNets<>::load(dir), detector_options(a), pool.get());
        embedder = facekit::load_embedder(model, dir, pool.get(), a.get("weights"),
                                          a.flag("allow-synthetic") ? facekit::SyntheticWeights::Allow
                                                                    : facekit::SyntheticWeights::Refuse);
        embedder->set_options({a.declares("flip") && a.flag("flip"), 8});
    }
    FacePipeline(const Args& a, bool need_detector) : FacePipeline(a, model_name(a), need_detector) {}

    /// Every face in `photo` (or only the largest), in detect's order, with its aligned crop.
    std::vector<Image> crops(const Image& photo, bool largest, std::vector<Detection>* faces = nullptr) {
        std::vector<Detection> found = detector->detect(photo);
        if (largest && found.size() > 1) found.resize(1);
        std::vector<Image> out;
        for (const Detection& d : found) out.push_back(embedder->align(photo, d));
        if (faces) *faces = found;
        return out;
    }
};

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

inline const Command kEmbed = {
    "embed", "[OPTIONS] IMAGE...", "embeddings of every face (JSON lines or safetensors)",
    "Prints the L2-normalised embedding of every face (JSON lines {\"image\", \"face\", \"embedding\"}), or\n"
    "writes them into a safetensors file (--out: \"embeddings\" N×D and __metadata__ \"rows\" [image, face]).",
    options({{{"aligned", "", "", "the images are aligned crops of the model's input size: no detection"},
              {"largest", "", "", "only the largest face of each image"},
              {"flip", "", "", "add the mirrored crop's embedding (then normalise)"},
              {"out", "FILE", "", "write a safetensors file instead of JSON lines"}},
             kModelOptions, kDetectorOptions, kImageOptions}),
    kManyImagesNote};

inline int cmd_embed(const std::vector<std::string>& argv) {
    Args a(argv, kEmbed);
    if (a.positional().empty()) throw UsageError("embed needs at least one IMAGE");
    FacePipeline p(a, !a.flag("aligned"));
    const int dim = p.embedder->dim(), size = p.embedder->input_size();
    const auto files = expand_images(a.positional());
    Failures failures;
    Progress progress("embed", files.size(), &failures);
    std::vector<std::pair<std::string, int>> rows;
    std::vector<float> matrix;
    // Aligned crops are embedded in batches of kBatch across images (the engine is faster per face on a
    // batch); detected faces, image by image.
    constexpr std::size_t kBatch = 8;
    std::vector<Image> pending;
    std::vector<std::pair<std::string, int>> pending_rows;
    auto flush = [&] {
        if (pending.empty()) return;
        auto embeddings = p.embedder->embed(pending);
        for (std::size_t f = 0; f < embeddings.size(); ++f) {
            rows.push_back(pending_rows[f]);
            matrix.insert(matrix.end(), embeddings[f].begin(), embeddings[f].end());
            if (a.has("out")) continue;
            std::string line = "{\"image\": " + str(pending_rows[f].first) + ", \"face\": " +
                               std::to_string(pending_rows[f].second) + ", \"embedding\": [";
            for (int d = 0; d < dim; ++d) line += (d ? "," : "") + num(embeddings[f][std::size_t(d)]);
            std::cout << line << "]}\n";
        }
        pending.clear();
        pending_rows.clear();
    };
    for (const std::string& path : files) {
        try {
            Image img = load(a, path);
            if (a.flag("aligned")) {
                if (img.width != size || img.height != size)
                    throw facekit::FileError(path, "is " + std::to_string(img.width) + "×" + std::to_string(img.height) +
                                                       ", not an aligned " + std::to_string(size) + "² crop");
                pending.push_back(std::move(img));
                pending_rows.emplace_back(path, 0);
                if (pending.size() == kBatch) flush();
            } else {
                std::vector<Image> crops = p.crops(img, a.flag("largest"));
                for (std::size_t f = 0; f < crops.size(); ++f) pending_rows.emplace_back(path, int(f));
                pending = std::move(crops);
                flush();
            }
        } catch (const std::exception& e) {
            const std::string message = failures.report(path, e);
            if (!a.has("out")) std::cout << error_entry(path, message) << "\n";
        }
        progress.tick();
    }
    flush();
    if (a.has("out")) {
        std::string rows_json = "[";
        for (std::size_t i = 0; i < rows.size(); ++i)
            rows_json += (i ? "," : "") + std::string("[") + str(rows[i].first) + "," + std::to_string(rows[i].second) + "]";
        rows_json += "]";
        facekit::write_safetensors(a.get("out"), {{"embeddings", {std::int64_t(rows.size()), dim}, matrix.data()}},
                                   {{"model", p.embedder->name()}, {"rows", rows_json}});
    }
    return failures.exit_status();
}

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
