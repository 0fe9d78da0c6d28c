// libFuzzer target: the safetensors reader, on arbitrary bytes. Any input must either parse or throw
// facekit::FileError; every tensor it accepts must lie inside the buffer.
#include <facekit/engine/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto st = facekit::SafeTensors::from_memory(data, size, "fuzz");
        for (const auto& t : st.tensors()) {
            if (t.bytes < data || t.bytes + t.nbytes > data + size) __builtin_trap();
            if (t.dtype == facekit::DType::F32) (void)st.floats(t.name);
        }
        (void)st.metadata("architecture");
    } catch (const facekit::FileError&) {
    }
    return 0;
}
