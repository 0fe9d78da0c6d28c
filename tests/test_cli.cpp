// The facekit tool as scripts use it (../shared/CLI.md): batches with bad, odd and good files give one
// entry per input, a warning per failure and exit status 1; folders expand; galleries enrolled with
// unequal photo counts identify everyone; --from-dir; every --help; synthetic weights refused.
#include <filesystem>
#include <sys/wait.h>

#include "facekit/io/image.hpp"
#include "reference.hpp"

using namespace facekit;
using namespace facekit::test;
namespace fs = std::filesystem;

namespace {
struct Run {
    int status;  // exit status, or −signal
    std::string out, err;
};
Run run_cli(const std::string& args) {
    const std::string out = temp_path("cli.out"), err = temp_path("cli.err");
    const int status = std::system((std::string(FACEKIT_CLI) + " " + args + " >" + out + " 2>" + err + " </dev/null").c_str());
    Run r{WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status), read_text(out), read_text(err)};
    std::remove(out.c_str());
    std::remove(err.c_str());
    return r;
}
std::string q(const std::string& s) { return "'" + s + "'"; }
std::string lfw(const std::string& person, int i) {
    std::vector<std::string> files;
    for (auto& e : fs::directory_iterator(shared("data/lfw/images/" + person))) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    REQUIRE(std::size_t(i) < files.size());
    return files[std::size_t(i)];
}
/// A fresh temporary folder.
std::string temp_dir(const std::string& name) {
    const std::string d = temp_path(name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}
/// A folder holding a good photo, one with no face, an empty file, a WebP named .jpg, and a PNG.
std::string mixed_batch() {
    const std::string d = temp_dir("batch");
    fs::copy_file(lfw("Tony_Blair", 0), d + "/a_good.jpg");
    fs::copy_file(shared("data/images/dlib/dogs.jpg"), d + "/b_no_face.jpg");
    write_bytes(d + "/c_empty.jpg", "");
    write_bytes(d + "/d_webp.jpg", std::string("RIFF\x24\0\0\0WEBPVP8 ", 16));
    fs::copy_file(shared("data/images/png/Angela_Merkel_0001.png"), d + "/e_good.png");
    write_bytes(d + "/notes.txt", "not an image name: not an input");
    return d;
}
int lines_starting(const std::string& text, const std::string& prefix) {
    int n = 0;
    for (std::size_t at = 0; at < text.size();) {
        if (text.compare(at, prefix.size(), prefix) == 0) ++n;
        const auto nl = text.find('\n', at);
        at = nl == std::string::npos ? text.size() : nl + 1;
    }
    return n;
}
}  // namespace

TEST_CASE("detect: a folder and a missing file give one entry per image, warnings, exit 1") {
    const std::string d = mixed_batch();
    Run r = run_cli("detect " + q(d) + " " + q(d + "/missing.jpg"));
    CHECK(r.status == 1);
    Json j = Json::parse(r.out);
    REQUIRE(j.array().size() == 6);  // the folder's five images, sorted, then the missing file
    CHECK(j[0].at("image").string() == d + "/a_good.jpg");
    CHECK(j[0].at("faces").array().size() == 1);
    CHECK(j[1].at("faces").array().empty());  // no face: not an error
    CHECK_FALSE(j[1].find("error"));
    CHECK(j[2].at("error").string() == "empty file");
    CHECK(j[3].at("error").string().rfind("not a supported image", 0) == 0);
    CHECK(j[4].at("faces").array().size() == 1);
    CHECK(j[5].at("error").string() == "cannot open: No such file or directory");
    CHECK(lines_starting(r.err, "facekit: warning: ") == 3);
    CHECK(r.err.find("facekit: warning: " + d + "/c_empty.jpg: empty file\n") != std::string::npos);
    CHECK(r.err.find("detect [") != std::string::npos);  // progress: more than a few images
    // all good: exit 0, nothing but progress on stderr
    Run ok = run_cli("detect " + q(d + "/a_good.jpg") + " " + q(d + "/b_no_face.jpg"));
    CHECK(ok.status == 0);
    CHECK(ok.err.empty());
}

