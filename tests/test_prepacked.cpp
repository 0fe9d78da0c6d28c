// Packed weights files (include/facekit/engine/prepacked.hpp): networks loaded from them read every packed
// array where it lies (in the caller's bytes or the file's mapping, never copied), give bit for bit the
// detections and embeddings of the float files, and a packed file that does not fit is refused by name.
#include <cmath>
#include <cstring>

#include "facekit/engine/prepacked_writer.hpp"
#include "facekit/facekit.hpp"
#include "reference.hpp"

using namespace facekit;
using namespace facekit::test;
using B = nn::DefaultBackend;

namespace {

/// Bytes kept 64-byte aligned (where a firmware's linker puts an `alignas(64)` array), at `offset`.
struct Flash {
    AlignedBuffer<unsigned char> buffer;
    std::size_t offset = 0, size = 0;
    explicit Flash(const std::string& bytes, std::size_t at = 0) : buffer(bytes.size() + at), offset(at), size(bytes.size()) {
        std::memcpy(buffer.data() + at, bytes.data(), bytes.size());
    }
    const unsigned char* data() const { return buffer.data() + offset; }
    bool holds(const float* p) const {
        auto* c = reinterpret_cast<const unsigned char*>(p);
        return c >= data() && c < data() + size;
    }
    SafeTensors open(const std::string& name) const { return SafeTensors::from_memory(data(), size, name); }
};

std::string packed_bytes(const std::string& name) {
    SafeTensors st = SafeTensors::open(model(name + ".safetensors"));
    const std::string by = "test";
    if (name == "pnet") { models::PNet<B> n(st); return models::packed_weights_file<B>(n, st, by); }
    if (name == "rnet") { models::RNet<B> n(st); return models::packed_weights_file<B>(n, st, by); }
    if (name == "onet") { models::ONet<B> n(st); return models::packed_weights_file<B>(n, st, by); }
    models::MobileFaceNet<B> n(st);
    return models::packed_weights_file<B>(n, st, by);
}

/// Counts the network's packed arrays, and those read in place from `flash` (null: borrowed from anywhere).
template <class Net>
std::pair<int, int> arrays_in_place(Net& net, const Flash* flash) {
    int arrays = 0, in_place = 0;
    net.for_each_layer([&](auto& layer) {
        layer.for_each_packed_array([&](const char*, const PackedArray& a) {
            if (!a.size()) return;
            ++arrays;
            in_place += a.borrowed() && (!flash || flash->holds(a.data()));
        });
    });
    return {arrays, in_place};
}

/// The same file with some metadata changed and tensors dropped, added or replaced.
std::string edited(const SafeTensors& st, std::map<std::string, std::string> meta_changes, const std::string& drop = "",
                   const std::string& nan_in = "", bool extra = false) {
    std::vector<std::vector<float>> values;
    std::vector<NamedTensor> tensors;
    for (const TensorInfo& t : st.tensors()) {
        if (t.name == drop) continue;
        values.push_back(st.floats(t.name));
        if (t.name == nan_in) values.back()[0] = std::nanf("");
    }
    if (extra) values.emplace_back(16, 0.0f);
    std::size_t k = 0;
    for (const TensorInfo& t : st.tensors())
        if (t.name != drop) tensors.push_back({t.name, t.shape, values[k++].data()});
    if (extra) tensors.push_back({"layer99.weights", {16}, values.back().data()});
    std::map<std::string, std::string> meta = st.all_metadata();
    for (auto& [key, v] : meta_changes) meta[key] = v;
    return serialize_safetensors(tensors, meta);
}

std::string refusal(const std::string& bytes) {
    SafeTensors st = SafeTensors::from_memory(bytes.data(), bytes.size(), "<packed>");
    Status s;
    models::PNet<B> net(st, &s);
    return s.message();
}

}  // namespace

TEST_CASE("packed MTCNN and MobileFaceNet read in place give the float files' faces and embeddings, bit for bit") {
    const Flash p(packed_bytes("pnet")), r(packed_bytes("rnet")), o(packed_bytes("onet")), m(packed_bytes("mobilefacenet"));
    const SafeTensors ps = p.open("pnet"), rs = r.open("rnet"), os = o.open("onet"), ms = m.open("mobilefacenet");
    CHECK(ps.metadata("packed_layout") == nn::packed_layout<B>());
    CHECK(ms.metadata("architecture") == "mobilefacenet");
    auto packed_nets = std::make_shared<models::MtcnnNets<B>>(ps, rs, os);
    auto packed_net = std::make_shared<models::MobileFaceNet<B>>(ms);

    // every array is read where it lies: PNet 4 layers, RNet 5, ONet 6, MobileFaceNet 50
    const std::pair<int, int> counts[] = {arrays_in_place(packed_nets->pnet, &p), arrays_in_place(packed_nets->rnet, &r),
                                          arrays_in_place(packed_nets->onet, &o), arrays_in_place(*packed_net, &m)};
    for (auto [arrays, in_place] : counts) {
        CHECK(arrays > 0);
        CHECK(in_place == arrays);
    }

    Detector<B> packed_detector(packed_nets), float_detector(models::MtcnnNets<B>::load(models_dir()));
    NetEmbedder<models::MobileFaceNet<B>> packed_embedder(packed_net, "mobilefacenet", nullptr);
    auto float_embedder = load_embedder("mobilefacenet", models_dir());
    Json ref = load_json(shared("reference/mtcnn/detections.json"));
    int photos = 0, faces = 0, reference_faces = 0;
    for (auto& [name, entry] : ref.object()) {
        if (name == "_settings" || photos++ % test_every()) continue;
        reference_faces += int(entry.find("boxes")->array().size());
        const Image img = load_image(shared("data/images/png/" + name + ".png"));
        const std::vector<Detection> want = float_detector.detect(img), got = packed_detector.detect(img);
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            CHECK(got[i].box == want[i].box);
            for (std::size_t k = 0; k < got[i].landmarks.size(); ++k) {
                CHECK(got[i].landmarks[k].x == want[i].landmarks[k].x);
                CHECK(got[i].landmarks[k].y == want[i].landmarks[k].y);
            }
            CHECK(got[i].score == want[i].score);
            const Embedding e = packed_embedder.embed(packed_embedder.align(img, got[i]));
            CHECK(e == float_embedder->embed(float_embedder->align(img, want[i])));
            ++faces;
        }
    }
    CHECK(faces == reference_faces);  // 100 for all 37 photos
    CHECK((test_every() > 1 || faces == 100));
}

