// libFuzzer target: the facekit tool's argument parsing. The input is split at NUL bytes into arguments
// and parsed against every command's option table, then each option is read the way the commands read
// them. Every input parses or throws UsageError (exit status 2 in the tool): nothing else, no crash.
#include <cmd_bench.hpp>
#include <cmd_cluster.hpp>
#include <cmd_compare.hpp>
#include <cmd_detect.hpp>
#include <cmd_embed.hpp>
#include <cmd_gallery.hpp>
#include <cmd_lfw.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> argv;
    std::string arg;
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == 0) argv.push_back(arg), arg.clear();
        else arg += char(data[i]);
    }
    argv.push_back(arg);
    for (const cli::Command* c : {&cli::kDetect, &cli::kEmbed, &cli::kCompare, &cli::kGalleryEnroll, &cli::kGalleryIdentify,
                                  &cli::kGalleryList, &cli::kGalleryRemove, &cli::kCluster, &cli::kLfw, &cli::kBench}) {
        try {
            cli::Args a(argv, *c);
            for (const cli::Option& o : c->options) {
                if (o.value.empty()) {
                    (void)a.flag(o.name);
                    continue;
                }
                (void)a.get(o.name);
                if (o.name == "min-face" || o.name == "k" || o.name == "batch" || o.name == "dim" || o.name == "size" ||
                    o.name == "min-samples")
                    (void)a.integer(o.name, 1, 1000000);
                if (o.name == "threads" || o.name == "reps") (void)a.integer(o.name, 0, 1, 256);
                if (o.name == "factor") (void)a.number(o.name, 1e-3, 0.999);
                if (o.name == "threshold") (void)a.number(o.name, 1.0, 0, 4);
                if (o.name == "model" && c != &cli::kBench) (void)cli::model_name(a);
                if (o.name == "thresholds" || o.name == "min-face") (void)cli::detector_options(a);
                if (o.name == "algorithm") (void)a.choice(o.name, {"dbscan", "chinese-whispers"});
                if (o.name == "draw-format") (void)a.choice(o.name, {"jpg", "png"});
            }
        } catch (const cli::UsageError&) {
        }
    }
    return 0;
}
