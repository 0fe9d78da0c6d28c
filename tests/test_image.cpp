// Image decoding: JPEGs give exactly the pixels PIL gets from libjpeg-turbo, which is what the reference
// implementation saw. The 37 reference photos' original JPEGs against the PNGs PIL made of them, and
// fixtures of every sampling layout against libjpeg-turbo's own djpeg (tests/data/jpeg/make_fixtures.sh).
#include <cstdio>

#include "facekit/pipeline/image.hpp"
#include "reference.hpp"

using namespace facekit;
using namespace facekit::test;

namespace {
/// Reads a binary PPM (P6) or PGM (P5, grey replicated into RGB), as djpeg writes them.
Image read_pnm(const std::string& path) {
    const std::string bytes = read_text(path);
    char magic[3] = {};
    int w = 0, h = 0, maxval = 0, header = 0;
    REQUIRE(std::sscanf(bytes.c_str(), "%2s %d %d %d%n", magic, &w, &h, &maxval, &header) == 4);
    const int channels = std::string(magic) == "P6" ? 3 : 1;
    REQUIRE((std::string(magic) == "P6" || std::string(magic) == "P5"));
    REQUIRE(maxval == 255);
    const std::size_t start = std::size_t(header) + 1;  // one whitespace byte after maxval
    REQUIRE(bytes.size() == start + std::size_t(w) * h * channels);
    Image img(w, h);
    for (std::size_t i = 0; i < std::size_t(w) * h; ++i)
        for (int c = 0; c < 3; ++c) img.pixels[3 * i + c] = std::uint8_t(bytes[start + i * channels + (channels == 3 ? c : 0)]);
    return img;
}
/// Number of samples that differ, and the largest difference.
std::pair<std::size_t, int> compare(const Image& a, const Image& b) {
    REQUIRE(a.width == b.width);
    REQUIRE(a.height == b.height);
    std::size_t differ = 0;
    int largest = 0;
    for (std::size_t i = 0; i < a.pixels.size(); ++i) {
        const int d = std::abs(int(a.pixels[i]) - int(b.pixels[i]));
        differ += d != 0, largest = std::max(largest, d);
    }
    return {differ, largest};
}
}  // namespace

TEST_CASE("the reference photos' original JPEGs decode to PIL's pixels, bit for bit") {
    Json ref = load_json(shared("reference/mtcnn/detections.json"));
    int images = 0;
    for (auto& [name, entry] : ref.object()) {
        if (name == "_settings") continue;
        const std::string jpeg = original_jpeg(ref, name);
        CAPTURE(jpeg);
        auto [differ, largest] = compare(load_image(jpeg), load_image(shared("data/images/png/" + name + ".png")));
        CHECK(differ == 0);
        CHECK(largest == 0);
        ++images;
    }
    CHECK(images == 37);  // baseline and progressive, 4:2:0 and 4:4:4, 150×150 to 2048×1991
}

TEST_CASE("every JPEG sampling layout decodes as libjpeg-turbo's djpeg does") {
    // 45×31 (odd sizes, partial blocks and MCUs) except `narrow` (3×9: chroma 2 samples wide, replicated).
    for (const char* name : {"h1v1", "h2v1", "h1v2", "h2v2_progressive_restart", "h4v1", "h4v2", "grey", "rgb",
                             "narrow_h2v2"}) {
        const std::string base = std::string(FACEKIT_TEST_DATA_DIR) + "/jpeg/" + name;
        CAPTURE(base);
        const Image want = read_pnm(base + ".pnm");
        const Image got = load_image(require_file(base + ".jpg"));
        auto [differ, largest] = compare(got, want);
        CHECK(differ == 0);
        CHECK(largest == 0);
    }
}

TEST_CASE("the IDCT's range limit wraps at 10 bits as libjpeg's table does, then clamps") {
    using detail::jpeg::idct_range_limit;
    CHECK(idct_range_limit(-128) == 0);
    CHECK(idct_range_limit(-129) == 0);
    CHECK(idct_range_limit(0) == 128);
    CHECK(idct_range_limit(127) == 255);
    CHECK(idct_range_limit(511) == 255);
    CHECK(idct_range_limit(512) == 0);      // wraps to -512
    CHECK(idct_range_limit(1000) == 104);   // wraps to -24
    CHECK(idct_range_limit(-600) == 255);   // wraps to 424
    CHECK(idct_range_limit(-1024) == 128);  // wraps to 0
}
