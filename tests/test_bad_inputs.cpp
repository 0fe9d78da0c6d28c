// The bad-input corpus (tests/bad_inputs/expected.tsv): every file gives its expected error through the
// API and through the CLI (exit status 1, one line on stderr), never a crash or a signal.
#include <sstream>
#include <sys/wait.h>

#include "facekit/gallery/gallery_io.hpp"
#include "facekit/pipeline/image.hpp"
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