TEST_CASE("embed, identify, enroll and cluster keep going past bad images") {
    const std::string d = mixed_batch();
    Run e = run_cli("embed " + q(d));
    CHECK(e.status == 1);
    int embeddings = 0, errors = 0;
    std::istringstream lines(e.out);
    for (std::string line; std::getline(lines, line);) {
        Json j = Json::parse(line);
        embeddings += j.find("embedding") != nullptr, errors += j.find("error") != nullptr;
        if (j.find("embedding")) CHECK(j.at("embedding").array().size() == 192);
    }
    CHECK(embeddings == 2);
    CHECK(errors == 2);
    CHECK(lines_starting(e.err, "facekit: warning: ") == 2);

    const std::string gallery = temp_path("batch.fkg");
    std::remove(gallery.c_str());
    Run en = run_cli("gallery enroll --gallery " + q(gallery) + " Tony_Blair " + q(d + "/a_good.jpg") + " " +
                     q(d + "/b_no_face.jpg") + " " + q(d + "/c_empty.jpg"));
    CHECK(en.status == 1);
    Json s = Json::parse(en.out);
    CHECK(s.at("enrolled")[0].at("name").string() == "Tony_Blair");
    CHECK(s.at("enrolled")[0].at("images").number() == 1);
    REQUIRE(s.at("skipped").array().size() == 2);
    CHECK(s.at("skipped")[0].at("error").string() == "no face found");
    CHECK(s.at("embeddings").number() == 1);
    CHECK(en.err.find("facekit: enrolled 1 image of 1 person, skipped 2;") != std::string::npos);

    Run id = run_cli("gallery identify --gallery " + q(gallery) + " " + q(d) + " " + q(lfw("Tony_Blair", 1)));
    CHECK(id.status == 1);
    Json ids = Json::parse(id.out);
    REQUIRE(ids.array().size() == 6);
    CHECK(ids[1].at("faces").array().empty());
    CHECK(ids[2].at("error").string() == "empty file");
    CHECK(ids[5].at("faces")[0].at("name").string() == "Tony_Blair");
    std::remove(gallery.c_str());

    Run c = run_cli("cluster " + q(d));
    CHECK(c.status == 1);
    Json cl = Json::parse(c.out);
    CHECK(cl.at("no_face").array().size() == 1);
    CHECK(cl.at("errors").array().size() == 2);
}

TEST_CASE("gallery: one photo against five, through the CLI; strangers are unknown") {
    const std::string gallery = temp_path("unequal.fkg");
    std::remove(gallery.c_str());
    CHECK(run_cli("gallery enroll --gallery " + q(gallery) + " Tony_Blair " + q(lfw("Tony_Blair", 0))).status == 0);
    std::string five;
    for (int i = 0; i < 5; ++i) five += " " + q(lfw("Colin_Powell", i));
    Run en = run_cli("gallery enroll --gallery " + q(gallery) + " Colin_Powell" + five);
    CHECK(en.status == 0);
    CHECK(Json::parse(en.out).at("embeddings").number() == 6);
    Run id = run_cli("gallery identify --gallery " + q(gallery) + " " + q(lfw("Tony_Blair", 1)) + " " +
                     q(lfw("Tony_Blair", 2)) + " " + q(lfw("Colin_Powell", 6)) + " " + q(lfw("Hans_Blix", 0)));
    CHECK(id.status == 0);
    Json j = Json::parse(id.out);
    REQUIRE(j.array().size() == 4);
    CHECK(j[0].at("faces")[0].at("name").string() == "Tony_Blair");  // five far Colin_Powell rows do not outvote him
    CHECK(j[1].at("faces")[0].at("name").string() == "Tony_Blair");
    CHECK(j[2].at("faces")[0].at("name").string() == "Colin_Powell");
    CHECK(j[3].at("faces")[0].at("name").is_null());
    CHECK(j[3].at("faces")[0].at("candidates").array().size() == 2);  // the nearest identities, however far
    // k = 1: plain nearest neighbour
    CHECK(Json::parse(run_cli("gallery identify --k 1 --gallery " + q(gallery) + " " + q(lfw("Tony_Blair", 1))).out)[0]
              .at("faces")[0].at("name").string() == "Tony_Blair");
    std::remove(gallery.c_str());
}

