#!/usr/bin/env python3
"""Generates hsasim's API surface at build time from the real ROCm headers.
Nothing generated here is committed.

ROCR 5.2.3 exports thin entry points that call through its API table
(src/core/common/hsa_table_interface.cpp: hsa_queue_create(...) { return
coreApiTable->hsa_queue_create_fn(...); }), and hands that table to the tools
of HSA_TOOLS_LIB (runtime.cpp, Runtime::LoadTools), so a tool replacing an
entry sees every call of the program.  hsasim does the same:

  --rename   hsasim_rename.h, force-included in hsasim's own sources: every
             name with a table slot becomes hsasim_impl_<name>, so hsasim's
             definitions are the hidden implementations and its internal
             calls bind to them directly (a tool never sees the simulator's
             own traffic).
  --table    hsasim_api_table.h: the table in C, member for member as the
             C++-only hsa/hsa_api_trace.h declares it (api_table_check.cpp
             compares the two), with the tools-only declarations.
  --entries  hsasim_api.c: the table, filled with the implementations, and
             the exported entry points that call through it (a tail jump);
             the deprecated names are aliases of the new ones, as in ROCR's
             src/hsacore.so.link.
  --stubs    hsasim_stubs.c: a weak stub for every name hsasim does not
             implement (HSA_STATUS_ERROR or zero, and one line on stderr).
  --map      hsasim.map: the version script, the --exports list (rocr_exports_<ROCm>.txt)
             under ROCR_1.

Names without a slot (hsa_amd_image_get_info_max_dim, which ROCR reaches
through its internal image table) stay direct exports."""
import argparse
import re
import subprocess
import sys

HEADERS = ["hsa/hsa.h", "hsa/hsa_ext_amd.h", "hsa/hsa_ext_image.h", "hsa/hsa_ext_finalize.h",
           "hsa/hsa_ven_amd_loader.h"]
# hsa_api_trace.h's sub-tables, in the order of HsaApiTable's members.
SUBTABLES = [("CoreApiTable", "core_", "CORE"), ("AmdExtTable", "amd_ext_", "AMD_EXT"),
             ("FinalizerExtTable", "finalizer_ext_", "FINALIZER"),
             ("ImageExtTable", "image_ext_", "IMAGE")]
PREFIX = "hsasim_impl_"

ap = argparse.ArgumentParser()
for opt in ("cc", "include", "exports", "rename", "table", "entries", "stubs", "map"):
    ap.add_argument("--" + opt, required=True)
args = ap.parse_args()


def fail(msg):
    sys.exit("gen_api: " + msg)


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


# --- the table, read off hsa_api_trace.h ----------------------------------------------
trace_path = args.include + "/hsa/hsa_api_trace.h"
trace = strip_comments(open(trace_path).read())


def struct_body(name):
    m = re.search(r"\bstruct\s+%s\s*\{(.*?)\};" % name, trace, re.S)
    if not m:
        fail("no struct %s in %s" % (name, trace_path))
    return [s.strip() for s in m.group(1).split(";") if s.strip()]


def slots_of(table):
    """The function names of a sub-table, in order; anything else in it fails."""
    body = struct_body(table)
    if re.sub(r"\s+", " ", body[0]) != "ApiTableVersion version":
        fail("%s does not start with its ApiTableVersion" % table)
    names = []
    for stmt in body[1:]:
        m = re.fullmatch(r"decltype\(\s*(\w+)\s*\)\s*\*\s*(\w+)", stmt)
        if not m or m.group(2) != m.group(1) + "_fn":
            fail("%s: unexpected member '%s'" % (table, " ".join(stmt.split())))
        names.append(m.group(1))
    return names


slots = {t: slots_of(t) for t, _, _ in SUBTABLES}
# ROCR 6 (hsa_api_trace.h, HSA_API_TABLE_MAJOR_VERSION 0x03) adds a sixth
# member, ToolsApiTable *tools_: callbacks the runtime calls for tool events
# (hsa_amd_tool.h), typed members rather than decltype()s of API functions.
TOOLS = re.search(r"\bstruct\s+ToolsApiTable\s*\{", trace) is not None
tool_slots = []
if TOOLS:
    body = struct_body("ToolsApiTable")
    for stmt in body[1:]:
        m = re.fullmatch(r"(\w+)\s+(\w+_fn)", " ".join(stmt.split()))
        if not m:
            fail("ToolsApiTable: unexpected member '%s'" % " ".join(stmt.split()))
        tool_slots.append((m.group(1), m.group(2)))
root = [" ".join(s.split()) for s in struct_body("HsaApiTable")]
want_root = ["ApiTableVersion version"] + ["%s* %s" % (t, m) for t, m, _ in SUBTABLES]
if TOOLS:
    want_root.append("ToolsApiTable* tools_")
