#!/usr/bin/env python3
"""The library's layering, checked: data flows one way, and the engine knows nothing about faces.

Each folder of include/facekit/ may include only the folders listed for it below (its own included);
facekit.hpp must include every public header; in the engine, only a backend's own files include its
library (xsimd, Eigen), so that the reference backend builds without either. Prints each violation as FILE:LINE and exits 1.
Usage: tests/check_layout.py [INCLUDE_DIR]   (default: include/ beside this script's folder)
       tests/check_layout.py --self-test        (the check catches an upward include in a made-up tree)
"""
import os
import re
import sys

# folder -> the folders its headers may include ('' is the top level: types.hpp, version.hpp)
ALLOWED = {
    "engine": {"engine"},
    "": {"engine"},
    "io": {"engine", "", "io"},
    "detect": {"engine", "", "io", "detect"},
    "align": {"engine", "", "io", "align"},
    "embed": {"engine", "", "io", "align", "embed"},
    "identify": {"engine", "", "io", "identify"},
    "eval": {"engine", "", "io", "eval"},
}


# engine headers that may include <xsimd/…> / <Eigen/…>
THIRD_PARTY = {"xsimd": lambda rel: rel.startswith("engine/backends/xsimd/"),
               "Eigen": lambda rel: rel == "engine/backends/eigen.hpp"}


def stage(rel):
    """engine/backends/xsimd/x.hpp -> engine; types.hpp -> ''."""
    return rel.split("/")[0] if "/" in rel else ""


def violations(root):
    headers = sorted(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
                     for d, _, files in os.walk(root) for f in files if f.endswith(".hpp"))
    errors = []
    included_by_main = set()
    for rel in headers:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            lines = f.read().split("\n")
        for no, line in enumerate(lines, 1):
            lib = re.match(r'\s*#\s*include\s+<(xsimd|Eigen)/', line)
            if lib and stage(rel) == "engine" and not THIRD_PARTY[lib.group(1)](rel):
                errors.append(f"{rel}:{no}: includes {lib.group(1)} outside its backend's files")
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(rel), m.group(1))).replace(os.sep, "/")
            if target not in headers:
                errors.append(f"{rel}:{no}: includes {m.group(1)}, which is not a facekit header")
                continue
            if rel == "facekit.hpp":
                included_by_main.add(target)
                continue
            src, dst = stage(rel), stage(target)
            if src not in ALLOWED:
                errors.append(f"{rel}:{no}: folder {src}/ has no place in the layering (tests/check_layout.py)")
            elif dst not in ALLOWED[src]:
                errors.append(f"{rel}:{no}: {src or 'top level'} includes {target}: upward against the data flow")
    for rel in headers:
        # the backends are reached through engine/backends.hpp
        if rel != "facekit.hpp" and rel not in included_by_main and not rel.startswith("engine/backends/"):
            errors.append(f"facekit.hpp: does not include {rel}")
    return headers, errors


def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "facekit")
        files = {"engine/tensor.hpp": '#include "../detect/nms.hpp"\n', "detect/nms.hpp": '#include "../engine/tensor.hpp"\n',
                 "engine/ops.hpp": "#include <xsimd/xsimd.hpp>\n", "engine/backends/xsimd/k.hpp": "#include <xsimd/xsimd.hpp>\n",
                          "facekit.hpp": '#include "engine/tensor.hpp"\n#include "engine/ops.hpp"\n#include "detect/nms.hpp"\n'}
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                f.write(text)
        _, errors = violations(root)
    expected = ["engine/ops.hpp:1: includes xsimd outside its backend's files",
                "engine/tensor.hpp:1: engine includes detect/nms.hpp: upward against the data flow"]
    print("\n".join(errors))
    print("check_layout self-test:", "ok" if errors == expected else f"FAILED, expected {expected}")
    return 0 if errors == expected else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "include"), "facekit")
    headers, errors = violations(root)
    for e in errors:
        print(e)
    print(f"check_layout: {len(headers)} headers, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
