// A firmware-style consumer: the same source is built with -fno-exceptions -fno-rtti and with exceptions.
// It loads MTCNN and MobileFaceNet through the try_ forms, refuses the bad-input corpus and broken weights
// with error values (the error hook, which would abort, must never run), detects the faces of every
// reference photo (count and IoU >= 0.99 against facenet-pytorch) and embeds them. It writes every box and
// embedding as hex floats, and ctest compares the two builds' files: they must be identical.
//
//   no_exceptions <models dir> <shared dir> <bad-inputs dir> <output file>
//   no_exceptions --hook     a misuse (a detector without networks) must reach the installed hook
//
// Built with FACEKIT_TEST_EMBEDDED_WEIGHTS, it is the firmware with its weights compiled in: the headers
// `facekit pack --embed-header` wrote, whose packed arrays every layer must read where they lie.
#include <facekit/facekit.hpp>
#ifdef FACEKIT_TEST_EMBEDDED_WEIGHTS
#include "mobilefacenet.hpp"
#include "onet.hpp"
#include "pnet.hpp"
#include "rnet.hpp"
#endif

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    if (ok) return;
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
}

[[noreturn]] void hook(const char* message) {
    std::fprintf(stderr, "FAILED: the error hook ran: %s\n", message);
    std::fflush(stderr);
    _exit(70);
}