if [s.replace(" *", "*") for s in root] != want_root:
    fail("HsaApiTable is not {version; core_; amd_ext_; finalizer_ext_; image_ext_%s}: %s" %
         ("; tools_" if TOOLS else "", root))
versions = re.findall(r"^\s*#\s*define\s+(HSA_\w+_(?:MAJOR|STEP)_VERSION)\s+(\w+)",
                      open(trace_path).read(), re.M)
# The tools-only declarations before the tables (queue intercept, runtime
# queue notifier; ROCR 6 adds the intercept marker packet, a struct with
# #ifdefs inside, kept line by line): plain C.
head = trace[:trace.index("struct ApiTableVersion")]
tools_decls = [d if "{" in d else " ".join(d.split()) for d in
               (m.group(1).strip() for m in re.finditer(
                   r"^\s*(struct\s+\w+\s*;|typedef\s+struct\s+\w*\s*\{.*?\}\s*\w+\s*;|"
                   r"typedef\s[^;{]*;|hsa_status_t\s+hsa_\w+\s*\([^;]*\)\s*;)", head, re.M | re.S))]
if len(tools_decls) < 3:
    fail("the tools-only declarations of hsa_api_trace.h were not found")

routed = [n for t, _, _ in SUBTABLES for n in slots[t]]
if len(set(routed)) != len(routed):
    fail("a name has two slots")

# --- prototypes, from the preprocessed C headers ----------------------------------------
src = "".join('#include <%s>\n' % h for h in HEADERS) + "\n".join(tools_decls) + "\n"
pre = subprocess.run([args.cc, "-E", "-P", "-DAMD_INTERNAL_BUILD", "-I", args.include, "-x", "c", "-"],
                     input=src, capture_output=True, text=True)
if pre.returncode != 0:
    fail("preprocessing the HSA headers failed:\n" + pre.stderr)
text = re.sub(r"\s+", " ", pre.stdout)
# "ret name(params);" at file scope; ret may carry qualifiers and pointers.
decl = re.compile(r"(?:^|(?<=[;}]))\s*((?:const\s+)?[A-Za-z_][\w ]*?[\s\*]+)(hsa_\w+)\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)\s*;")
protos = {}
for m in decl.finditer(text):
    ret, name, params = m.group(1).strip(), m.group(2), m.group(3).strip()
    if ret.startswith("typedef") or "typedef" in ret.split():
        continue
    protos.setdefault(name, (ret, params))
for name in routed:
    if name not in protos:
        fail("no prototype for the table's %s" % name)


def param_names(params):
    """The parameter list with every parameter named, and the names."""
    if params in ("", "void"):
        return "void", []
    out, names = [], []
    depth, cur = 0, ""
    parts = []
    for ch in params:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for i, p in enumerate(parts):
        p = p.strip()
        fp = re.match(r"(.*\(\s*\*\s*)(\w*)(\s*\).*)", p)
        if fp:
            n = fp.group(2) or "a%d" % i
            out.append(fp.group(1) + n + fp.group(3))
        else:
            m = re.match(r"(.*?)(\w+)\s*(\[[^\]]*\])?$", p)
            base = m.group(1).strip() if m else p
            known_types = {"int", "char", "size_t", "uint32_t", "uint64_t", "int32_t",
                           "int64_t", "uint16_t", "uint8_t", "bool", "float", "double"}
            if m and base and not (base in ("const", "unsigned", "signed") or
                                   (base.endswith("const") and m.group(2) in known_types)):
                n = m.group(2)
                out.append(p)
            else:
                n = "a%d" % i
                out.append(p + " " + n)
        names.append(n)
    return ", ".join(out), names


exports = [l.strip() for l in open(args.exports) if l.strip()]
table_of = {n: t for t, _, _ in SUBTABLES for n in slots[t]}
# ROCR's deprecated names (src/hsacore.so.link): X_acquire = X_scacquire,
# X_release = X_screlease, X_acq_rel = X_scacq_screl.
OLD = {"_acquire": "_scacquire", "_release": "_screlease", "_acq_rel": "_scacq_screl"}
aliases = {}
for name in exports:
    for old, new in OLD.items():
        if name.endswith(old) and name[:-len(old)] + new in table_of:
            aliases[name] = name[:-len(old)] + new
direct = [n for n in exports if n not in table_of and n not in aliases]
INCLUDES = ["#include <stdint.h>"] + ["#include <%s>" % h for h in HEADERS[:4]]
if TOOLS:
    INCLUDES.append("#include <hsa/hsa_amd_tool.h>")