TEST_CASE("a packed file on disk is read from its mapping, which the network keeps alive") {
    const std::string path = temp_path("pnet-packed.safetensors");
    write_bytes(path, packed_bytes("onet"));
    std::unique_ptr<models::ONet<B>> net;
    {
        SafeTensors st = SafeTensors::open(path);
        net = std::make_unique<models::ONet<B>>(st);
    }  // the SafeTensors is gone; the arrays still point into the mapping it made
    auto [arrays, in_place] = arrays_in_place(*net, nullptr);
    CHECK(in_place == arrays);
    models::ONet<B> reference(SafeTensors::open(model("onet.safetensors")));
    Tensor x(Shape(2, 48, 48, 3));
    for (std::size_t i = 0; i < std::size_t(x.shape().numel()); ++i) x.data()[i] = float(std::sin(double(i))) * 0.9f;
    Workspace ws1, ws2;
    const View a = net->forward(x, ws1, Context{}), b = reference.forward(x, ws2, Context{});
    REQUIRE(a.shape == b.shape);
    CHECK(std::memcmp(a.data, b.data, std::size_t(a.shape.numel()) * sizeof(float)) == 0);
    std::remove(path.c_str());
}

TEST_CASE("packed bytes that are not 64-byte aligned are copied once, with the same results") {
    const Flash odd(packed_bytes("pnet"), 4);
    models::PNet<B> net(odd.open("pnet"));
    auto [arrays, in_place] = arrays_in_place(net, &odd);
    CHECK(arrays > 0);
    CHECK(in_place == 0);
    models::PNet<B> reference(SafeTensors::open(model("pnet.safetensors")));
    Tensor x(Shape(1, 40, 31, 3));
    for (std::size_t i = 0; i < std::size_t(x.shape().numel()); ++i) x.data()[i] = float(std::cos(double(i) * 0.7));
    Workspace ws1, ws2;
    const View a = net.forward(x, ws1, Context{}), b = reference.forward(x, ws2, Context{});
    CHECK(std::memcmp(a.data, b.data, std::size_t(a.shape.numel()) * sizeof(float)) == 0);
}

TEST_CASE("a packed file that does not fit is refused, naming the file and the array") {
    const std::string bytes = packed_bytes("pnet");
    const SafeTensors st = SafeTensors::from_memory(bytes.data(), bytes.size(), "<packed>");
    const std::string other = std::string(nn::packed_layout<B>()) == "xsimd-f32-w4-v1" ? "xsimd-f32-w16-v1" : "xsimd-f32-w4-v1";
    CHECK(refusal(edited(st, {{"packed_layout", other}})) ==
          "<packed>: is packed for layout \"" + other + "\", but this build's backend reads \"" + nn::packed_layout<B>() +
              "\": load the float weights, or pack them with this build (facekit pack)");
    CHECK(refusal(edited(st, {}, "layer1.weights")) == "<packed>: packed array \"layer1.weights\" not found (packed for another network?)");
    CHECK(refusal(edited(st, {}, "", "layer2.bias")) == "<packed>: packed array \"layer2.bias\" has a non-finite value");
    CHECK(refusal(edited(st, {}, "", "", true)) == "<packed>: holds " + std::to_string(st.tensors().size() + 1) +
                                                       " packed arrays, the network reads " + std::to_string(st.tensors().size()) +
                                                       " (packed for another network?)");
    // another network's packed file: its arrays have other sizes
    const std::string rnet = packed_bytes("rnet");
    CHECK(refusal(edited(SafeTensors::from_memory(rnet.data(), rnet.size()), {{"architecture", "pnet"}}))
              .rfind("<packed>: packed array \"layer0.weights\" is not ", 0) == 0);
    // the backends that pack nothing, and FaceNet, read float files only
    {
        Status s;
        models::PNet<nn::ReferenceBackend> net(st, &s);
        CHECK(s.message() == "<packed>: is packed for layout \"" + std::string(nn::packed_layout<B>()) +
                                 "\", but this build's backend packs nothing: load the float weights, or pack them with this build (facekit pack)");
    }
    {
        const std::string irv1 = edited(st, {{"architecture", "inception_resnet_v1"}});
        Status s;
        models::InceptionResnetV1<B> net(SafeTensors::from_memory(irv1.data(), irv1.size(), "<packed>"), &s);
        CHECK(s.message() == "<packed>: is a packed weights file; inception_resnet_v1 loads converted float weights only");
    }
}
