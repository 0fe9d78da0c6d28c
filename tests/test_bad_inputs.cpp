// The bad-input corpus (tests/bad_inputs/expected.tsv): every file gives its expected error through the
// API and through the CLI (exit status 1, one line on stderr), never a crash or a signal.
#include <filesystem>
#include <limits>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "facekit/identify/gallery_io.hpp"
#include "facekit/embed/mobilefacenet.hpp"
#include "facekit/io/image.hpp"
#include "reference.hpp"

using namespace facekit;

namespace {
const std::string kDir = FACEKIT_BAD_INPUTS_DIR;

struct Case {
    std::string file, kind, expected;
};
std::vector<Case> manifest() {
    std::vector<Case> cases;
    std::istringstream in(test::read_text(kDir + "/expected.tsv"));
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        Case c;
        std::istringstream ls(line);
        std::getline(ls, c.file, '\t'), std::getline(ls, c.kind, '\t'), std::getline(ls, c.expected);
        cases.push_back(c);
    }
    return cases;
}
/// Runs the CLI; returns (exit status or -signal, stderr).
std::pair<int, std::string> run_cli(const std::string& args) {
    const std::string err = test::temp_path("stderr.txt");
    const int status = std::system((std::string(FACEKIT_CLI) + " " + args + " >/dev/null 2>" + err).c_str());
    std::string text = test::read_text(err);
    std::remove(err.c_str());
    if (WIFSIGNALED(status)) return {-WTERMSIG(status), text};
    return {WEXITSTATUS(status), text};
}
}  // namespace

TEST_CASE("every file of the bad-input corpus gives its expected outcome, by API and CLI") {
    auto cases = manifest();
    REQUIRE(cases.size() == 16);
    for (const Case& c : cases) {
        CAPTURE(c.file);
        const std::string path = kDir + "/" + c.file;
        std::string api;
        try {
            if (c.kind == "image") {
                Image img = load_image(path);
                api = "ok " + std::to_string(img.width) + "x" + std::to_string(img.height);
                CHECK(img.pixels.size() == std::size_t(img.width) * img.height * 3);
            } else if (c.kind == "weights") {
                SafeTensors::open(path);
                api = "ok";
            } else {
                load_gallery(path);
                api = "ok";
            }
        } catch (const FileError& e) {
            CHECK(e.file() == path);
            api = std::string(e.what()).substr(path.size() + 2);
        }
        CHECK(api == c.expected);

        const std::string cli_args = c.kind == "image"     ? "detect " + path
                                     : c.kind == "weights" ? "embed --aligned --weights " + path + " " + kDir + "/one_pixel.png"
                                                           : "gallery list --gallery " + path;
        auto [status, err] = run_cli(cli_args);
        if (c.expected.rfind("ok", 0) == 0) {
            CHECK(status == 0);
            CHECK(err.empty());
        } else {
            // images are a batch's inputs: a warning, the others would go on, exit status 1 at the end
            CHECK(status == 1);
            CHECK(err == std::string(c.kind == "image" ? "facekit: warning: " : "facekit: error: ") + path + ": " + c.expected + "\n");
        }
    }
}

TEST_CASE("usage errors exit with status 2 and one line") {
    auto [status, err] = run_cli("detect --no-such-option x.jpg");
    CHECK(status == 2);
    CHECK(err == "facekit: usage error: unknown option --no-such-option for detect (see facekit detect --help)\n");
    auto [s2, e2] = run_cli("frobnicate");
    CHECK(s2 == 2);
    CHECK(std::count(e2.begin(), e2.end(), '\n') == 1);
    auto [s3, e3] = run_cli("detect --min-face 0 x.jpg");
    CHECK(s3 == 2);
}

