// FaceNet Inception-ResNet-v1 and MobileFaceNet against their references (facenet-pytorch and
// TensorFlow Lite's own runtime), and end to end from photo to embedding.
#include <iomanip>

#include "facekit/detect/detector.hpp"
#include "facekit/embed/embedder.hpp"
#include "reference.hpp"

using namespace facekit;
using namespace facekit::test;

namespace {
ThreadPool& pool() {
    static ThreadPool p(2);
    return p;
}
double cosine(const float* a, const float* b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
    return ab / std::sqrt(aa * bb);
}
/// NCHW (or N×C) reference activation vs our NHWC view: max |Δ| / max |reference|.
double relative_error(ConstView got, const std::vector<float>& ref) {
    const Shape s = got.shape;
    REQUIRE(ref.size() == s.numel());
    double worst = 0, scale = 0;
    for (int c = 0; c < s.c; ++c)
        for (int y = 0; y < s.h; ++y)
            for (int x = 0; x < s.w; ++x) {
                const float r = ref[(std::size_t(c) * s.h + y) * s.w + x];
                worst = std::max(worst, double(std::abs(got.pixel(0, y, x)[c] - r)));
                scale = std::max(scale, double(std::abs(r)));
            }
    return worst / scale;
}
}  // namespace

TEST_CASE("Inception-ResNet-v1: every recorded activation within 2e-5 relative error") {
    auto st = SafeTensors::open(model("facenet-synthetic.safetensors"));
    models::InceptionResnetV1<> net(st);
    auto ref = SafeTensors::open(shared("reference/facenet/irv1-synthetic-embeddings.safetensors"));
    Tensor all = nhwc_from_nchw(ref, "input");
    ConstView first = all.view().batch(0, 1);
    Workspace ws;
    int seen = 0;
    net.forward(first, ws, Context{&pool(), &ws}, [&](const std::string& name, ConstView v) {
        if (!ref.contains("activations." + name)) return;
        double e = relative_error(v, ref.floats("activations." + name));
        CAPTURE(name);
        MESSAGE(name << ": max |Δ| / max |ref| = " << e);
        CHECK(e <= 2e-5);  // README: <= 8.7e-6
        ++seen;
    });
    // last_linear is not observable on its own: its BatchNorm is folded into it (we compare last_bn).
    CHECK(seen == 15);
}

TEST_CASE("Inception-ResNet-v1: embeddings of all 100 reference crops, cosine >= 0.99999") {
    auto st = SafeTensors::open(model("facenet-synthetic.safetensors"));
    auto net = std::make_shared<const models::InceptionResnetV1<>>(st);
    NetEmbedder<models::InceptionResnetV1<>> emb(net, "facenet", &pool());
    auto ref = SafeTensors::open(shared("reference/facenet/irv1-synthetic-embeddings.safetensors"));
    Json order = Json::parse(ref.metadata("crop_order"));
    REQUIRE(order.array().size() == 100);
    // The stored input is exactly (png − 127.5)/128: check our preprocessing on the first crop.
    Image first = load_image(shared("reference/mtcnn/crops/" + order[0].string()));
    Tensor in = nhwc_from_nchw(ref, "input");
    std::vector<float> mine(160 * 160 * 3);
    Embedder::standardize(first, false, mine.data());
    CHECK(std::memcmp(mine.data(), in.data(), mine.size() * sizeof(float)) == 0);
    std::vector<Image> crops;  // every crop (every test_every()-th under emulation)
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < 100; i += std::size_t(test_every())) {
        crops.push_back(load_image(shared("reference/mtcnn/crops/" + order[i].string())));
        rows.push_back(i);
    }
    auto got = emb.embed(crops);
    auto want = ref.floats("embedding_all", {100, 512});
    double worst = 1;
    for (std::size_t k = 0; k < rows.size(); ++k) worst = std::min(worst, cosine(got[k].data(), &want[rows[k] * 512], 512));
    MESSAGE("worst cosine over " << rows.size() << " crops: 1 - " << std::setprecision(3) << (1.0 - worst));
    CHECK(worst >= 0.99999);
}

