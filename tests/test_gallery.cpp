// The gallery: enrolment and identification on real photos (MobileFaceNet), rejection of strangers,
// persistence (round trip, damaged files, a process killed mid-save).
#include <csignal>
#include <map>
#include <filesystem>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

#include "facekit/eval/thresholds.hpp"
#include "facekit/identify/gallery_io.hpp"
#include "facekit/detect/detector.hpp"
#include "facekit/embed/embedder.hpp"
#include "reference.hpp"

using namespace facekit;
using namespace facekit::test;

namespace {
struct Faces {
    ThreadPool pool{2};
    Detector<> detector{models::MtcnnNets<>::load(models_dir()), {}, &pool};
    std::unique_ptr<Embedder> embedder = load_embedder("mobilefacenet", models_dir(), &pool);

    Embedding largest(const std::string& lfw_file) {
        Image img = load_image(shared("data/lfw/images/" + lfw_file));
        auto faces = detector.detect(img);
        REQUIRE_MESSAGE(!faces.empty(), lfw_file);
        return embedder->embed(embedder->align(img, faces[0]));
    }
};
/// The i-th (sorted) of the LFW photos of `name` that ../shared holds (those pairs.txt uses).
std::string lfw(const std::string& name, int i) {
    std::vector<std::string> files;
    for (auto& e : std::filesystem::directory_iterator(shared("data/lfw/images/" + name))) files.push_back(e.path().filename());
    std::sort(files.begin(), files.end());
    REQUIRE(std::size_t(i) < files.size());
    return name + "/" + files[std::size_t(i)];
}
Gallery random_gallery(std::size_t rows, int dim, Gallery::Store store, unsigned seed) {
    Gallery g("mobilefacenet", dim, store);
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    std::vector<float> v(static_cast<std::size_t>(dim));
    for (std::size_t r = 0; r < rows; ++r) {
        for (float& x : v) x = nd(rng);
        g.enroll("person" + std::to_string(r % 97), v);
    }
    return g;
}
}  // namespace

TEST_CASE("enrolled people are identified in other photos; a stranger is rejected") {
    Faces f;
    const std::vector<std::string> people = {"Tony_Blair", "Silvio_Berlusconi", "Jean_Chretien", "Wen_Jiabao",
                                             "David_Beckham", "Arnold_Schwarzenegger"};
    Gallery g("mobilefacenet", 192);
    for (auto& p : people)
        for (int i : {0, 1}) g.enroll(p, f.largest(lfw(p, i)));
    CHECK(g.size() == 12);
    CHECK(g.identities() == 6);
    const float threshold = float(eval::default_thresholds("mobilefacenet").identify);
    int correct = 0, total = 0;
    float worst_genuine = 0;
    for (auto& p : people)
        for (int i : {2, 3, 4}) {
            const std::string photo = lfw(p, i);
            CAPTURE(photo);
            auto r = g.search(f.largest(photo), 5, threshold);
            worst_genuine = std::max(worst_genuine, r.distance);
            CHECK(r.name.has_value());
            correct += r.name && *r.name == p;
            ++total;
        }
    MESSAGE(correct << " of " << total << " photos identified correctly; largest genuine distance " << worst_genuine);
    CHECK(correct >= total - 1);
    // People never enrolled come back as unknown.
    int rejected = 0;
    for (const char* stranger : {"Hans_Blix", "Tiger_Woods", "Pete_Sampras"}) {
        auto r = g.search(f.largest(lfw(stranger, 0)), 5, threshold);
        CAPTURE(stranger);
        MESSAGE(std::string(stranger) << ": nearest " << r.nearest[0].name << " at " << r.nearest[0].distance);
        rejected += !r.name.has_value();
        CHECK(r.candidates.size() >= 1);
    }
    CHECK(rejected == 3);
}

