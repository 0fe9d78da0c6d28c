// facekit: the command-line tool (contract: ../shared/CLI.md).
// Exit status: 0 success; 1 runtime error (one line on stderr, "facekit: error: …"); 2 usage error.
#include <iostream>
#include <string>
#include <vector>

#include "cmd_bench.hpp"
#include "cmd_eval.hpp"
#include "cmd_faces.hpp"
#include "cmd_gallery.hpp"

namespace {

const char* kUsage = R"(usage: facekit COMMAND [OPTIONS] ...

commands:
  detect   [--min-face 20] [--thresholds 0.6,0.7,0.7] [--factor 0.709] [--draw DIR] IMAGE...
  embed    [--model M] [--aligned] [--largest] [--flip] [--out FILE.safetensors] IMAGE...
  compare  [--model M] [--threshold T] IMAGE_A IMAGE_B
  gallery enroll   --gallery FILE [--model M] [--int8] NAME IMAGE...
  gallery identify --gallery FILE [--k 5] [--threshold T] [--draw DIR] IMAGE...
  gallery list     --gallery FILE
  gallery remove   --gallery FILE NAME
  cluster  [--algorithm dbscan|chinese-whispers] [--threshold T] [--min-samples 2] [--evaluate] IMAGE_OR_DIR...
  lfw      --pairs PAIRS.txt --images DIR [--model M] [--flip] [--folds 10]
  bench    [--model facenet|mobilefacenet|mtcnn|gallery] [--batch 1] [--backend xsimd|eigen|scalar] [--reps 100] [--image FILE]
           gallery: [--size 1000000] [--dim 192] [--int8] [--k 5]

common options:
  --models DIR     converted weights (default: $FACEKIT_MODELS, else the set-up's build/models)
  --model M        facenet or mobilefacenet (default mobilefacenet; bench: facenet)
  --weights FILE   weights file overriding the models directory's
  --threads N      worker threads (default: all cores)

`facekit COMMAND --help` shows one command.
)";

int help(const std::string& cmd) {
    const std::string u = kUsage;
    const auto at = u.find("  " + cmd + " ");
    if (at == std::string::npos) {
        std::cout << kUsage;
    } else {
        std::cout << "usage: facekit" << u.substr(at + 1, u.find('\n', at) - at - 1) << "\n\n"
                  << u.substr(u.find("common options:"));
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kUsage;
        return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    args.erase(args.begin());
    for (const std::string& a : args)
        if (a == "--help" || a == "-h") return help(cmd);
    try {
        if (cmd == "detect") return cli::cmd_detect(args);
        if (cmd == "embed") return cli::cmd_embed(args);
        if (cmd == "compare") return cli::cmd_compare(args);
        if (cmd == "bench") return cli::cmd_bench(args);
        if (cmd == "lfw") return cli::cmd_lfw(args);
        if (cmd == "gallery") return cli::cmd_gallery(args);
        if (cmd == "cluster") return cli::cmd_cluster(args);
        throw cli::UsageError("unknown command \"" + cmd + "\"");
    } catch (const cli::UsageError& e) {
        std::cerr << "facekit: usage error: " << e.what() << " (see facekit --help)\n";
        return 2;
    } catch (const std::bad_alloc&) {
        std::cerr << "facekit: error: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "facekit: error: " << e.what() << "\n";
        return 1;
    }
}