TEST_CASE("MobileFaceNet matches TensorFlow Lite on the 46 reference crops") {
    auto st = SafeTensors::open(model("mobilefacenet.safetensors"));
    auto net = std::make_shared<const models::MobileFaceNet<>>(st);
    auto ref = SafeTensors::open(shared("reference/mobilefacenet/mobilefacenet_tflite-embeddings.safetensors"));
    Json names = Json::parse(ref.metadata("names"));
    const std::size_t n = names.array().size();
    REQUIRE(n == 46);
    std::vector<Image> crops;
    for (auto& name : names.array()) crops.push_back(load_image(shared("reference/mobilefacenet/crops/" + name.string() + ".png")));
    // Preprocessing reproduces the stored input exactly.
    auto input = ref.floats("input", {46, 112, 112, 3});
    std::vector<float> mine(112 * 112 * 3);
    std::size_t mismatched = 0;
    for (std::size_t i = 0; i < n; ++i) {
        Embedder::standardize(crops[i], false, mine.data());
        mismatched += std::memcmp(mine.data(), &input[i * mine.size()], mine.size() * sizeof(float)) != 0;
    }
    CHECK(mismatched == 0);
    // Raw outputs, straight from the network.
    Workspace ws;
    Tensor batch(Shape(46, 112, 112, 3));
    std::copy(input.begin(), input.end(), batch.data());
    ConstView raw = net->forward(batch, ws, Context{&pool(), &ws}, /*normalize=*/false);
    auto want = ref.floats("embedding", {46, 192});
    double worst_rel = 0, worst_norm = 0, worst_cos = 1;
    for (std::size_t i = 0; i < n; ++i) {
        double diff = 0, norm = 0;
        for (int d = 0; d < 192; ++d) {
            diff += std::pow(raw.pixel(i)[d] - want[i * 192 + d], 2);
            norm += std::pow(want[i * 192 + d], 2);
        }
        worst_rel = std::max(worst_rel, std::sqrt(diff / norm));
        worst_cos = std::min(worst_cos, cosine(raw.pixel(i), &want[i * 192], 192));
        for (int d = 0; d < 192; ++d)
            worst_norm = std::max(worst_norm, std::abs(raw.pixel(i)[d] / std::sqrt(norm) - want[i * 192 + d] / std::sqrt(norm)));
    }
    MESSAGE(std::setprecision(10) << "raw ‖Δ‖/‖e‖ " << worst_rel << ", normalised max |Δ| " << worst_norm << ", worst cosine " << worst_cos);
    CHECK(worst_rel <= 5e-6);   // README: 1.7e-6
    CHECK(worst_norm <= 2e-6);  // README: 5.7e-7
    CHECK(worst_cos >= 0.99999);
    // The embedder: normalised, and the flip variant against the mirrored-crop reference.
    NetEmbedder<models::MobileFaceNet<>> emb(net, "mobilefacenet", &pool());
    auto plain = emb.embed(crops);
    auto flipped_ref = ref.floats("embedding_hflip", {46, 192});
    emb.set_options({true, 8});
    auto flip = emb.embed(crops);
    double worst_flip = 1;
    for (std::size_t i = 0; i < n; ++i) {
        Embedding a(&want[i * 192], &want[i * 192] + 192), b(&flipped_ref[i * 192], &flipped_ref[i * 192] + 192);
        Embedder::normalize(a), Embedder::normalize(b);
        Embedding expect(192);
        for (int d = 0; d < 192; ++d) expect[d] = a[d] + b[d];
        Embedder::normalize(expect);
        worst_flip = std::min(worst_flip, cosine(flip[i].data(), expect.data(), 192));
        CHECK(cosine(plain[i].data(), a.data(), 192) >= 0.9999);
    }
    MESSAGE("flip: worst cosine " << std::setprecision(10) << worst_flip);
    CHECK(worst_flip >= 0.9999);
}