// ---- files from strangers: crafted weights, galleries and paths (issue: files from strangers) ------------
namespace {
/// The MobileFaceNet weights with `from` replaced by `to` in the raw header (where the graph is an escaped
/// JSON string inside the JSON header), the header length updated: a crafted graph around real tensors.
std::string crafted_mobilefacenet(const std::vector<std::pair<std::string, std::string>>& edits) {
    const std::string file = test::read_text(test::model("mobilefacenet.safetensors"));
    std::uint64_t n = 0;
    std::memcpy(&n, file.data(), 8);
    std::string header = file.substr(8, std::size_t(n));
    for (const auto& edit : edits) {
        const std::string& from = edit.first;  // not a binding: REQUIRE_MESSAGE takes it by reference
        const auto at = header.find(from);
        REQUIRE_MESSAGE(at != std::string::npos, from);
        header.replace(at, from.size(), edit.second);
    }
    std::string out(8, '\0');
    const std::uint64_t m = header.size();
    std::memcpy(&out[0], &m, 8);
    return out + header + file.substr(8 + std::size_t(n));
}
std::string crafted_mobilefacenet(const std::string& from, const std::string& to) { return crafted_mobilefacenet({{from, to}}); }
std::string mobilefacenet_error(const std::string& bytes) {
    try {
        auto st = SafeTensors::from_memory(bytes.data(), bytes.size(), "crafted.safetensors");
        models::MobileFaceNet<> net(st);
    } catch (const FileError& e) {
        return e.what();
    }
    return "(accepted)";
}
const std::string kReshape = R"(\"op\":\"RESHAPE\",\"inputs\":[\"MobileFaceNet/Logits/LinearConv1x1/BatchNorm/FusedBatchNorm\",\"MobileFaceNet/Logits/SpatialSqueeze_shape\"])";
}  // namespace

TEST_CASE("a MobileFaceNet graph in a weights file is validated before any of it is used") {
    const std::string g = "crafted.safetensors: graph: ";
    CHECK(mobilefacenet_error(crafted_mobilefacenet(R"(\"stride_w\":2)", R"(\"stride_w\":0)")) ==
          g + "stride_w is 0, outside [1, 16]");
    CHECK(mobilefacenet_error(crafted_mobilefacenet(R"(\"stride_w\":2)", R"(\"stride_w\":1099511627776)")) ==
          g + "stride_w is 1099511627776, outside [1, 16]");
    CHECK(mobilefacenet_error(crafted_mobilefacenet(
              kReshape, R"(\"op\":\"RESHAPE\",\"inputs\":[])")).rfind(g + "operator ", 0) == 0);
    CHECK(mobilefacenet_error(crafted_mobilefacenet(R"(\"MobileFaceNet/Conv2d_0/weights/read\":[64,3,3,3])",
                                                    R"(\"MobileFaceNet/Conv2d_0/weights/read\":[])")) ==
          g + "tensor \"MobileFaceNet/Conv2d_0/weights/read\" has rank 0, expected 4");
    CHECK(mobilefacenet_error(crafted_mobilefacenet(R"(\"MobileFaceNet/Conv2d_0/weights/read\":[64,3,3,3])",
                                                    R"(\"MobileFaceNet/Conv2d_0/weights/read\":[64])")) ==
          g + "tensor \"MobileFaceNet/Conv2d_0/weights/read\" has rank 1, expected 4");
    CHECK(mobilefacenet_error(crafted_mobilefacenet(R"(\"input\":[2,112,112,3])", R"(\"input\":[112])")) ==
          g + "tensor \"input\" has rank 1, expected 4");
    // two RESHAPEs naming each other: resolving an alias must not loop forever
    CHECK(mobilefacenet_error(crafted_mobilefacenet(
              {{R"(\"outputs\":[\"embeddings\"]})",
                R"(\"outputs\":[\"embeddings\"]},{\"op\":\"RESHAPE\",\"inputs\":[\"embeddings\"],\"outputs\":[\"loop\"]},)"
                R"({\"op\":\"RESHAPE\",\"inputs\":[\"loop\"],\"outputs\":[\"embeddings\"]})"},
               {R"(\"embeddings\":[2,192])", R"(\"embeddings\":[2,192],\"loop\":[2,192])"}})) ==
          g + "RESHAPE outputs alias each other in a cycle");
    // a weight that is NaN turns every embedding into NaNs: refused with the tensor's name
    std::string nan_weights = test::read_text(test::model("mobilefacenet.safetensors"));
    {
        auto st = SafeTensors::from_memory(nan_weights.data(), nan_weights.size(), "w");
        const TensorInfo& info = st.at("MobileFaceNet/Conv2d_0/weights/read");
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(&nan_weights[std::size_t(info.bytes - reinterpret_cast<const unsigned char*>(nan_weights.data()))], &nan, 4);
    }
    CHECK(mobilefacenet_error(nan_weights) == "crafted.safetensors: tensor \"MobileFaceNet/Conv2d_0/weights/read\" has a non-finite value");
}

