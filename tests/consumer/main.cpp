// Uses the installed headers: runs one convolution and reads a safetensors buffer from memory.
#include <facekit/facekit.hpp>

#include <cstdio>
#include <cstring>
#include <string>

int main() {
    using namespace facekit;
    nn::Conv2d<nn::DefaultBackend> conv(nn::linear_spec({1.0f, 2.0f}, 2, 1, {0.5f}));
    Tensor in(Shape(1, 1, 1, 2)), out(Shape(1, 1, 1, 1));
    in[0] = 3.0f, in[1] = 4.0f;
    Workspace ws;
    conv.forward(in, out, Context{nullptr, &ws});
    std::string json = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    std::string file(8, '\0');
    file[0] = char(json.size());
    file += json;
    float v = 7.0f;
    file.append(reinterpret_cast<const char*>(&v), 4);
    auto st = SafeTensors::from_memory(file.data(), file.size());
    std::printf("facekit %s: conv %.1f, tensor %.1f\n", FACEKIT_VERSION_STRING, out[0], st.floats("x")[0]);
    return out[0] == 11.5f && st.floats("x")[0] == 7.0f ? 0 : 1;
}