# --- hsasim_rename.h ----------------------------------------------------------------
open(args.rename, "w").write(
    "/* Generated by gen_api.py: do not edit.  Force-included in hsasim's sources:\n"
    " * the implementations behind the API table, called directly inside hsasim. */\n" +
    "".join("#define %s %s%s\n" % (n, PREFIX, n) for n in routed))

# --- hsasim_api_table.h -------------------------------------------------------------
unprototyped = [n for n in routed if protos[n][1] == ""]
L = ["/* Generated by gen_api.py from %s: do not edit." % trace_path,
     " * The HSA API table in C, member for member as that C++ header has it",
     " * (api_table_check.cpp compares them): what ROCR and hsasim hand to the",
     " * OnLoad of the tools of HSA_TOOLS_LIB. */",
     "#ifndef HSASIM_API_TABLE_H", "#define HSASIM_API_TABLE_H", ""] + INCLUDES + [
     "", "#ifndef HSA_RUNTIME_INC_HSA_API_TRACE_H /* the C++ header has these too */"]
L += ["#define %s %s" % v for v in versions]
L += ["/* APIs for tools only (no export) */"] + tools_decls + ["#endif", ""]
L += ["/* hsa.h declares these as f(), which is no prototype in C. */"]
L += ["%s %s(void);" % (protos[n][0], n) for n in unprototyped]
L += ["", "typedef struct ApiTableVersion {", "    uint32_t major_id;", "    uint32_t minor_id;",
      "    uint32_t step_id;", "    uint32_t reserved;", "} ApiTableVersion;", ""]
for t, _, tag in SUBTABLES:
    L += ["typedef struct %s {" % t, "    ApiTableVersion version;"]
    L += ["    __typeof__(%s) *%s_fn;" % (n, n) for n in slots[t]]
    L += ["} %s;" % t, ""]
    L += ["#define HSASIM_%s_SLOTS(X) \\" % tag] + ["    X(%s) \\" % n for n in slots[t]] + [""]
if TOOLS:
    L += ["#define HSASIM_HAS_TOOLS_TABLE 1", "typedef struct ToolsApiTable {",
          "    ApiTableVersion version;"]
    L += ["    %s %s;" % (ty, n) for ty, n in tool_slots] + ["} ToolsApiTable;", ""]
    L += ["#define HSASIM_TOOLS_SLOTS(X) \\"] + ["    X(%s) \\" % n for _, n in tool_slots] + [""]
L += ["typedef struct HsaApiTable {", "    ApiTableVersion version;"]
L += ["    %s *%s;" % (t, m) for t, m, _ in SUBTABLES]
L += ["    ToolsApiTable *tools_;"] if TOOLS else []
L += ["} HsaApiTable;", "", "#endif"]
open(args.table, "w").write("\n".join(L) + "\n")

# --- hsasim_api.c -------------------------------------------------------------------
L = ["/* Generated by gen_api.py: do not edit.  The API table and the exported",
     " * entry points calling through it, as ROCR's hsa_table_interface.cpp. */",
     '#include "hsasim_api_table.h"', '#include "hsasim.h"', "",
     "#define HIDDEN __attribute__((visibility(\"hidden\")))",
     "#define EXPORT __attribute__((visibility(\"default\")))", ""]
L += ["extern __typeof__(%s) %s%s HIDDEN;" % (n, PREFIX, n) for n in routed]
L += [""]
for t, m, tag in SUBTABLES:
    # ROCR 5.2.3 loads no finalizer (Runtime::LoadExtensions): its table keeps
    # version 0.0.0 (hsa_ext_interface.cpp, InitFinalizerExtTable).
    if tag == "FINALIZER":
        version = "{0, 0, 0, 0}"
    else:
        version = "{HSA_%s_API_TABLE_MAJOR_VERSION, (uint32_t)sizeof(%s), " \
                  "HSA_%s_API_TABLE_STEP_VERSION, 0}" % (tag, t, tag)
    L += ["#define %s_INIT { \\" % tag, "    .version = %s, \\" % version]
    L += ["    .%s_fn = %s%s, \\" % (n, PREFIX, n) for n in slots[t]] + ["}"]
    L += ["static const %s %sdefault = %s_INIT;" % (t, m, tag),
          "static %s %s = %s_INIT;" % (t, m, tag), ""]
members = [m for _, m, _ in SUBTABLES]
if TOOLS:
    # hsasim raises no tool events (scratch is not simulated): the slots stay
    # empty until a tool fills them, and ROCR calls only the filled ones.
    L += ["#define TOOLS_INIT { .version = {HSA_TOOLS_API_TABLE_MAJOR_VERSION, "
          "(uint32_t)sizeof(ToolsApiTable), HSA_TOOLS_API_TABLE_STEP_VERSION, 0} }",
          "static const ToolsApiTable tools_default = TOOLS_INIT;",
          "static ToolsApiTable tools_ = TOOLS_INIT;", ""]
    members.append("tools_")
