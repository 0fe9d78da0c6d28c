// libFuzzer target: the strict JSON reader that parses safetensors headers and graph metadata. Any input
// parses or throws facekit::Error (never anything else, never a crash); a parsed object finds each of its
// keys, and its writer's strings read back.
#include <facekit/engine/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const facekit::Json j = facekit::Json::parse(text);
        if (j.is_object())
            for (const auto& [key, value] : j.object())
                if (j.find(key) != &value) __builtin_trap();
    } catch (const facekit::Error&) {
    }
    // any bytes written as a JSON string must parse back as a string
    std::string literal;
    facekit::json::write_string(literal, text);
    if (!facekit::Json::parse(literal).is_string()) __builtin_trap();
    return 0;
}
