#!/usr/bin/env python3
"""Debian's unmodified rocminfo on hsasim, for every rochp-sim model and the
complete captures: it must exit 0 and list, in ROCR's order (CPUs, then
GPUs), agents with the names, UUIDs, node ids, BDFIDs, compute units and ISA
names the tree implies.  Expected values are computed here from the
properties files with the rules ROCR applies, independently of hsasim."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("ROCHP_BIN_DIR", "")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(BIN, "rochp-sim", "rochp-sim")
HSASIM = os.path.join(os.path.dirname(BIN), "hsasim")
RUN = os.path.join(ROOT, "scripts", "rocminfo-sim.sh")
FIXTURES = os.environ.get("ROCHP_FIXTURE_DIR", "")

# ISA names by gfx target, with the target features the nodes imply
# (sramecc on the targets that have it, from the SRAM EDC capability bit;
# xnack off where the target supports it).
ISA = {
    "gfx900": "amdgcn-amd-amdhsa--gfx900:xnack-",
    "gfx908": "amdgcn-amd-amdhsa--gfx908:sramecc+:xnack-",
    "gfx90a": "amdgcn-amd-amdhsa--gfx90a:sramecc+:xnack-",
    "gfx942": "amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-",
    "gfx1100": "amdgcn-amd-amdhsa--gfx1100",
}
failures = []
checks = 0


def props(path):
    out = {}
    for line in open(path):
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def gfx_name(v):
    return "gfx%d%x%x" % (v // 10000, (v // 100) % 100, v % 100)


def expected_agents(tree):
    nodes_dir = os.path.join(tree, "topology", "nodes")
    nodes = sorted(int(n) for n in os.listdir(nodes_dir))
    cpus, gpus = [], []
    for n in nodes:
        p = props(os.path.join(nodes_dir, str(n), "properties"))
        if p.get("cpu_cores_count", 0) > 0:
            cpus.append({"Node": str(n), "Uuid": "CPU-XX", "Device Type": "CPU",
                         "Compute Unit": str(p["cpu_cores_count"])})
        if p.get("simd_count", 0) > 0:
            v = p.get("gfx_target_version") or {0x6860: 90000}[p["device_id"]]
            uid = p.get("unique_id", 0)
            gpus.append({"Node": str(n), "Name": gfx_name(v), "Device Type": "GPU",
                         "Uuid": "GPU-%016x" % uid if uid else "GPU-XX",
                         "BDFID": str(p["location_id"]), "Internal Node ID": str(n),
                         "Compute Unit": str(p["simd_count"] // p["simd_per_cu"]),
                         "ISA": ISA[gfx_name(v)]})
    return cpus + gpus


def parse_rocminfo(text):
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    agents = []
    for block in re.split(r"\*{7}\s*\nAgent \d+\s*\n\*{7}", text)[1:]:
        a = {}
        for line in block.splitlines():
            m = re.match(r"  ([A-Za-z][A-Za-z .()]*?):\s+(.*?)\s*$", line)
            if m and m.group(1) not in a:
                a[m.group(1)] = re.sub(r"\(0x[0-9a-fA-F]+\)$", "", m.group(2)).strip()
        isa = re.search(r"ISA 1\s*\n\s*Name:\s+(\S+)", block)
        if isa:
            a["ISA"] = isa.group(1)
        agents.append(a)
    return agents


def check(label, tree):
    global checks
    checks += 1
    # Its own TMPDIR, to see that the script leaves nothing behind there.
    tmp = tempfile.mkdtemp(prefix="rochp-rocminfo-tmp-")
    try:
        p = subprocess.run([RUN, tree, HSASIM], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, TMPDIR=tmp))
        left = os.listdir(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if left:
        failures.append("%s: rocminfo-sim.sh left %s in TMPDIR" % (label, left))
    if p.returncode != 0:
        failures.append("%s: rocminfo exited %d:\n%s%s" % (label, p.returncode, p.stdout[-2000:],
                                                          p.stderr[-2000:]))
        return
    got = parse_rocminfo(p.stdout)
    want = expected_agents(tree)
    if len(got) != len(want):
        failures.append("%s: %d agents, expected %d" % (label, len(got), len(want)))
        return
    for i, (g, w) in enumerate(zip(got, want)):
        for key, value in w.items():
            if g.get(key) != value:
                failures.append("%s: agent %d %s = %r, expected %r" % (label, i + 1, key,
                                                                       g.get(key), value))


def main():
    if os.environ.get("ROCHP_SANITIZE"):
        # rocminfo is not instrumented and cannot load a sanitized library;
        # the plain build runs it, and hsasim_core covers the same calls here.
        print("sanitizer build (%s): rocminfo cannot load an instrumented hsasim: skipped"
              % os.environ["ROCHP_SANITIZE"])
        return 77
    if not shutil.which("rocminfo"):
        print("rocminfo is not installed: skipped")
        return 77
    probe = subprocess.run(["unshare", "--mount", "true"] if os.geteuid() == 0 else
                           ["unshare", "--mount", "--map-root-user", "true"], capture_output=True)
    if probe.returncode != 0:
        print("no mount namespaces here (need root or user namespaces): skipped")
        return 77
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    scratch = tempfile.mkdtemp(prefix="rochp-rocminfo-", dir=base)
    try:
        for model, gpus, parts in [("mi100", 2, 1), ("mi210", 4, 1), ("mi300x", 2, 8),
                                   ("mi300x", 8, 1), ("rx7900xtx", 1, 1)]:
            tree = os.path.join(scratch, "%s-%d-%d" % (model, gpus, parts))
            subprocess.run([SIM, "create", tree, "--model", model, "--gpus", str(gpus),
                            "--partitions", str(parts)], check=True, capture_output=True)
            check("%s x%d (%d partitions)" % (model, gpus, parts), tree)
        for capture in ["k8s-vega10-1gpu", "k8s-mi308x-cpx"]:
            path = os.path.join(FIXTURES, capture)
            if os.path.isdir(path):
                check(capture, path)
            else:
                print("%s absent: not checked" % capture)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print("%d passed, %d failed" % (checks - len({f.split(":")[0] for f in failures}),
                                    len({f.split(":")[0] for f in failures})))
    return 1 if failures else 0


sys.exit(main())
