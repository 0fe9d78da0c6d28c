// Regenerates the bad-input corpus in this directory (the files are committed; this documents how they
// were made). Build: c++ -std=c++17 -I../../include -I/usr/include/stb make_corpus.cpp && ./a.out
#include "facekit/identify/gallery_io.hpp"
#include "facekit/io/image.hpp"

#include <fstream>
#include <vector>

static void write(const char* name, const std::string& bytes) { std::ofstream(name, std::ios::binary) << bytes; }
static std::string encode(int w, int h, int comp, bool jpeg) {
    std::vector<unsigned char> px(std::size_t(w) * h * comp);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * 37) % 251);
    std::string out;
    auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), std::size_t(size)); };
    if (jpeg) stbi_write_jpg_to_func(sink, &out, w, h, comp, px.data(), 90);
    else stbi_write_png_to_func(sink, &out, w, h, comp, px.data(), w * comp);
    return out;
}
static std::string u32be(std::uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

int main() {
    write("empty.jpg", "");
    write("not_an_image.jpg", "this is a text file, not a photo\n");
    const std::string jpg = encode(64, 64, 3, true), png = encode(64, 64, 3, false);
    write("truncated.jpg", jpg.substr(0, jpg.size() / 2));
    write("truncated.png", png.substr(0, png.size() / 2));
    // JPEGs that stb_image would mishandle (see detail::screen_jpeg): a Huffman table with 510+ codes; a
    // scan that names Huffman tables 2 (never defined); a component that names quantisation table 2.
    const std::size_t dht = jpg.find("\xFF\xC4"), sos = jpg.find("\xFF\xDA"), sof = jpg.find("\xFF\xC0");
    std::string oversized = jpg, no_huffman = jpg, no_quant = jpg;
    oversized[dht + 5] = oversized[dht + 6] = '\xFF';
    no_huffman[sos + 6] = '\x22';
    no_quant[sof + 12] = '\x02';
    write("oversized_huffman.jpg", oversized);
    // progressive.jpg (must load: tables defined between scans) is this 64×64 JPEG after
    // `jpegtran -progressive` (Debian: libjpeg-turbo-progs).
    write("undefined_huffman.jpg", no_huffman);
    write("undefined_quant.jpg", no_quant);
    write("one_pixel.png", encode(1, 1, 3, false));
    write("grey.png", encode(40, 30, 1, false));
    write("rgba.png", encode(40, 30, 4, false));
    // A PNG whose header claims 60000×60000 pixels (its data is a 1×1 image's).
    std::string huge = encode(1, 1, 3, false);
    huge.replace(16, 8, u32be(60000) + u32be(60000));
    std::uint32_t crc = 0xFFFFFFFFu;  // IHDR CRC over type + data, so only the size is wrong
    for (int i = 12; i < 29; ++i) {
        crc ^= static_cast<unsigned char>(huge[std::size_t(i)]);
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    huge.replace(29, 4, u32be(~crc));
    write("huge_header.png", huge);
    // Weights: a header that lies about a tensor's shape, and a header size of 2^40.
    std::string json = R"({"w":{"dtype":"F32","shape":[10],"data_offsets":[0,8]}})";
    std::string st(8, '\0');
    st[0] = char(json.size());
    write("lying_header.safetensors", st + json + std::string(8, '\0'));
    write("huge_header_size.safetensors", std::string("\0\0\0\0\0\x01\0\0", 8) + "{}");
    // Galleries: one damaged byte; a dimension that does not match its data (checksum recomputed).
    facekit::Gallery g("mobilefacenet", 4);
    g.enroll("alice", {1, 0, 0, 0});
    g.enroll("bob", {0, 1, 0, 0});
    std::string good = facekit::serialize_gallery(g);
    std::string damaged = good;
    damaged[damaged.size() - 12] ^= 0x01;
    write("bad_checksum.fkg", damaged);
    std::string dim = good.substr(0, good.size() - 8);
    dim[16] = 5;
    facekit::detail::put<std::uint64_t>(dim, facekit::detail::fnv1a(reinterpret_cast<const unsigned char*>(dim.data()), dim.size()));
    write("wrong_dimension.fkg", dim);
    return 0;
}
