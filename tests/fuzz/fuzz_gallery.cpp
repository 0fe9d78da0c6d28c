// libFuzzer target: the gallery file reader. Any input parses or throws FileError; a parsed gallery
// must be searchable and serialise back to the same bytes.
#include <facekit/gallery/gallery_io.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::uint8_t> bytes(data, data + size);
    facekit::GalleryLimits limits;
    limits.max_rows = 100000;  // keep allocations small under the fuzzer
    try {
        facekit::Gallery g = facekit::parse_gallery(bytes, "fuzz", limits);
        if (g.size()) (void)g.search(std::vector<float>(std::size_t(g.dim()), 1.0f), 3, 1.0f);
        if (facekit::serialize_gallery(g) != std::string(bytes.begin(), bytes.end())) __builtin_trap();
    } catch (const facekit::FileError&) {
    }
    return 0;
}
