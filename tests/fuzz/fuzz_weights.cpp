// libFuzzer target: weight files through every network's loader, structure-aware. The input is a header:
// its first byte picks a converted model (P-, R-, O-Net, MobileFaceNet, Inception-ResNet-v1), the rest is
// the safetensors JSON header put in front of that model's real tensor data. So the fuzzer mutates
// names, dtypes, shapes, offsets and the metadata (MobileFaceNet's operator graph among them) of a real
// file rather than bytes that never get past the reader. Every input loads or throws facekit::Error, and
// the recording form (the constructor given a Status*, which a build without exceptions relies on) must
// neither crash nor raise, and must record exactly the error the raising form throws.
// The models come from $FACEKIT_MODELS (run.sh sets it); seeds are the real headers (run.sh extracts them).
#include <facekit/embed/inception_resnet_v1.hpp>
#include <facekit/embed/mobilefacenet.hpp>
#include <facekit/detect/mtcnn.hpp>
#include <facekit/io/image.hpp>  // detail::read_file

#include <cstdlib>
#include <cstring>

namespace {
constexpr const char* kModels[] = {"pnet", "rnet", "onet", "mobilefacenet", "facenet-synthetic"};
constexpr std::size_t kMaxHeader = 2000000;  // run.sh's -max_len
/// Per model, a buffer of kMaxHeader + 8 free bytes followed by the model's real tensor data: the fuzzed
/// header is written right in front of the data, so an execution copies no tensor bytes.
std::vector<std::vector<char>>& buffers() {
    static std::vector<std::vector<char>> b = [] {
        const char* dir = std::getenv("FACEKIT_MODELS");
        if (!dir) std::fprintf(stderr, "fuzz_weights: set FACEKIT_MODELS to the converted models\n"), std::abort();
        std::vector<std::vector<char>> out;
        for (const char* m : kModels) {
            const std::string path = std::string(dir) + "/" + m + ".safetensors";
            auto bytes = facekit::detail::read_file(path, std::size_t(1) << 30);
            std::uint64_t n = 0;
            std::memcpy(&n, bytes.data(), 8);
            std::vector<char> buf(8 + kMaxHeader);
            buf.insert(buf.end(), bytes.begin() + 8 + std::ptrdiff_t(n), bytes.end());
            out.push_back(std::move(buf));
        }
        return out;
    }();
    return b;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* in, std::size_t size) {
    if (size < 1 || size - 1 > kMaxHeader) return 0;
    const std::size_t model = in[0] % 5;
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
            default: (void)models::InceptionResnetV1<>(st, errors); break;
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
