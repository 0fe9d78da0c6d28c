// The weights reader: every converted model loads with the expected tensor names and shapes, and a
// corpus of broken files is refused with a message naming the file, the tensor and the problem.
#include <cstring>
#include <map>

#include "facekit/engine/safetensors.hpp"
#include "support.hpp"

using namespace facekit;
using facekit::test::model;

namespace {
using Shapes = std::map<std::string, std::vector<std::int64_t>>;

// The MTCNN layouts, as facenet-pytorch defines the modules (conv OIHW, linear [out][in]).
const Shapes kPNet = {{"conv1.weight", {10, 3, 3, 3}}, {"conv1.bias", {10}}, {"prelu1.weight", {10}},
                      {"conv2.weight", {16, 10, 3, 3}}, {"conv2.bias", {16}}, {"prelu2.weight", {16}},
                      {"conv3.weight", {32, 16, 3, 3}}, {"conv3.bias", {32}}, {"prelu3.weight", {32}},
                      {"conv4_1.weight", {2, 32, 1, 1}}, {"conv4_1.bias", {2}}, {"conv4_2.weight", {4, 32, 1, 1}},
                      {"conv4_2.bias", {4}}};
const Shapes kRNet = {{"conv1.weight", {28, 3, 3, 3}}, {"conv1.bias", {28}}, {"prelu1.weight", {28}},
                      {"conv2.weight", {48, 28, 3, 3}}, {"conv2.bias", {48}}, {"prelu2.weight", {48}},
                      {"conv3.weight", {64, 48, 2, 2}}, {"conv3.bias", {64}}, {"prelu3.weight", {64}},
                      {"dense4.weight", {128, 576}}, {"dense4.bias", {128}}, {"prelu4.weight", {128}},
                      {"dense5_1.weight", {2, 128}}, {"dense5_1.bias", {2}}, {"dense5_2.weight", {4, 128}},
                      {"dense5_2.bias", {4}}};
const Shapes kONet = {{"conv1.weight", {32, 3, 3, 3}}, {"conv1.bias", {32}}, {"prelu1.weight", {32}},
                      {"conv2.weight", {64, 32, 3, 3}}, {"conv2.bias", {64}}, {"prelu2.weight", {64}},
                      {"conv3.weight", {64, 64, 3, 3}}, {"conv3.bias", {64}}, {"prelu3.weight", {64}},
                      {"conv4.weight", {128, 64, 2, 2}}, {"conv4.bias", {128}}, {"prelu4.weight", {128}},
                      {"dense5.weight", {256, 1152}}, {"dense5.bias", {256}}, {"prelu5.weight", {256}},
                      {"dense6_1.weight", {2, 256}}, {"dense6_1.bias", {2}}, {"dense6_2.weight", {4, 256}},
                      {"dense6_2.bias", {4}}, {"dense6_3.weight", {10, 256}}, {"dense6_3.bias", {10}}};

void check_layout(const SafeTensors& st, const Shapes& expected) {
    CHECK(st.tensors().size() == expected.size());
    for (const auto& tensor : expected) {
        const std::string& name = tensor.first;  // a variable, not a binding: doctest's CAPTURE takes it by reference
        const auto& shape = tensor.second;
        CAPTURE(name);
        REQUIRE(st.contains(name));
        CHECK(st.at(name).shape == shape);
        auto v = st.floats(name);
        CHECK(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
    }
}

std::string header_file(const std::string& json, const std::string& data) {
    std::string out(8, '\0');
    std::uint64_t n = json.size();
    for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xFF);
    return out + json + data;
}

std::string error_of(const std::string& bytes) {
    try {
        SafeTensors::from_memory(bytes.data(), bytes.size(), "bad.safetensors");
    } catch (const FileError& e) {
        return e.what();
    }
    return "(accepted)";
}
}  // namespace

TEST_CASE("converted MTCNN weights have facenet-pytorch's layout") {
    auto p = SafeTensors::open(model("pnet.safetensors"));
    check_layout(p, kPNet);
    CHECK(p.metadata("architecture") == "pnet");
    CHECK(p.metadata("source") == "pnet.pt");
    check_layout(SafeTensors::open(model("rnet.safetensors")), kRNet);
    check_layout(SafeTensors::open(model("onet.safetensors")), kONet);
}

TEST_CASE("converted FaceNet checkpoint keeps every upstream tensor but the classifier") {
    auto st = SafeTensors::open(model("facenet-synthetic.safetensors"));
    CHECK(st.metadata("architecture") == "inception_resnet_v1");
    // 716 entries upstream, minus logits.weight and logits.bias.
    CHECK(st.tensors().size() == 714);
    CHECK(st.at("conv2d_1a.conv.weight").shape == std::vector<std::int64_t>{32, 3, 3, 3});
    CHECK(st.at("block8.conv2d.weight").shape == std::vector<std::int64_t>{1792, 384, 1, 1});
    CHECK(st.at("last_linear.weight").shape == std::vector<std::int64_t>{512, 1792});
    CHECK(st.at("last_bn.num_batches_tracked").dtype == DType::I64);
    CHECK_FALSE(st.contains("logits.weight"));
    std::size_t values = 0;
    for (auto& t : st.tensors()) values += std::size_t(t.numel());
    CHECK(values == 23520544 - 16 * 512 - 16);  // README §2: 23,520,544 values with 16-class logits
}

