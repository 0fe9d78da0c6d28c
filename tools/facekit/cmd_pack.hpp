// facekit pack: writes the networks of a models directory as packed weights files, already in the layout
// this build's kernels read, to be used where they lie (include/facekit/engine/prepacked.hpp).
#pragma once
#include <facekit/detect/mtcnn.hpp>
#include <facekit/embed/mobilefacenet.hpp>
#include <facekit/engine/prepacked_writer.hpp>
#include <facekit/version.hpp>

#include <filesystem>
#include <iostream>

#include "common.hpp"

namespace cli {

inline const Command kPack = {
    "pack", "[OPTIONS] --out DIR", "write the networks' weights already packed, to be read in place",
    "Loads pnet, rnet, onet and mobilefacenet from the models directory and writes each as a packed weights\n"
    "file into DIR under the same name: the arrays this build's kernels read (panels, Winograd transforms),\n"
    "so that loading it packs nothing and reads the weights where they lie (a mapped file, or flash when\n"
    "compiled in with --embed-header). The layout depends on the vector width only (\"xsimd-f32-w4-v1\": SSE2\n"
    "and NEON builds read the same files); a build of another width refuses the file. A packed directory\n"
    "serves as --models for detection and mobilefacenet; facenet always loads float weights.",
    options({{{"models", "DIR", kModelsDefault, "directory of converted float weights"},
              {"out", "DIR", "", "directory to write the packed files into (created if missing)"},
              {"embed-header", "", "", "also write each file as a C++ header NAME.hpp (array facekit_packed_NAME)"}}}),
    ""};

inline int cmd_pack(const std::vector<std::string>& argv) {
    Args a(argv, kPack);
    if (!a.positional().empty()) throw UsageError("pack takes no positional arguments");
    if (!a.has("out")) throw UsageError("pack needs --out DIR");
    using B = facekit::nn::DefaultBackend;
    const std::string from = models_dir(a), out = a.get("out");
    std::filesystem::create_directories(out);
    const std::string by = "facekit " FACEKIT_VERSION_STRING " (" + std::string(B::isa()) + ")";
    std::cout << "{\"layout\": " << str(facekit::nn::packed_layout<B>()) << ", \"files\": [";
    const char* names[] = {"pnet", "rnet", "onet", "mobilefacenet"};
    for (std::size_t i = 0; i < 4; ++i) {
        const std::string name = names[i], path = from + "/" + name + ".safetensors";
        const facekit::SafeTensors st = facekit::SafeTensors::open(path);
        std::string bytes;
        namespace m = facekit::models;
        auto pack = [&](auto&& net) { bytes = m::packed_weights_file<B>(net, st, by); };
        if (name == "pnet") pack(m::PNet<B>(st));
        if (name == "rnet") pack(m::RNet<B>(st));
        if (name == "onet") pack(m::ONet<B>(st));
        if (name == "mobilefacenet") pack(m::MobileFaceNet<B>(st));
        const std::string target = out + "/" + name + ".safetensors";
        facekit::detail::write_file_atomic(target, bytes);
        std::cout << (i ? ", " : "") << "{\"file\": " << str(target) << ", \"bytes\": " << bytes.size();
        if (a.flag("embed-header")) {
            const std::string header = out + "/" + name + ".hpp";
            facekit::detail::write_file_atomic(header, facekit::models::embed_header(bytes, "facekit_packed_" + name, name + ".safetensors"));
            std::cout << ", \"header\": " << str(header);
        }
        std::cout << "}";
    }
    std::cout << "]}\n";
    return 0;
}

}  // namespace cli
