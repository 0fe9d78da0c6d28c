// libFuzzer target: weight files through every network's loader, structure-aware. The input is a header:
// its first byte picks a converted model (P-, R-, O-Net, MobileFaceNet, Inception-ResNet-v1), the rest is
// the safetensors JSON header put in front of that model's real tensor data. So the fuzzer mutates
// names, dtypes, shapes, offsets and the metadata (MobileFaceNet's operator graph among them) of a real
// file rather than bytes that never get past the reader. Every input loads or throws facekit::Error, and
// the recording form (the constructor given a Status*, which a build without exceptions relies on) must
// neither crash nor raise, and must record exactly the error the raising form throws.
// The models come from $FACEKIT_MODELS (run.sh sets it); seeds are the real headers (run.sh extracts them).
// Models 5 and 6 are P-Net and MobileFaceNet as packed weights files (engine/prepacked.hpp), packed here at
// start; with $FACEKIT_FUZZ_WRITE_SEEDS set to a folder, the fuzzer writes their seeds there and exits.
#include <facekit/embed/inception_resnet_v1.hpp>
#include <facekit/embed/mobilefacenet.hpp>
#include <facekit/detect/mtcnn.hpp>
#include <facekit/engine/prepacked_writer.hpp>
#include <facekit/io/image.hpp>  // detail::read_file

#include <cstdlib>
#include <cstring>

namespace {
constexpr const char* kModels[] = {"pnet", "rnet", "onet", "mobilefacenet", "facenet-synthetic", "pnet", "mobilefacenet"};
constexpr std::size_t kCount = 7, kFirstPacked = 5;

/// The file of model m: the converted one, or (m >= kFirstPacked) its packed weights file.
std::vector<std::uint8_t> model_file(std::size_t m, const std::string& dir) {
    const std::string path = dir + "/" + kModels[m] + ".safetensors";
    auto bytes = facekit::detail::read_file(path, std::size_t(1) << 30);
    if (m < kFirstPacked) return bytes;
    using B = facekit::nn::DefaultBackend;
    const facekit::SafeTensors st = facekit::SafeTensors::open(path);
    std::string packed;
    if (m == kFirstPacked) {
        facekit::models::PNet<B> net(st);
        packed = facekit::models::packed_weights_file<B>(net, st, "fuzz");
    } else {
        facekit::models::MobileFaceNet<B> net(st);
        packed = facekit::models::packed_weights_file<B>(net, st, "fuzz");
    }
    return std::vector<std::uint8_t>(packed.begin(), packed.end());
}
constexpr std::size_t kMaxHeader = 2000000;  // run.sh's -max_len
/// Per model, a buffer of kMaxHeader + 8 free bytes followed by the model's real tensor data: the fuzzed
/// header is written right in front of the data, so an execution copies no tensor bytes.
std::vector<std::vector<char>>& buffers() {
    static std::vector<std::vector<char>> b = [] {
        const char* dir = std::getenv("FACEKIT_MODELS");
        if (!dir) std::fprintf(stderr, "fuzz_weights: set FACEKIT_MODELS to the converted models\n"), std::abort();
        std::vector<std::vector<char>> out;
        const char* seeds = std::getenv("FACEKIT_FUZZ_WRITE_SEEDS");
        for (std::size_t m = 0; m < kCount; ++m) {
            auto bytes = model_file(m, dir);
            std::uint64_t n = 0;
            std::memcpy(&n, bytes.data(), 8);
            std::vector<char> buf(8 + kMaxHeader);
            buf.insert(buf.end(), bytes.begin() + 8 + std::ptrdiff_t(n), bytes.end());
            out.push_back(std::move(buf));
            if (seeds && m >= kFirstPacked) {  // one byte naming the model, then the header
                std::string seed(1, char(m));
                seed.append(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
                facekit::detail::write_file_atomic(std::string(seeds) + "/" + kModels[m] + "-packed", seed);
            }
        }
        if (seeds) std::exit(0);
        return out;
    }();
    return b;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (std::getenv("FACEKIT_FUZZ_WRITE_SEEDS")) buffers();  // writes the packed seeds and exits
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* in, std::size_t size) {
    if (size < 1 || size - 1 > kMaxHeader) return 0;
    const std::size_t model = in[0] % kCount;
    std::vector<char>& buf = buffers()[model];
    const std::uint64_t n = size - 1;
    char* start = buf.data() + kMaxHeader - n;  // 8 length bytes, the header, then the data at 8 + kMaxHeader
    std::memcpy(start, &n, 8);
    std::memcpy(start + 8, in + 1, n);
    using namespace facekit;
    SafeTensors st;
    if (!SafeTensors::try_from_memory(start, buf.size() - std::size_t(start - buf.data()), st, "fuzz")) return 0;
    auto load = [&](Status* errors) {
        switch (model) {
            case 0: (void)models::PNet<>(st, errors); break;
            case 1: (void)models::RNet<>(st, errors); break;
            case 2: (void)models::ONet<>(st, errors); break;
            case 3: (void)models::MobileFaceNet<>(st, errors); break;
            case 4: (void)models::InceptionResnetV1<>(st, errors); break;
            case 5: (void)models::PNet<>(st, errors); break;
            default: (void)models::MobileFaceNet<>(st, errors); break;
        }
    };
    std::string thrown;
    try {
        load(nullptr);
    } catch (const Error& e) {
        thrown = e.what();
    }
    Status recorded;
    try {
        load(&recorded);
    } catch (...) {
        __builtin_trap();  // the recording form raised
    }
    if (recorded.message() != thrown) __builtin_trap();
    return 0;
}
