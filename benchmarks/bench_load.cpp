// Memory of loading each network: the peak resident memory while its weights are read and packed, and
// what stays resident after the file is closed. Each network is loaded in a child process of its own,
// so that one's peak does not hide another's.
//   build/benchmarks/bench_load [MODELS_DIR]   (default: the build's converted models)
#include <facekit/facekit.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

/// A field of /proc/self/status in KiB (VmRSS: now, VmHWM: the peak so far).
long status_kib(const char* field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    const std::size_t n = std::strlen(field);
    while (std::getline(f, line))
        if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::stol(line.substr(n + 1));
    return -1;
}

long file_kib(const std::string& path) {
    struct stat sb {};
    return ::stat(path.c_str(), &sb) == 0 ? long(sb.st_size / 1024) : -1;
}

/// load() returns the network: it stays alive until the second reading.
void measure(const char* name, long file, const std::function<std::shared_ptr<const void>()>& load) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        // the peak is reset to the current size where the kernel allows it (writing 5 to clear_refs)
        std::ofstream("/proc/self/clear_refs") << "5";
        const long before = status_kib("VmRSS");
        const std::shared_ptr<const void> net = load();  // read, packed, the file closed
        std::printf("| %-14s | %8.1f | %9.1f | %9.1f |\n", name, file / 1024.0, (status_kib("VmHWM") - before) / 1024.0,
                    (status_kib("VmRSS") - before) / 1024.0);
        std::fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace facekit;
    const std::string dir = argc > 1 ? argv[1] : FACEKIT_DEFAULT_MODELS_DIR;
    std::printf("| network | file MiB | peak MiB while loading | resident MiB after |\n|---|---|---|---|\n");
    const std::string mfn = dir + "/mobilefacenet.safetensors", irv1 = dir + "/facenet-synthetic.safetensors";
    measure("MTCNN", file_kib(dir + "/pnet.safetensors") + file_kib(dir + "/rnet.safetensors") + file_kib(dir + "/onet.safetensors"),
            [&] { return std::shared_ptr<const void>(models::MtcnnNets<>::load(dir)); });
    measure("MobileFaceNet", file_kib(mfn),
            [&] { return std::shared_ptr<const void>(std::make_shared<models::MobileFaceNet<>>(SafeTensors::open(mfn))); });
    measure("IRv1", file_kib(irv1),
            [&] { return std::shared_ptr<const void>(std::make_shared<models::InceptionResnetV1<>>(SafeTensors::open(irv1))); });
}
