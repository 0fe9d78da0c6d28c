// libFuzzer target: image decoding (JPEG, PNG, BMP) behind the size bound.
#include <facekit/io/image.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    facekit::ImageLimits limits;
    limits.max_pixels = 4'000'000;  // 4 MP: what the fuzzer may make us allocate
    try {
        facekit::Image img = facekit::decode_image(data, size, "fuzz", limits);
        if (img.pixels.size() != std::size_t(img.width) * img.height * 3) __builtin_trap();
    } catch (const facekit::FileError&) {
    }
    return 0;
}