TEST_CASE("gallery enroll --from-dir: one subfolder per person, a summary of what was enrolled and skipped") {
    const std::string db = temp_dir("db");
    const std::vector<std::pair<std::string, int>> people = {{"Tony_Blair", 1}, {"Colin_Powell", 3}, {"Hans_Blix", 2}};
    for (auto& [person, n] : people) {
        fs::create_directories(db + "/" + person + "/more");
        for (int i = 0; i < n; ++i) fs::copy_file(lfw(person, i), db + "/" + person + (i == 2 ? "/more/" : "/") + std::to_string(i) + ".jpg");
    }
    write_bytes(db + "/Hans_Blix/broken.jpg", "\xFF\xD8 not really");
    fs::create_directories(db + "/Nobody");  // a person without photos enrols nothing
    const std::string gallery = temp_path("fromdir.fkg");
    std::remove(gallery.c_str());
    Run r = run_cli("gallery enroll --gallery " + q(gallery) + " --from-dir " + q(db));
    CHECK(r.status == 1);  // broken.jpg
    Json s = Json::parse(r.out);
    REQUIRE(s.at("enrolled").array().size() == 3);
    CHECK(s.at("enrolled")[0].at("name").string() == "Colin_Powell");  // sorted
    CHECK(s.at("enrolled")[0].at("images").number() == 3);             // the subfolder's too
    CHECK(s.at("enrolled")[1].at("name").string() == "Hans_Blix");
    CHECK(s.at("enrolled")[1].at("images").number() == 2);
    CHECK(s.at("skipped").array().size() == 1);
    CHECK(s.at("skipped")[0].at("image").string() == db + "/Hans_Blix/broken.jpg");
    Json list = Json::parse(run_cli("gallery list --gallery " + q(gallery)).out);
    CHECK(list.at("identities").array().size() == 3);
    CHECK(run_cli("gallery enroll --gallery " + q(gallery) + " --from-dir " + q(db) + " X " + q(lfw("Tony_Blair", 0))).status == 2);
    std::remove(gallery.c_str());
}

TEST_CASE("every command explains itself: --help lists each option with its default; --version") {
    Run v = run_cli("--version");
    CHECK(v.status == 0);
    CHECK(v.out == "facekit 0.1.0\n");
    Run top = run_cli("--help");
    CHECK(top.status == 0);
    for (const char* cmd : {"detect", "embed", "compare", "gallery enroll", "gallery identify", "gallery list",
                            "gallery remove", "cluster", "lfw", "bench", "pack"}) {
        CAPTURE(cmd);
        CHECK(top.out.find(std::string("  ") + cmd + " ") != std::string::npos);
        Run h = run_cli(std::string(cmd) + " --help");
        CHECK(h.status == 0);
        CHECK(h.out.rfind(std::string("usage: facekit ") + cmd + " ", 0) == 0);
        CHECK(h.out.find("options:\n") != std::string::npos);
    }
    Run det = run_cli("detect --help");
    CHECK(det.out.find("  --min-face N            smallest face to look for, in pixels (default: 20)\n") != std::string::npos);
    CHECK(det.out.find("--no-exif") != std::string::npos);
    Run g = run_cli("gallery --help");
    CHECK(g.status == 0);
    CHECK(lines_starting(g.out, "usage: facekit gallery ") == 4);
    Run bad = run_cli("gallery identify --gallery x.fkg --frobnicate y.jpg");
    CHECK(bad.status == 2);
    CHECK(bad.err == "facekit: usage error: unknown option --frobnicate for gallery identify (see facekit gallery identify --help)\n");
}

TEST_CASE("synthetic weights are refused unless --allow-synthetic; --draw names never collide") {
    const std::string weights = model("facenet-synthetic.safetensors");
    const std::string a = q(lfw("Tony_Blair", 0)), b = q(lfw("Tony_Blair", 1));
    Run refused = run_cli("compare --model facenet --weights " + q(weights) + " " + a + " " + b);
    CHECK(refused.status == 1);
    CHECK(refused.err.find("is a synthetic test checkpoint (irv1-synthetic.pt)") != std::string::npos);
    CHECK(run_cli("compare --model facenet --allow-synthetic --weights " + q(weights) + " " + a + " " + b).status == 0);

    const std::string d = temp_dir("draw");
    fs::create_directories(d + "/a");
    fs::create_directories(d + "/b");
    fs::copy_file(lfw("Tony_Blair", 0), d + "/a/x.jpg");
    fs::copy_file(shared("data/images/png/Angela_Merkel_0001.png"), d + "/b/x.png");
    CHECK(run_cli("detect --draw " + q(d + "/out") + " " + q(d + "/a") + " " + q(d + "/b")).status == 0);
    CHECK(exists(d + "/out/x.jpg"));
    CHECK(exists(d + "/out/x-2.jpg"));
    CHECK(run_cli("detect --draw " + q(d + "/png") + " --draw-format png " + q(d + "/a")).status == 0);
    CHECK(load_image(d + "/png/x.png").width == 150);
}