TEST_CASE("JSON headers: a million keys parse in linear-logarithmic time; duplicates are still found") {
    std::string doc = "{";
    for (int i = 0; i < 1000000; ++i) doc += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
    const Json j = Json::parse(doc + "}");
    CHECK(j.object().size() == 1000000);
    CHECK(j.at("k999999").integer() == 999999);
    CHECK(j.at("k0").integer() == 0);
    CHECK_FALSE(j.find("k1000000"));
    CHECK_THROWS_WITH(Json::parse(doc + ",\"k500000\":1}"), doctest::Contains("duplicate key \"k500000\""));
}

TEST_CASE("galleries: the empty gallery, rows that are not unit vectors, FIFOs and devices") {
    Gallery g("mobilefacenet", 4);
    g.enroll("a", {1, 0, 0, 0});
    REQUIRE(g.remove("a"));
    const std::string path = test::temp_path("empty.fkg");
    save_gallery(g, path);
    Gallery back = load_gallery(path);  // (loading it passed a null pointer to memcpy)
    CHECK(back.size() == 0);
    CHECK(back.identities() == 0);
    CHECK(back.search({1, 0, 0, 0}, 5, 1.0f).nearest.empty());
    // a row of huge values with a valid checksum: refused, not a match for every face at distance 0
    Gallery h("mobilefacenet", 4);
    h.enroll("b", {1, 0, 0, 0});
    std::string bytes = serialize_gallery(h);
    bytes.resize(bytes.size() - 8);
    const float big = 3e38f;
    for (int k = 0; k < 4; ++k) std::memcpy(&bytes[bytes.size() - 16 + 4 * std::size_t(k)], &big, 4);
    detail::put<std::uint64_t>(bytes, detail::fnv1a(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
    std::vector<std::uint8_t> v(bytes.begin(), bytes.end());
    CHECK_THROWS_WITH(parse_gallery(v, "g.fkg"), doctest::Contains("g.fkg: bad gallery: embedding 0 is not of unit length"));
    // only regular files are read: a FIFO would block forever, /dev/zero never ends
    const std::string fifo = test::temp_path("fifo.fkg");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH(load_gallery(fifo), (fifo + ": not a regular file").c_str());
    CHECK_THROWS_WITH(load_image(fifo), (fifo + ": not a regular file").c_str());
    CHECK_THROWS_WITH(SafeTensors::open(fifo), (fifo + ": not a regular file").c_str());
    CHECK_THROWS_WITH(load_gallery("/dev/zero"), "/dev/zero: not a regular file");
    CHECK_THROWS_WITH(load_image("/dev/zero"), "/dev/zero: not a regular file");
    std::remove(fifo.c_str());
    std::remove(path.c_str());
}

TEST_CASE("gallery saves: planted links, linked galleries, permissions, stale temporaries") {
    namespace fs = std::filesystem;
    const std::string dir = test::temp_path("saves");
    fs::remove_all(dir);
    fs::create_directories(dir);
    Gallery g("mobilefacenet", 4);
    g.enroll("a", {1, 0, 0, 0});
    // a link planted at the temporary file's name must not redirect the write
    const std::string victim = dir + "/victim.txt";
    test::write_bytes(victim, "untouched");
    const std::string path = dir + "/g.fkg";
    for (int attempt = 0; attempt < 3; ++attempt)
        fs::create_symlink(victim, path + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(attempt));
    save_gallery(g, path);
    CHECK(test::read_text(victim) == "untouched");
    CHECK(load_gallery(path).size() == 1);
    // a gallery that is a link: the target is updated, the link stays a link
    const std::string link = dir + "/link.fkg";
    fs::create_symlink(path, link);
    g.enroll("b", {0, 1, 0, 0});
    save_gallery(g, link);
    CHECK(fs::is_symlink(link));
    CHECK(load_gallery(path).size() == 2);
    // permissions are kept
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    save_gallery(g, path);
    CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    // a temporary left by a dead process is removed by the next save; a live one's is not
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, nullptr, 0);
    const std::string stale = path + ".tmp" + std::to_string(child) + ".0", live = path + ".tmp1.0";
    test::write_bytes(stale, "stale");
    test::write_bytes(live, "init's");
    save_gallery(g, path);
    CHECK_FALSE(fs::exists(stale));
    CHECK(fs::exists(live));
    fs::remove_all(dir);
}

TEST_CASE("two processes enrolling 50 people each into one gallery end with all 100") {
    const std::string path = test::temp_path("shared.fkg");
    std::remove(path.c_str());
    pid_t children[2];
    for (int c = 0; c < 2; ++c) {
        children[c] = fork();
        REQUIRE(children[c] >= 0);
        if (children[c] == 0) {
            for (int i = 0; i < 50; ++i)
                update_gallery(path, [] { return Gallery("mobilefacenet", 4); },
                               [&](Gallery& g) { g.enroll("p" + std::to_string(c) + "_" + std::to_string(i), {1, float(i), float(c), 0}); });
            _exit(0);
        }
    }
    for (pid_t child : children) {
        int status = 0;
        waitpid(child, &status, 0);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    Gallery g = load_gallery(path);
    CHECK(g.identities() == 100);
    std::remove(path.c_str());
    std::remove((path + ".lock").c_str());
}

namespace {
/// A 24-bit BMP of w×h pixels, pixel (x, y) = (x·40, y·60, 200); rows stored top-down when `top_down`.
std::string bmp(int w, int h, bool top_down) {
    const int stride = (w * 3 + 3) / 4 * 4;
    std::string b(54 + std::size_t(stride) * h, '\0');
    auto put32 = [&](std::size_t at, std::int32_t v) { std::memcpy(&b[at], &v, 4); };
    b[0] = 'B', b[1] = 'M';
    put32(2, std::int32_t(b.size())), put32(10, 54), put32(14, 40), put32(18, w), put32(22, top_down ? -h : h);
    b[26] = 1, b[28] = 24;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int row = top_down ? y : h - 1 - y;
            char* p = &b[54 + std::size_t(row) * stride + std::size_t(x) * 3];
            p[0] = char(200), p[1] = char(y * 60), p[2] = char(x * 40);  // BGR
        }
    return b;
}
Image decode(const std::string& bytes) { return decode_image(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "x"); }
}  // namespace

TEST_CASE("top-down BMPs decode as bottom-up ones; a PNG with corrupt image data says so") {
    const Image up = decode(bmp(5, 3, false)), down = decode(bmp(5, 3, true));
    CHECK(down.width == 5);
    CHECK(down.height == 3);
    CHECK(down.pixels == up.pixels);
    CHECK(up.at(4, 2)[0] == 160);
    CHECK(up.at(4, 2)[1] == 120);
    // IDAT whose deflate block has the reserved type 3: stb gives no reason of its own
    std::string png = "\x89PNG\r\n\x1a\n";
    auto chunk = [&](const std::string& type, const std::string& body) {
        std::string c(4, '\0');
        const std::uint32_t n = std::uint32_t(body.size());
        c[0] = char(n >> 24), c[1] = char(n >> 16), c[2] = char(n >> 8), c[3] = char(n);
        c += type + body + std::string(4, '\0');  // stb does not check CRCs
        png += c;
    };
    chunk("IHDR", std::string("\0\0\0\4\0\0\0\4\x08\x02\0\0\0", 13));
    chunk("IDAT", "\x78\x9c\xff\xff\xff\xff");
    chunk("IEND", "");
    CHECK_THROWS_WITH(decode(png), "x: corrupt PNG (bad compressed image data)");
}