root_init = ("{.version = {HSA_API_TABLE_MAJOR_VERSION, (uint32_t)sizeof(HsaApiTable), "
             "HSA_API_TABLE_STEP_VERSION, 0}, " +
             ", ".join(".%s = &%s" % (m, m) for m in members) + "}")
L += ["static HsaApiTable root = %s;" % root_init, "",
      "struct HsaApiTable *sim_api_table(void)", "{", "    return &root;", "}", "",
      "/* As ROCR's HsaApiTable::Reset (hsa_api_trace.cpp): every entry back to",
      " * the runtime's own, the root's pointers too. */",
      "void sim_api_table_reset(void)", "{"]
L += ["    %s = %sdefault;" % (m, m) for m in members]
L += ["    root = (HsaApiTable)%s;" % root_init, "}", ""]
for name in exports:
    if name not in table_of:
        continue
    ret, params = protos[name]
    plist, names = param_names(params)
    # A relaxed atomic load (a plain mov on x86-64, as ROCR's plain load):
    # a tool may swap a slot while the program calls it, and the TSan build
    # must see that as the atomic exchange it is, not as a race.
    call = "__atomic_load_n(&%s.%s_fn, __ATOMIC_RELAXED)(%s)" % (
        [m for t, m, _ in SUBTABLES if t == table_of[name]][0], name, ", ".join(names))
    L += ["EXPORT %s %s(%s)" % (ret, name, plist), "{",
          "    %s%s;" % ("" if ret == "void" else "return ", call), "}", ""]
for name, new in aliases.items():
    ret, params = protos[name]
    plist, _ = param_names(params)
    L += ['EXPORT %s %s(%s) __attribute__((alias("%s")));' % (ret, name, plist, new)]
open(args.entries, "w").write("\n".join(L) + "\n")

# --- hsasim_stubs.c (compiled with hsasim_rename.h) ----------------------------------
L = [
    "/* Generated by gen_api.py: do not edit.  Weak stubs; hsasim's definitions",
    " * are strong and win at link time. */",
    "#include <stdio.h>",
    "#include <stdlib.h>",
    "#include <string.h>",
    '#include "hsasim_api_table.h"',
    "#include <hsa/hsa_ven_amd_loader.h>",
    "",
    "static void sim_unsupported(const char *name)",
    "{",
    "    /* Once per name would need state per stub; once per process is enough",
    "     * to tell a user which call to look at. */",
    "    static int told;",
    "    if (!told++ || getenv(\"ROCHP_LOG\"))",
    "        fprintf(stderr, \"hsasim: %s is not supported by the simulated runtime\\n\", name);",
    "}",
    "",
]
missing = []
for name in routed + direct:
    if not name.startswith("hsa_"):
        continue
    # The implementations behind the table are hidden; direct exports are not.
    vis = "hidden" if name in table_of else "default"
    attr = '__attribute__((weak, visibility("%s")))' % vis
    if name not in protos:
        missing.append(name)
        L.append("%s hsa_status_t %s(void);" % (attr, name))
        L.append("%s hsa_status_t %s(void)" % (attr, name))
        L.append("{\n    sim_unsupported(\"%s\");\n    return HSA_STATUS_ERROR;\n}\n" % name)
        continue
    ret, params = protos[name]
    plist, names = param_names(params)
    body = "".join("    (void)%s;\n" % n for n in names)
    body += '    sim_unsupported("%s");\n' % name
    if ret == "void":
        pass
    elif ret == "hsa_status_t":
        body += "    return HSA_STATUS_ERROR;\n"
    else:
        body += "    %s zero;\n    memset(&zero, 0, sizeof zero);\n    return zero;\n" % ret
    # A prototype first: hsa.h declares a few functions as f(), which is none in C.
    L.append("%s %s(%s);" % (ret, name, plist))
    L.append("%s %s %s(%s)\n{\n%s}\n" % (attr, ret, name, plist, body))

# Data exported by ROCR for debuggers.
if "_amdgpu_r_debug" in exports:
    L.append("__attribute__((weak, visibility(\"default\"))) struct { int version; void *map; "
             "uintptr_t brk; int state; uintptr_t base; } _amdgpu_r_debug;")
open(args.stubs, "w").write("\n".join(L) + "\n")

open(args.map, "w").write("ROCR_1 {\n  global:\n" +
                          "".join("    %s;\n" % n for n in exports) + "  local:\n    *;\n};\n")
if missing:
    print("gen_api: no prototype in the headers for %d export(s): %s" %
          (len(missing), " ".join(missing)))
