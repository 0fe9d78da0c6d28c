// facekit embed: one embedding per face, as JSON lines or a safetensors file (see ../shared/CLI.md).
#pragma once
#include <iostream>

#include "pipeline.hpp"

namespace cli {

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

}  // namespace cli
