// libFuzzer target: LFW pairs.txt parsing.
#include <facekit/eval/lfw.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto p = facekit::eval::parse_lfw_pairs(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
        if (p.pairs.size() != std::size_t(p.folds) * 2 * std::size_t(p.per_fold)) __builtin_trap();
        for (auto& pair : p.pairs) (void)facekit::eval::lfw_image_path("dir", pair.name1, pair.index1);
    } catch (const facekit::FileError&) {
    }
    return 0;
}
