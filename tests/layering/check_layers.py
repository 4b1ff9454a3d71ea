#!/usr/bin/env python3
"""The layering rules of lib/, checked from the sources (lib/README.md):

  common -> {topology, watch, hsa, codeobj} -> core -> managed -> resilience
  -> layers.c (the wiring);  hsasim beside, on common, topology and codeobj;
  tool (librochp_tool.so) beside, on common, hsa's headers and librochp's
  public API.

Fails, naming file and line, when a file includes a header of a layer it may
not use (up, sideways or round), when a file of lib/hsasim is compiled into
librochp (--sources: the list CMake wrote), when a file in lib/ is longer
than 600 lines, or when a layer folder lacks its opening comment (a README
or a header named after the folder that opens with a comment).

  check_layers.py LIB_DIR [--sources FILE]
  check_layers.py --self-test     (the checker catches what it should)
"""
import os
import re
import sys
import tempfile

BASE = {"common": set()}
for leaf in ("topology", "watch", "hsa", "codeobj"):
    BASE[leaf] = {"common"}
BASE["core"] = {"common", "topology", "watch", "hsa"}
BASE["managed"] = BASE["core"] | {"core", "codeobj"}
BASE["resilience"] = BASE["managed"] | {"managed"}
BASE["hsasim"] = {"common", "topology", "codeobj"}
# librochp_tool.so: librochp's public API, common's event lines, and hsa's
# header of the runtime's reset event (hsa/hw_exception.h; no table).
BASE["tool"] = {"common", "hsa"}
# librochp_hip.so: the tool's objects and state, and the same.
BASE["hip"] = {"common", "tool"}
TOP = "(wiring)"  # files directly in lib/
BASE[TOP] = {l for l in BASE if l not in ("hsasim", "tool", "hip")}
MAX_LINES = 600
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of_include(path, including_dir):
    """The lib/ folder an include names, or None (public or system)."""
    parts = os.path.normpath(os.path.join(including_dir, path)).split(os.sep)
    return parts


def check(lib, sources=None):
    errors = []
    lib = os.path.abspath(lib)
    layers = sorted(d for d in os.listdir(lib) if os.path.isdir(os.path.join(lib, d)))
    for layer in layers:
        if layer not in BASE:
            errors.append(f"lib/{layer}/: a folder that is no layer (add it to the rules)")
    for root, _, files in os.walk(lib):
        rel_root = os.path.relpath(root, lib)
        layer = TOP if rel_root == "." else rel_root.split(os.sep)[0]
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, lib)
            if not name.endswith((".c", ".h", ".cpp", ".py")):
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
            if len(lines) > MAX_LINES:
                errors.append(f"lib/{rel}: {len(lines)} lines, more than {MAX_LINES}")
            for no, line in enumerate(lines, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                # As the compiler looks: beside the file, then from lib/.
                target = None
                beside = os.path.normpath(os.path.join(root, inc))
                if os.path.exists(beside) and beside.startswith(lib + os.sep):
                    target = os.path.relpath(beside, lib)
                elif inc.split("/")[0] in BASE and "/" in inc:
                    target = inc
                if target is None:
                    continue  # public (rochp/...), the layer's own sub-includes, system
                to = target.split(os.sep)[0] if os.sep in target else TOP
                if to == layer or to in BASE.get(layer, set()):
                    continue
                errors.append(f"lib/{rel}:{no}: {layer} includes \"{inc}\" of {to}, "
                              f"which it may not use (may use: "
                              f"{', '.join(sorted(BASE.get(layer, set()))) or 'nothing'})")
    for layer in layers:
        if layer not in BASE:
            continue
        d = os.path.join(lib, layer)
        opening = [os.path.join(d, "README.md"), os.path.join(d, layer + ".h")]
        if not any(os.path.exists(p) and open(p).read(2) in ("/*", "# ") for p in opening):
            errors.append(f"lib/{layer}/: no README.md or {layer}.h opening with what the "
                          f"layer is for and what it may use")
    if sources:
        with open(sources) as f:
            for src in f.read().split(";"):
                src = src.strip()
                rel = os.path.relpath(os.path.abspath(src), lib) if src else ""
                if rel.startswith("hsasim" + os.sep):
                    errors.append(f"librochp compiles {src}, a file of the simulator")
                elif rel.startswith(("tool" + os.sep, "hip" + os.sep)):
                    errors.append(f"librochp compiles {src}, a file of the tool or HIP library")
    return errors


def self_test():
    """A tree with one of each fault; every one must be reported."""
    with tempfile.TemporaryDirectory() as t:
        lib = os.path.join(t, "lib")
        def put(rel, text):
            p = os.path.join(lib, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        for layer in ("common", "core", "managed", "hsasim"):
            put(f"{layer}/{layer}.h", "/* what the layer is for */\n")
        put("core/bad.c", '#include "managed/managed.h"\n')          # up
        put("common/bad.c", '#include "../core/core.h"\n')           # up, relative
        put("hsasim/bad.c", '#include "core/core.h"\n')              # the double on the product
        put("managed/ok.c", '#include "core/core.h"\n#include "managed.h"\n#include <stdio.h>\n'
            '#include "rochp/rochp.h"\n')
        put("managed/long.c", "\n" * (MAX_LINES + 1))
        os.makedirs(os.path.join(lib, "resilience"))                 # no opening comment
        srcs = os.path.join(t, "sources")
        with open(srcs, "w") as f:
            f.write(os.path.join(lib, "managed/ok.c") + ";" + os.path.join(lib, "hsasim/x.c"))
        errors = check(lib, srcs)
        want = ["lib/core/bad.c:1", "lib/common/bad.c:1", "lib/hsasim/bad.c:1",
                "lib/managed/long.c", "lib/resilience/", "librochp compiles"]
        missing = [w for w in want if not any(e.startswith(w) for e in errors)]
        extra = [e for e in errors if not any(e.startswith(w) for w in want)]
        for m in missing:
            print(f"self-test: not reported: {m}")
        for e in extra:
            print(f"self-test: reported wrongly: {e}")
        return 1 if missing or extra else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--sources"):
        print(__doc__)
        return 2
    errors = check(argv[1], argv[3] if len(argv) == 4 else None)
    for e in errors:
        print(e)
    print(f"layering: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
