// libFuzzer target: the gallery file reader. Any input parses or throws FileError; a parsed gallery must
// be searchable and serialise back to the same bytes.
// Built a second time as fuzz_gallery_body with FACEKIT_FUZZ_GALLERY_BODY, which skips the checksum test
// (random bytes never pass it, so the fields behind it are out of reach here); that build requires the
// same bytes but for the checksum.
#include <facekit/identify/gallery_io.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::uint8_t> bytes(data, data + size);
    facekit::GalleryLimits limits;
    limits.max_rows = 100000;  // keep allocations small under the fuzzer
    try {
        facekit::Gallery g = facekit::parse_gallery(bytes, "fuzz", limits);
        (void)g.search(std::vector<float>(std::size_t(g.dim()), 1.0f), 3, 1.0f);
        const std::string again = facekit::serialize_gallery(g);
#ifdef FACEKIT_FUZZ_GALLERY_BODY
        const std::size_t compared = size - 8;
#else
        const std::size_t compared = size;
#endif
        if (again.size() != size || again.compare(0, compared, reinterpret_cast<const char*>(data), compared) != 0)
            __builtin_trap();
    } catch (const facekit::FileError&) {
    }
    return 0;
}