TEST_CASE("cluster: every face of a group photo, or the largest with --largest") {
    const std::string group = shared("data/images/facenet-pytorch/multiface.jpg");
    Json all = Json::parse(run_cli("cluster " + q(group)).out);
    std::size_t faces = all.at("noise").array().size();
    for (auto& c : all.at("clusters").array()) faces += c.array().size();
    CHECK(faces == 6);
    CHECK(all.at("noise")[0].string().rfind(group + "#", 0) == 0);
    Json one = Json::parse(run_cli("cluster --largest " + q(group)).out);
    REQUIRE(one.at("noise").array().size() == 1);
    CHECK(one.at("noise")[0].string() == group);
}

TEST_CASE("lfw: a pairs file with one fold is refused before any image is embedded") {
    const std::string pairs = temp_path("one_fold.txt");
    write_bytes(pairs, "1\t1\nTony_Blair\t1\t2\nTony_Blair\t1\tColin_Powell\t1\n");
    Run r = run_cli("lfw --pairs " + q(pairs) + " --images " + q(shared("data/lfw/images")));
    CHECK(r.status == 1);
    CHECK(r.err == "facekit: error: " + pairs + ": has 1 fold; the protocol needs at least 2 (or --folds N)\n");
    std::remove(pairs.c_str());
}

TEST_CASE("limits users can reason about: pixels from the header, the pyramid before it is allocated") {
    const std::string big = shared("data/images/dlib/bald_guys.jpg");  // 1986×1545
    Run r = run_cli("detect --min-face 1 " + q(big));
    CHECK(r.status == 1);
    Json j = Json::parse(r.out);
    const std::string e = j[0].at("error").string();
    CHECK(e.rfind("the image pyramid of a 1986×1545 image at a minimum face of 1 pixels would hold ", 0) == 0);
    CHECK(e.find(" pixels, over the limit of 120000000 (raise the minimum face size or the limit)") != std::string::npos);
    Run small = run_cli("detect --max-pixels 10000 " + q(lfw("Tony_Blair", 0)));
    CHECK(small.status == 1);
    CHECK(Json::parse(small.out)[0].at("error").string() == "image is 150×150, over the limit of 10000 pixels");
}

TEST_CASE("file names that are not UTF-8 or hold a newline: valid JSON, one-line warnings") {
    const std::string d = temp_dir("names");
    fs::copy_file(lfw("Tony_Blair", 0), d + "/bad\xff" "name.jpg");
    write_bytes(d + "/line\nbreak.jpg", "");
    Run r = run_cli("detect " + q(d));
    CHECK(r.status == 1);
    Json j = Json::parse(r.out);  // the reader refuses invalid JSON
    REQUIRE(j.array().size() == 2);
    CHECK(j[0].at("image").string() == d + "/bad\xEF\xBF\xBD" "name.jpg");  // U+FFFD for the stray byte
    CHECK(j[0].at("faces").array().size() == 1);
    CHECK(j[1].at("image").string() == d + "/line\nbreak.jpg");           // escaped in JSON
    CHECK(r.err == "facekit: warning: " + d + "/line?break.jpg: empty file\n");
}

TEST_CASE("pack: a packed models directory detects and embeds as the float one; misuse and bad files are one line") {
    const std::string d = temp_dir("packed");
    Run p = run_cli("pack --models " + q(models_dir()) + " --out " + q(d));
    REQUIRE(p.status == 0);
    CHECK(p.out.find("\"layout\": \"xsimd-f32-w") == 1);
    for (const char* n : {"pnet", "rnet", "onet", "mobilefacenet"}) CHECK(exists(d + "/" + n + ".safetensors"));
    const std::string photos = q(shared("data/images/facenet-pytorch"));
    Run want = run_cli("embed --models " + q(models_dir()) + " " + photos), got = run_cli("embed --models " + q(d) + " " + photos);
    CHECK(want.status == 0);
    CHECK(got.status == 0);
    CHECK(got.out == want.out);
    CHECK(run_cli("pack --models " + q(models_dir())).err == "facekit: usage error: pack needs --out DIR (see facekit pack --help)\n");
    // a packed file where a float file is expected by FaceNet, and a damaged one
    Run f = run_cli("embed --model facenet --weights " + q(d + "/mobilefacenet.safetensors") + " " + photos);
    CHECK(f.status == 1);
    CHECK(f.err.find("facekit: error: " + d + "/mobilefacenet.safetensors: holds \"mobilefacenet\", expected \"inception_resnet_v1\"") == 0);
    std::string bytes = read_text(d + "/pnet.safetensors");
    write_bytes(d + "/pnet.safetensors", bytes.substr(0, bytes.size() - 64));
    Run t = run_cli("detect --models " + q(d) + " " + photos);
    CHECK(t.status == 1);
    CHECK(lines_starting(t.err, "facekit: error: " + d + "/pnet.safetensors: ") == 1);
}