TEST_CASE("LFW, unequal enrolment (1 to 5 photos each): held-back photos named, no stranger named") {
    // The 30 people of ../shared's LFW photos with at least 9 photos each: person i is enrolled from
    // 1 + i % 5 of them and should be named in 3 held-back photos; the first photo of 40 people never
    // enrolled must come back unknown. MobileFaceNet, k = 5, the CLI's identification threshold.
    Faces f;
    std::vector<std::pair<std::size_t, std::string>> by_count;
    for (auto& e : std::filesystem::directory_iterator(shared("data/lfw/images"))) {
        std::size_t n = 0;
        for ([[maybe_unused]] auto& photo : std::filesystem::directory_iterator(e.path())) ++n;
        by_count.emplace_back(n, e.path().filename().string());
    }
    std::sort(by_count.begin(), by_count.end(),
              [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    REQUIRE(by_count.size() > 200);
    std::vector<std::string> enrolled, strangers;
    for (auto& [n, name] : by_count)
        if (n >= 9 && enrolled.size() < 30) enrolled.push_back(name);
    REQUIRE(enrolled.size() == 30);
    for (std::size_t i = by_count.size() - 40; i < by_count.size(); ++i) strangers.push_back(by_count[i].second);

    Gallery g("mobilefacenet", 192);
    std::map<int, int> people_with;  // photo count → people
    for (std::size_t i = 0; i < enrolled.size(); ++i) {
        const int count = 1 + int(i % 5);
        for (int k = 0; k < count; ++k) g.enroll(enrolled[i], f.largest(lfw(enrolled[i], k)));
        people_with[count]++;
    }
    CHECK(people_with.size() == 5);
    const float threshold = float(eval::default_thresholds("mobilefacenet").identify);
    int named_right = 0, named_wrong = 0, held_back = 0, strangers_named = 0;
    float worst_genuine = 0, nearest_stranger = 4;
    for (std::size_t i = 0; i < enrolled.size(); ++i) {
        const int count = 1 + int(i % 5);
        for (int k = count; k < count + 3; ++k) {
            const std::string photo = lfw(enrolled[i], k);  // (CAPTURE evaluates lazily, inside doctest's lock)
            auto r = g.search(f.largest(photo), 5, threshold);
            CAPTURE(photo);
            CAPTURE(r.distance);
            CHECK((!r.name || *r.name == enrolled[i]));  // never someone else
            named_right += r.name == std::optional<std::string>(enrolled[i]);
            named_wrong += r.name && *r.name != enrolled[i];
            worst_genuine = std::max(worst_genuine, r.nearest[0].name == enrolled[i] ? r.nearest[0].distance : 4.0f);
            ++held_back;
        }
    }
    for (const std::string& s : strangers) {
        auto r = g.search(f.largest(lfw(s, 0)), 5, threshold);
        CAPTURE(s);
        CHECK_FALSE(r.name.has_value());
        strangers_named += r.name.has_value();
        nearest_stranger = std::min(nearest_stranger, r.nearest[0].distance);
    }
    MESSAGE(named_right << " of " << held_back << " held-back photos named, " << named_wrong << " misnamed (farthest genuine "
                        << worst_genuine << "); " << strangers_named << " of " << strangers.size()
                        << " strangers named (nearest at " << nearest_stranger << "); threshold " << threshold);
    // Measured: 88 of 90 (the other two, at 1.09 and 1.11, come back unknown). No threshold separates the two
    // sets on these photos (a stranger at 1.015), see eval/thresholds.hpp.
    CHECK(named_right >= 88);
}

TEST_CASE("search: top-k, votes, threshold, remove and rename") {
    Gallery g("test", 3);
    g.enroll("a", {1, 0, 0});
    g.enroll("a", {0.9f, 0.1f, 0});
    g.enroll("b", {0, 1, 0});
    auto r = g.search({1, 0.05f, 0}, 2, 0.5f);
    REQUIRE(r.nearest.size() == 2);
    CHECK(r.nearest[0].name == "a");
    CHECK(r.name == std::optional<std::string>("a"));
    CHECK(r.distance == doctest::Approx(2 - 2 * (1 / std::sqrt(1 + 0.05 * 0.05))).epsilon(1e-5));
    CHECK_FALSE(g.search({0, 0, 1}, 3, 0.5f).name.has_value());  // nearest is at distance 2
    g.rename("b", "c");
    CHECK(g.search({0, 1, 0}, 1, 0.5f).name == std::optional<std::string>("c"));
    CHECK(g.remove("a"));
    CHECK_FALSE(g.remove("a"));
    CHECK(g.size() == 1);
    CHECK(g.list() == std::vector<std::pair<std::string, std::size_t>>{{"c", 1}});
    CHECK_THROWS_WITH(g.enroll("x", {1, 0}), "gallery: embedding has dimension 2, the gallery 3");
    CHECK_THROWS_WITH(g.rename("zz", "y"), "gallery: no identity named \"zz\"");
}

TEST_CASE("only neighbours within the threshold vote: unequal enrolment counts and far majorities") {
    // "one" is enrolled from a single photo, "many" from five photos far from the query.
    Gallery g("test", 3);
    g.enroll("one", {1, 0, 0});
    for (int i = 0; i < 5; ++i) g.enroll("many", {0, 1, 0.1f * float(i)});
    const std::vector<float> query = {1, 0.1f, 0};
    auto r = g.search(query, 5, 0.5f);
    REQUIRE(r.nearest.size() == 5);
    CHECK(r.nearest[0].name == "one");
    CHECK(r.name == std::optional<std::string>("one"));  // four far "many" rows would outvote it if they voted
    CHECK(r.distance == doctest::Approx(r.nearest[0].distance));
    REQUIRE(r.candidates.size() == 2);
    CHECK(r.candidates[0].name == "one");
    CHECK(r.candidates[1].name == "many");
    CHECK(r.candidates[1].distance > 1.5f);  // candidates list the nearest identities whatever their distance
    // k = 1 is plain nearest neighbour, whatever the counts
    CHECK(g.search(query, 1, 0.5f).name == std::optional<std::string>("one"));
    // a threshold below every distance: unknown, with the nearest identity's distance
    auto none = g.search(query, 5, 0.001f);
    CHECK_FALSE(none.name.has_value());
    CHECK(none.distance == doctest::Approx(r.nearest[0].distance));
    // within the threshold the majority wins; a tie goes to the nearer identity
    Gallery h("test", 2);
    h.enroll("near", {1, 0});
    h.enroll("pair", {0.96f, 0.28f});
    h.enroll("pair", {0.96f, -0.28f});
    CHECK(h.search({1, 0}, 3, 0.5f).name == std::optional<std::string>("pair"));  // 2 votes against 1
    CHECK(h.search({1, 0}, 2, 0.5f).name == std::optional<std::string>("near"));  // 1 against 1: the nearer
    CHECK(h.search({1, 0}, 3, 0.01f).name == std::optional<std::string>("near"));  // only "near" is within 0.01
}

TEST_CASE("the int8 store finds the same neighbours as the float store") {
    Gallery gf = random_gallery(5000, 64, Gallery::Store::Float, 7);
    Gallery gi = random_gallery(5000, 64, Gallery::Store::Int8, 7);
    std::mt19937 rng(99);
    std::normal_distribution<float> nd;
    ThreadPool pool(2);
    int same = 0;
    for (int t = 0; t < 50; ++t) {
        std::vector<float> q(64);
        for (float& x : q) x = nd(rng);
        auto a = gf.search(q, 1, 4.0f, &pool), b = gi.search(q, 1, 4.0f, nullptr);
        same += a.nearest[0].name == b.nearest[0].name;
        CHECK(std::abs(a.nearest[0].distance - b.nearest[0].distance) < 0.02f);
    }
    CHECK(same >= 48);
}

TEST_CASE("gallery files: round trip, and damaged files are refused with the problem named") {
    for (auto store : {Gallery::Store::Float, Gallery::Store::Int8}) {
        Gallery g = random_gallery(300, 16, store, 3);
        const std::string path = temp_path("g.fkg");
        save_gallery(g, path);
        Gallery h = load_gallery(path);
        CHECK(h.model() == g.model());
        CHECK(h.list() == g.list());
        CHECK(h.floats() == g.floats());
        CHECK(h.bytes() == g.bytes());
        std::remove(path.c_str());
    }
    std::string good = serialize_gallery(random_gallery(10, 4, Gallery::Store::Float, 1));
    auto error_of = [](std::string bytes) {
        std::vector<std::uint8_t> v(bytes.begin(), bytes.end());
        try {
            parse_gallery(v, "g.fkg");
        } catch (const FileError& e) {
            return std::string(e.what());
        }
        return std::string("(accepted)");
    };
    CHECK(error_of("") == "g.fkg: not a facekit gallery (bad magic)");
    CHECK(error_of("not a gallery at all") == "g.fkg: not a facekit gallery (bad magic)");
    std::string flipped = good;
    flipped[flipped.size() / 2] ^= 0x40;
    CHECK(error_of(flipped) == "g.fkg: bad gallery: checksum mismatch (the file is damaged)");
    CHECK(error_of(good.substr(0, good.size() - 9)) == "g.fkg: bad gallery: checksum mismatch (the file is damaged)");
    // A lying header (wrong dimension) with a valid checksum: the sizes no longer add up.
    std::string lie = good.substr(0, good.size() - 8);
    lie[16] = 5;  // dim 4 -> 5
    detail::put<std::uint64_t>(lie, detail::fnv1a(reinterpret_cast<const unsigned char*>(lie.data()), lie.size()));
    CHECK(error_of(lie).find("bytes of embeddings, expected") != std::string::npos);
    std::string version = good.substr(0, good.size() - 8);
    version[8] = 9;
    detail::put<std::uint64_t>(version, detail::fnv1a(reinterpret_cast<const unsigned char*>(version.data()), version.size()));
    CHECK(error_of(version) == "g.fkg: bad gallery: unsupported version 9 (this build reads version 1)");
    CHECK_THROWS_WITH(load_gallery("/nonexistent/g.fkg"), "/nonexistent/g.fkg: cannot open: No such file or directory");
}

TEST_CASE("killing the process during a save never corrupts the gallery file") {
    const std::string path = temp_path("killed.fkg");
    Gallery small = random_gallery(100, 192, Gallery::Store::Float, 11);
    save_gallery(small, path);
    Gallery big = random_gallery(60000, 192, Gallery::Store::Float, 12);  // ~46 MB: a save takes a while
    std::mt19937 rng(5);
    int killed_mid_save = 0;
    for (int round = 0; round < 8; ++round) {
        pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            for (;;) save_gallery(round % 2 ? big : small, path);  // until killed
        }
        usleep(useconds_t(20000 + rng() % 200000));
        kill(child, SIGKILL);
        int status = 0;
        waitpid(child, &status, 0);
        killed_mid_save += WIFSIGNALED(status);
        Gallery g = load_gallery(path);  // must parse: the old or the new gallery, never a mix
        CHECK((g.size() == small.size() || g.size() == big.size()));
    }
    CHECK(killed_mid_save == 8);
    std::remove(path.c_str());
    // leftover temporary files of killed saves are the only trace
    std::system(("rm -f " + path + ".tmp*").c_str());
}
