// Image decoding: JPEGs give exactly the pixels PIL gets from libjpeg-turbo, which is what the reference
// implementation saw. The 37 reference photos' original JPEGs against the PNGs PIL made of them, and
// fixtures of every sampling layout against libjpeg-turbo's own djpeg (tests/data/jpeg/make_fixtures.sh).
#include <cstdio>
#include <set>
#include <sstream>

#include "facekit/io/image.hpp"
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

namespace {
std::uint64_t fnv1a64(const std::vector<std::uint8_t>& bytes) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ull;
    return h;
}
std::string from_hex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += char(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}
}  // namespace

TEST_CASE("EXIF orientation: the eight values give Pillow's exif_transpose of a real photo") {
    // tests/data/exif/expected.tsv (made with Pillow by make_fixtures.py): the APP1 segment to insert after
    // the photo's start-of-image marker, and the size and FNV-1a of the upright RGB pixels Pillow gives.
    const std::string photo = read_text(shared("data/images/dlib/Tom_Cruise_avp_2014_4.jpg"));
    std::istringstream table(read_text(std::string(FACEKIT_TEST_DATA_DIR) + "/exif/expected.tsv"));
    const auto as_bytes = [](const std::string& s) { return reinterpret_cast<const std::uint8_t*>(s.data()); };
    const Image stored = decode_image(as_bytes(photo), photo.size(), "photo");
    int cases = 0;
    std::set<int> orientations;
    for (std::string line; std::getline(table, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream row(line);
        int orientation = 0, width = 0, height = 0;
        std::string order, segment, hash;
        row >> orientation >> order >> segment >> width >> height >> hash;
        CAPTURE(orientation);
        CAPTURE(order);
        const std::string file = photo.substr(0, 2) + from_hex(segment) + photo.substr(2);
        CHECK(detail::jpeg_exif_orientation(as_bytes(file), file.size()) == orientation);
        const Image up = decode_image(as_bytes(file), file.size(), "photo");
        CHECK(up.width == width);
        CHECK(up.height == height);
        char got[17];
        std::snprintf(got, sizeof got, "%016llx", static_cast<unsigned long long>(fnv1a64(up.pixels)));
        CHECK(std::string(got) == hash);
        // Exif::Ignore keeps the stored pixels
        const Image kept = decode_image(as_bytes(file), file.size(), "photo", {}, Exif::Ignore);
        CHECK(kept.pixels == stored.pixels);
        orientations.insert(orientation);
        ++cases;
    }
    CHECK(cases == 11);
    CHECK(orientations.size() == 8);
}

TEST_CASE("EXIF orientation: malformed or missing EXIF blocks mean upright") {
    auto orientation_of = [](const std::string& bytes) {
        return detail::jpeg_exif_orientation(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    };
    const std::string soi = "\xFF\xD8";
    const std::string good = from_hex("ffe100224578696600004d4d002a00000008000101120003000000010006000000000000");
    CHECK(orientation_of(soi + good + "\xFF\xD9") == 6);
    CHECK(orientation_of("") == 1);
    CHECK(orientation_of("\x89PNG\r\n\x1a\n") == 1);
    CHECK(orientation_of(soi + good.substr(0, 20)) == 1);               // cut inside the segment
    std::string bad_ifd = good;
    bad_ifd[17] = '\x7f';                                                // IFD0 offset far past the end
    CHECK(orientation_of(soi + bad_ifd) == 1);
    std::string bad_value = good;
    bad_value[29] = '\x09';                                              // orientation 9: not a value
    CHECK(orientation_of(soi + bad_value) == 1);
    std::string after_sos = soi + std::string("\xFF\xDA\x00\x02", 4) + good;  // EXIF after the image data: ignored
    CHECK(orientation_of(after_sos) == 1);
    std::string huge_count = good;
    huge_count[18] = huge_count[19] = '\xff';                          // 65535 entries claimed, one present
    CHECK(orientation_of(soi + huge_count) == 6);                        // found before the count runs out
}