TEST_CASE("converted MobileFaceNet keeps the TFLite graph") {
    auto st = SafeTensors::open(model("mobilefacenet.safetensors"));
    CHECK(st.metadata("architecture") == "mobilefacenet");
    auto graph = Json::parse(st.metadata("graph"));
    CHECK(graph.at("ops").array().size() == 230);
    CHECK(graph.at("inputs")[0].string() == "input");
    // Reference README: 137 float32 constants and one int32 (the reshape shape [2,192]), 1,292,994 values in
    // all; the float32 ones hold 1,292,992 of them.
    std::size_t floats = 0, float_tensors = 0, all = 0;
    for (auto& t : st.tensors()) {
        all += std::size_t(t.numel());
        if (t.dtype == DType::F32) floats += std::size_t(t.numel()), ++float_tensors;
    }
    CHECK(float_tensors == 137);
    CHECK(floats == 1292992);
    CHECK(all == 1292994);
    CHECK(st.at("MobileFaceNet/Logits/SpatialSqueeze_shape").dtype == DType::I32);
}

TEST_CASE("a safetensors file can be read from memory") {
    std::string json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}})";
    float vals[2] = {1.5f, -2.0f};
    std::string f = header_file(json, std::string(reinterpret_cast<char*>(vals), 8));
    auto st = SafeTensors::from_memory(f.data(), f.size());
    CHECK(st.floats("a", {2}) == std::vector<float>{1.5f, -2.0f});
    CHECK(st.metadata("k") == "v");
    CHECK_THROWS_WITH(st.floats("a", {3}), "<memory>: tensor \"a\" has shape [2], expected [3]");
    CHECK_THROWS_WITH(st.at("b"), "<memory>: tensor \"b\" not found");
}

TEST_CASE("broken safetensors files are refused with clear messages") {
    const std::string d8(8, '\0');
    auto t = [](const std::string& body) { return "{" + body + "}"; };
    CHECK(error_of("") == "bad.safetensors: not a safetensors file (shorter than its 8-byte header size)");
    CHECK(error_of(header_file("{}", "").substr(0, 9)).find("runs past the end of the file") != std::string::npos);
    std::string huge(8, '\xff');
    CHECK(error_of(huge + "{}").find("exceeds the limit") != std::string::npos);
    CHECK(error_of(header_file("{\"a\":", "")).find("bad header: JSON: unexpected end of input") != std::string::npos);
    CHECK(error_of(header_file("[1,2]", "")) == "bad.safetensors: bad header: not a JSON object");
    CHECK(error_of(header_file(t(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), d8))
              .find("duplicate key \"a\"") != std::string::npos);
    CHECK(error_of(header_file(t(R"("w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]})"), d8)) ==
          "bad.safetensors: tensor \"w\": unknown dtype Q4");
    CHECK(error_of(header_file(t(R"("w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), d8)) ==
          "bad.safetensors: tensor \"w\": shape [3] × 4 bytes does not match the 8 bytes of data_offsets");
    CHECK(error_of(header_file(t(R"("w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})"), d8)) ==
          "bad.safetensors: tensor \"w\": data_offsets end 16 is past the end of the data (8 bytes)");
    CHECK(error_of(header_file(t(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]})"), d8)) ==
          "bad.safetensors: tensor \"b\" overlaps the previous tensor's bytes");
    CHECK(error_of(header_file(t(R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]})"), d8)) ==
          "bad.safetensors: hole of 4 bytes before tensor \"a\"");
    CHECK(error_of(header_file(t(R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), d8)) ==
          "bad.safetensors: 4 bytes after the last tensor are not described by the header");
    CHECK(error_of(header_file(t(R"("a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), d8)) ==
          "bad.safetensors: tensor \"a\": shape has a dimension that is not a non-negative integer");
    CHECK(error_of(header_file(t(R"("a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]})"), d8)) ==
          "bad.safetensors: tensor \"a\": shape is too large");
    CHECK(error_of(header_file(t(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), d8)) ==
          "bad.safetensors: tensor \"a\": data_offsets [8,0] are invalid");
    CHECK(error_of(header_file(t(R"("a":{"dtype":"F32","shape":[2]})"), d8)) ==
          "bad.safetensors: tensor \"a\": entry must have exactly dtype, shape and data_offsets");
    CHECK(error_of(header_file(t(R"("__metadata__":{"k":1})"), "")) ==
          "bad.safetensors: __metadata__ value \"k\" is not a string");
}

TEST_CASE("a converted file truncated at any of several offsets is refused, never read past its end") {
    std::string full = facekit::test::read_text(model("pnet.safetensors"));
    for (std::size_t cut : {std::size_t(0), std::size_t(7), std::size_t(8), std::size_t(100), full.size() / 2,
                            full.size() - 1}) {
        CAPTURE(cut);
        std::string part = full.substr(0, cut);
        CHECK_THROWS_AS(SafeTensors::from_memory(part.data(), part.size(), "cut"), FileError);
    }
    CHECK_THROWS_WITH(SafeTensors::open("/nonexistent/x.safetensors"),
                      "/nonexistent/x.safetensors: cannot open: No such file or directory");
}