float iou(const std::array<float, 4>& a, const std::array<float, 4>& b) {
    const float iw = std::max(0.0f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
    const float ih = std::max(0.0f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
    return iw * ih / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih);
}

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// A safetensors file in memory: one tensor "x" and the given metadata.
std::string safetensors_with(const std::string& metadata_json) {
    std::string header = R"({"__metadata__":)" + metadata_json + R"(,"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    std::string file(8, '\0');
    for (int i = 0; i < 8; ++i) file[std::size_t(i)] = char((header.size() >> (8 * i)) & 0xFF);
    return file + header + std::string(4, '\0');
}

void refuse_bad_files(const std::string& bad_dir, const std::string& models) {
    using namespace facekit;
    // every image and weights file of the bad-input corpus that must fail, with the message it must give
    std::istringstream tsv(read_text(bad_dir + "/expected.tsv"));
    int refused = 0;
    for (std::string line; std::getline(tsv, line);) {
        if (line.empty() || line[0] == '#') continue;
        const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
        const std::string file = line.substr(0, t1), kind = line.substr(t1 + 1, t2 - t1 - 1), want = line.substr(t2 + 1);
        const std::string path = bad_dir + "/" + file;
        Status s;
        if (kind == "image") {
            Image img;
            s = try_load_image(path, img);
            if (want.rfind("ok ", 0) == 0) {
                check(s.ok() && want == "ok " + std::to_string(img.width) + "x" + std::to_string(img.height), file + " loads");
                continue;
            }
        } else if (kind == "weights") {
            std::unique_ptr<Embedder> e;
            s = try_load_embedder("mobilefacenet", models, e, nullptr, path);
            check(!e, file + ": no embedder");
        } else {
            continue;  // galleries are not part of this consumer
        }
        check(!s.ok() && s.kind() == Status::Kind::File && s.file() == path, file + " is refused as a file error");
        check(s.message() == path + ": " + want, file + ": message \"" + s.message() + "\", expected \"" + want + "\"");
        ++refused;
    }
    check(refused >= 10, "the corpus has its bad images and weights");

    // broken weights past the file structure: a graph that is not JSON, one of the wrong schema, a wrong
    // architecture, a missing directory
    const std::pair<std::string, std::string> broken[] = {
        {R"({"architecture":"mobilefacenet","graph":"[1,"})", "<graph>: bad graph metadata: JSON: unexpected end of input at byte 3"},
        {R"({"architecture":"mobilefacenet","graph":"{\"ops\":3}"})", "<graph>: graph: \"ops\" is not an array"},
        {R"({"architecture":"pnet"})", "<graph>: holds \"pnet\", expected \"mobilefacenet\" (convert it with weights_converter/convert.py)"},
    };
    for (auto& [meta, want] : broken) {
        const std::string bytes = safetensors_with(meta);
        SafeTensors st;
        Status s = SafeTensors::try_from_memory(bytes.data(), bytes.size(), st, "<graph>");
        check(s.ok(), "the broken-graph file parses as safetensors: " + s.message());
        models::MobileFaceNet<> net(st, &s);
        check(s.message() == want, "broken weights: \"" + s.message() + "\", expected \"" + want + "\"");
    }
    std::shared_ptr<const models::MtcnnNets<>> none;
    Status s = models::MtcnnNets<>::try_load("/nonexistent", none);
    check(!s.ok() && !none && s.file() == "/nonexistent/pnet.safetensors", "a missing MTCNN directory: " + s.message());
}

#ifdef FACEKIT_TEST_EMBEDDED_WEIGHTS
/// Whether every packed array of net lies in [bytes, bytes + size): read in place, not copied.
template <class Net>
bool reads_in_place(Net& net, const unsigned char* bytes, std::size_t size) {
    int arrays = 0, inside = 0;
    net.for_each_layer([&](auto& layer) {
        layer.for_each_packed_array([&](const char*, const facekit::PackedArray& a) {
            if (!a.size()) return;
            auto* p = reinterpret_cast<const unsigned char*>(a.data());
            ++arrays, inside += a.borrowed() && p >= bytes && p + a.size() * sizeof(float) <= bytes + size;
        });
    });
    return arrays > 0 && inside == arrays;
}

/// The networks from the compiled-in packed weights.
facekit::Status load_networks(const std::string&, std::shared_ptr<const facekit::models::MtcnnNets<>>& nets,
                              std::unique_ptr<facekit::Embedder>& embedder) {
    using namespace facekit;
    SafeTensors p, r, o, m;
    Status s = SafeTensors::try_from_memory(facekit_packed_pnet, sizeof facekit_packed_pnet, p, "pnet");
    if (s) s = SafeTensors::try_from_memory(facekit_packed_rnet, sizeof facekit_packed_rnet, r, "rnet");
    if (s) s = SafeTensors::try_from_memory(facekit_packed_onet, sizeof facekit_packed_onet, o, "onet");
    if (s) s = SafeTensors::try_from_memory(facekit_packed_mobilefacenet, sizeof facekit_packed_mobilefacenet, m, "mobilefacenet");
    if (!s) return s;
    auto mtcnn = std::make_shared<models::MtcnnNets<>>(p, r, o, &s);
    if (!s) return s;
    auto net = std::make_shared<models::MobileFaceNet<>>(m, &s);
    if (!s) return s;
    check(reads_in_place(mtcnn->pnet, facekit_packed_pnet, sizeof facekit_packed_pnet) &&
              reads_in_place(mtcnn->rnet, facekit_packed_rnet, sizeof facekit_packed_rnet) &&
              reads_in_place(mtcnn->onet, facekit_packed_onet, sizeof facekit_packed_onet) &&
              reads_in_place(*net, facekit_packed_mobilefacenet, sizeof facekit_packed_mobilefacenet),
          "every packed array is read in place from the compiled-in weights");
    std::printf("weights compiled in, packed (%zu bytes), read in place\n", sizeof facekit_packed_pnet + sizeof facekit_packed_rnet +
                                                                              sizeof facekit_packed_onet + sizeof facekit_packed_mobilefacenet);
    nets = std::move(mtcnn);
    embedder = std::make_unique<NetEmbedder<models::MobileFaceNet<>>>(std::move(net), "mobilefacenet", nullptr);
    return s;
}
#else
/// The networks from the models directory's float weights.
facekit::Status load_networks(const std::string& models, std::shared_ptr<const facekit::models::MtcnnNets<>>& nets,
                              std::unique_ptr<facekit::Embedder>& embedder) {
    facekit::Status s = facekit::models::MtcnnNets<>::try_load(models, nets);
    if (s) s = facekit::try_load_embedder("mobilefacenet", models, embedder);
    return s;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    using namespace facekit;
    if (argc == 2 && std::string(argv[1]) == "--hook") {
        set_error_hook(&hook);
        Detector<> misuse(nullptr);  // raises InvalidArgument: thrown, or handed to the hook
        return 0;
    }
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s <models dir> <shared dir> <bad-inputs dir> <output file>\n", argv[0]);
        return 2;
    }
    const std::string models = argv[1], shared = argv[2], bad_dir = argv[3];
    set_error_hook(&hook);
#ifdef FACEKIT_NO_EXCEPTIONS
    std::printf("built without exceptions\n");
#endif

    refuse_bad_files(bad_dir, models);

    std::shared_ptr<const models::MtcnnNets<>> nets;
    std::unique_ptr<Embedder> embedder;
    Status s = load_networks(models, nets, embedder);
    if (!s) {
        std::fprintf(stderr, "FAILED: %s\n", s.message().c_str());
        return 1;
    }
    Detector<> detector(nets);
    Json ref;
    std::string why;
    if (!Json::try_parse(read_text(shared + "/reference/mtcnn/detections.json"), ref, why) || !ref.is_object()) {
        std::fprintf(stderr, "FAILED: detections.json: %s\n", why.c_str());
        return 1;
    }
    std::FILE* out = std::fopen(argv[4], "w");
    if (!out) return 1;
    // every photo, or every n-th with FACEKIT_TEST_EVERY=n (the sanitizer stage of CI)
    const char* every_env = std::getenv("FACEKIT_TEST_EVERY");
    const int every = every_env && std::atoi(every_env) > 0 ? std::atoi(every_env) : 1;
    int photos = 0, faces = 0, seen = 0, reference_faces = 0;
    for (auto& [name, entry] : ref.object()) {
        if (name == "_settings" || seen++ % every) continue;
        reference_faces += int(entry.find("boxes")->array().size());
        Image img;
        s = try_load_image(shared + "/data/images/png/" + name + ".png", img);
        check(s.ok(), s.message());
        if (!s) continue;
        const std::vector<Detection> found = detector.detect(img);
        const Json::Array& boxes = entry.find("boxes")->array();
        check(found.size() == boxes.size(), name + ": " + std::to_string(found.size()) + " faces, reference " +
                                                std::to_string(boxes.size()));
        for (std::size_t i = 0; i < found.size() && i < boxes.size(); ++i) {
            std::array<float, 4> want{};
            for (int k = 0; k < 4; ++k) want[std::size_t(k)] = float(boxes[i].array()[std::size_t(k)].number());
            check(iou(found[i].box, want) >= 0.99f, name + ": face " + std::to_string(i) + " IoU below 0.99");
            const Embedding e = embedder->embed(embedder->align(img, found[i]));
            double norm = 0;
            for (float x : e) norm += double(x) * x;
            check(e.size() == 192 && std::abs(norm - 1.0) < 1e-5, name + ": embedding is not a unit 192-vector");
            std::fprintf(out, "%s %zu", name.c_str(), i);
            for (float v : found[i].box) std::fprintf(out, " %a", double(v));
            for (float v : e) std::fprintf(out, " %a", double(v));
            std::fprintf(out, "\n");
            ++faces;
        }
        ++photos;
    }
    std::fclose(out);
    check(photos == 36 / every + 1 && faces == reference_faces && (every > 1 || faces == 100),
          "37 photos and 100 faces (or every n-th), got " + std::to_string(photos) + " and " + std::to_string(faces));
    std::printf("%d photos, %d faces detected and embedded; %d failures\n", photos, faces, failures);
    return failures == 0 ? 0 : 1;
}
