// facekit: the command-line tool (contract: ../shared/CLI.md).
// Exit status: 0 success; 1 runtime error (one line on stderr, "facekit: error: …", or after a batch in
// which some image failed); 2 usage error.
#include <facekit/version.hpp>

#include <iostream>
#include <string>
#include <vector>

// one header per command
#include "cmd_bench.hpp"
#include "cmd_cluster.hpp"
#include "cmd_compare.hpp"
#include "cmd_detect.hpp"
#include "cmd_embed.hpp"
#include "cmd_gallery.hpp"
#include "cmd_lfw.hpp"
#include "cmd_pack.hpp"

namespace {

struct Entry {
    const cli::Command* command;
    int (*run)(const std::vector<std::string>&);
};

template <int (*F)(const cli::Args&), const cli::Command* C>
int gallery_sub(const std::vector<std::string>& argv) {
    return F(cli::Args(argv, *C));
}

const std::vector<Entry>& commands() {
    static const std::vector<Entry> all = {
        {&cli::kDetect, cli::cmd_detect},
        {&cli::kEmbed, cli::cmd_embed},
        {&cli::kCompare, cli::cmd_compare},
        {&cli::kGalleryEnroll, gallery_sub<cli::cmd_gallery_enroll, &cli::kGalleryEnroll>},
        {&cli::kGalleryIdentify, gallery_sub<cli::cmd_gallery_identify, &cli::kGalleryIdentify>},
        {&cli::kGalleryList, gallery_sub<cli::cmd_gallery_list, &cli::kGalleryList>},
        {&cli::kGalleryRemove, gallery_sub<cli::cmd_gallery_remove, &cli::kGalleryRemove>},
        {&cli::kCluster, cli::cmd_cluster},
        {&cli::kLfw, cli::cmd_lfw},
        {&cli::kBench, cli::cmd_bench},
        {&cli::kPack, cli::cmd_pack},
    };
    return all;
}

std::string overview() {
    std::string s = "usage: facekit COMMAND [OPTIONS] ...\n\nface detection, alignment and recognition (facekit " FACEKIT_VERSION_STRING
                    ")\n\ncommands:\n";
    for (const Entry& e : commands()) {
        std::string left = "  " + e.command->name;
        left.resize(20, ' ');
        s += left + e.command->brief + "\n";
    }
    return s + "\n`facekit COMMAND --help` lists a command's options and their defaults; `facekit --version` prints the version.\n";
}

std::string gallery_overview() {
    std::string s;
    for (const Entry& e : commands())
        if (e.command->name.rfind("gallery ", 0) == 0) s += "usage: facekit " + e.command->name + " " + e.command->synopsis + "\n";
    return s + "\n`facekit gallery SUBCOMMAND --help` lists a subcommand's options and their defaults.\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        std::cerr << overview();
        return 2;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << overview();
        return 0;
    }
    if (args[0] == "--version") {
        std::cout << "facekit " FACEKIT_VERSION_STRING "\n";
        return 0;
    }
    // "gallery enroll" and its siblings are commands of two words
    std::string name = args[0];
    args.erase(args.begin());
    if (name == "gallery" && !args.empty() && args[0].rfind("--", 0) != 0) {
        name += " " + args[0];
        args.erase(args.begin());
    }
    const Entry* entry = nullptr;
    for (const Entry& e : commands())
        if (e.command->name == name) entry = &e;
    for (const std::string& a : args) {
        if (a == "--") break;
        if (a == "--help" || a == "-h") {
            if (entry) std::cout << cli::help_text(*entry->command);
            else if (name == "gallery") std::cout << gallery_overview();
            else break;  // an unknown command: its usage error below
            return 0;
        }
    }
    try {
        if (!entry) {
            if (name == "gallery" || name.rfind("gallery ", 0) == 0)
                throw cli::UsageError("gallery needs a subcommand: enroll, identify, list or remove");
            throw cli::UsageError("unknown command \"" + cli::one_line(name) + "\"");
        }
        return entry->run(args);
    } catch (const cli::UsageError& e) {
        std::cerr << "facekit: usage error: " << e.what() << " (see facekit " << (entry ? entry->command->name + " " : "")
                  << "--help)\n";
        return 2;
    } catch (const std::bad_alloc&) {
        std::cerr << "facekit: error: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "facekit: error: " << cli::one_line(e.what()) << "\n";
        return 1;
    }
}