TEST_CASE("end to end: photo -> MTCNN -> alignment -> embedding agrees with the references") {
    auto nets = models::MtcnnNets<>::load(models_dir());
    Detector<> det(nets, {}, &pool());
    Image photo = load_image(shared("data/images/png/multiface.png"));
    auto faces = det.detect(photo);
    REQUIRE(faces.size() == 6);
    // MobileFaceNet: multiface_0..5 are the six faces sorted by box x0, aligned to the ArcFace template.
    auto mfn = load_embedder("mobilefacenet", models_dir(), &pool());
    auto by_x = faces;
    std::sort(by_x.begin(), by_x.end(), [](const Detection& a, const Detection& b) { return a.box[0] < b.box[0]; });
    std::vector<Image> aligned;
    for (auto& f : by_x) aligned.push_back(mfn->align(photo, f));
    auto got = mfn->embed(aligned);
    auto ref = SafeTensors::open(shared("reference/mobilefacenet/mobilefacenet_tflite-embeddings.safetensors"));
    Json names = Json::parse(ref.metadata("names"));
    auto want = ref.floats("embedding");
    for (int k = 0; k < 6; ++k) {
        std::size_t row = 40 + std::size_t(k);
        REQUIRE(names[row].string() == "multiface_" + std::to_string(k));
        Image crop_ref = load_image(shared("reference/mobilefacenet/crops/multiface_" + std::to_string(k) + ".png"));
        double diff = 0;
        for (std::size_t i = 0; i < crop_ref.pixels.size(); ++i) diff += std::abs(int(crop_ref.pixels[i]) - int(aligned[k].pixels[i]));
        double c = cosine(got[k].data(), &want[row * 192], 192);
        MESSAGE("multiface_" << k << ": aligned crop mean |Δ| " << diff / double(crop_ref.pixels.size()) << ", cosine " << c);
        // our landmarks, not the reference's floats, place the crop: a few samples one level apart
        CHECK(diff / double(crop_ref.pixels.size()) <= 0.01);
        CHECK(c >= 0.99999);
    }
    // FaceNet: the 160×160 crops of the same detections against embedding_all (multiface rows 0..5).
    auto fn = load_embedder("facenet", models_dir(), &pool(), model("facenet-synthetic.safetensors"), SyntheticWeights::Allow);
    auto fref = SafeTensors::open(shared("reference/facenet/irv1-synthetic-embeddings.safetensors"));
    auto fwant = fref.floats("embedding_all");
    std::vector<Image> crops;
    for (auto& f : faces) crops.push_back(fn->align(photo, f));
    auto fgot = fn->embed(crops);
    for (int k = 0; k < 6; ++k) CHECK(cosine(fgot[k].data(), &fwant[std::size_t(k) * 512], 512) >= 0.99999);
}

TEST_CASE("weights marked synthetic are refused unless allowed; a missing FaceNet says it is not installed") {
    const std::string synthetic = model("facenet-synthetic.safetensors");
    CHECK_THROWS_WITH(load_embedder("facenet", models_dir(), nullptr, synthetic),
                      (synthetic + ": is a synthetic test checkpoint (irv1-synthetic.pt): its embeddings identify nobody; "
                                   "convert the real weights (README.md, Weights)").c_str());
    CHECK(load_embedder("facenet", models_dir(), nullptr, synthetic, SyntheticWeights::Allow)->dim() == 512);
    CHECK(load_embedder("mobilefacenet", models_dir())->dim() == 192);  // real weights: accepted
    const std::string empty_dir = temp_path("no-models");
    CHECK_THROWS_WITH(load_embedder("facenet", empty_dir),
                      (empty_dir + "/facenet.safetensors: FaceNet is not installed: convert 20180402-114759-vggface2.pt "
                                   "from the facenet-pytorch releases with weights_converter/convert.py (see README.md, "
                                   "Weights)").c_str());
}
