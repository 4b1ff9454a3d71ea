#!/usr/bin/env python3
"""rochp-info --json on every real KFD capture in $ROCHP_FIXTURE_DIR, against
values read by hand from the capture files (see SOURCES.md there), plus the
tool's exit-status contract.

The expected values are literals on purpose: deriving them here with the same
rules as the library would make the test agree with any bug in those rules.
"""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.path.join(os.environ.get("ROCHP_BIN_DIR", ""), "rochp-info")
FIXTURES = os.environ.get("ROCHP_FIXTURE_DIR", "")

# The contract of DESIGN.md section 3: every node object has exactly these keys.
NODE_KEYS = {
    "node", "kind", "gpu_id", "name", "pci", "unique_id", "vendor_id", "device_id",
    "gfx_target", "simd_count", "cpu_cores", "vram_bytes", "drm_render_minor", "hive_id",
    "partition_group", "mem_banks", "io_links", "p2p_links", "caches",
}

# Columns of the full per-node tables.
COLS = ("node", "kind", "pci", "gfx_target", "vram_bytes", "unique_id", "gpu_id", "name",
        "drm_render_minor", "hive_id", "mem_banks", "io_links", "p2p_links", "caches")

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def expect(what, got, want):
    if got != want:
        fail("%s: got %r, expected %r" % (what, got, want))


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, timeout=60)


# --- complete captures: every node, every column ------------------------------------

# k8s-vega10-1gpu: old kernel, no gfx_target_version (gfx900 from device id
# 0x6860), no unique_id/hive_id/domain; name files hold just "\n".
# vram: mem_banks/0 heap_type 1 size_in_bytes 17163091968; the CPU bank is heap_type 0.
VEGA10_NODES = [
    (0, "cpu", None, None, 0, None, 0, "", 0, None, 1, 1, 0, 0),
    (1, "gpu", "0000:19:00.0", "gfx900", 17163091968, None, 13261, "", 128, None, 1, 1, 0, 96),
]
VEGA10_GROUPS = [(None, [1])]

# k8s-mi308x-cpx: 8 boards x 4 CPX partitions.  location_id bus<<8|dev<<3|fn,
# domain 0 for the first four boards and 1 for the rest; the 4th partition of
# each board has a smaller mem bank (51522830336).
HIVE308 = "2095653680343411291"
MI308X_NODES = [
    (0, "cpu", None, None, 0, None, 0, "", 0, "0", 1, 17, 16, 0),
    (1, "cpu", None, None, 0, None, 0, "", 0, "0", 1, 17, 16, 0),
    (2, "gpu", "0000:0a:00.0", "gfx942", 51539607552, "598046273873802902", 24248, "ip discovery", 128, HIVE308, 1, 32, 1, 46),
    (3, "gpu", "0000:0a:00.1", "gfx942", 51539607552, "598046273873802902", 41657, "ip discovery", 129, HIVE308, 1, 32, 1, 46),
    (4, "gpu", "0000:0a:00.2", "gfx942", 51539607552, "598046273873802902", 59065, "ip discovery", 130, HIVE308, 1, 32, 1, 46),
    (5, "gpu", "0000:0a:00.3", "gfx942", 51522830336, "598046273873802902", 2236, "ip discovery", 131, HIVE308, 1, 32, 1, 46),
    (6, "gpu", "0000:80:00.0", "gfx942", 51539607552, "11803749423592941193", 22879, "ip discovery", 136, HIVE308, 1, 32, 1, 46),
    (7, "gpu", "0000:80:00.1", "gfx942", 51539607552, "11803749423592941193", 42334, "ip discovery", 137, HIVE308, 1, 32, 1, 46),
    (8, "gpu", "0000:80:00.2", "gfx942", 51539607552, "11803749423592941193", 57694, "ip discovery", 138, HIVE308, 1, 32, 1, 46),
    (9, "gpu", "0000:80:00.3", "gfx942", 51522830336, "11803749423592941193", 3931, "ip discovery", 139, HIVE308, 1, 32, 1, 46),
    (10, "gpu", "0000:a4:00.0", "gfx942", 51539607552, "10187445671099294242", 16964, "ip discovery", 144, HIVE308, 1, 32, 1, 46),
    (11, "gpu", "0000:a4:00.1", "gfx942", 51539607552, "10187445671099294242", 48709, "ip discovery", 145, HIVE308, 1, 32, 1, 46),
    (12, "gpu", "0000:a4:00.2", "gfx942", 51539607552, "10187445671099294242", 64069, "ip discovery", 146, HIVE308, 1, 32, 1, 46),
    (13, "gpu", "0000:a4:00.3", "gfx942", 51522830336, "10187445671099294242", 5184, "ip discovery", 147, HIVE308, 1, 32, 1, 46),
    (14, "gpu", "0000:c8:00.0", "gfx942", 51539607552, "9604994527082705072", 28521, "ip discovery", 152, HIVE308, 1, 32, 1, 46),
    (15, "gpu", "0000:c8:00.1", "gfx942", 51539607552, "9604994527082705072", 37736, "ip discovery", 153, HIVE308, 1, 32, 1, 46),
    (16, "gpu", "0000:c8:00.2", "gfx942", 51539607552, "9604994527082705072", 55144, "ip discovery", 154, HIVE308, 1, 32, 1, 46),
    (17, "gpu", "0000:c8:00.3", "gfx942", 51522830336, "9604994527082705072", 14701, "ip discovery", 155, HIVE308, 1, 32, 1, 46),
    (18, "gpu", "0001:0b:00.0", "gfx942", 51539607552, "17466021589395472075", 23332, "ip discovery", 160, HIVE308, 1, 32, 1, 46),
    (19, "gpu", "0001:0b:00.1", "gfx942", 51539607552, "17466021589395472075", 42789, "ip discovery", 161, HIVE308, 1, 32, 1, 46),
    (20, "gpu", "0001:0b:00.2", "gfx942", 51539607552, "17466021589395472075", 58149, "ip discovery", 162, HIVE308, 1, 32, 1, 46),
    (21, "gpu", "0001:0b:00.3", "gfx942", 51522830336, "17466021589395472075", 3360, "ip discovery", 163, HIVE308, 1, 32, 1, 46),
    (22, "gpu", "0001:81:00.0", "gfx942", 51539607552, "1044926823201815193", 23747, "ip discovery", 168, HIVE308, 1, 32, 1, 46),
    (23, "gpu", "0001:81:00.1", "gfx942", 51539607552, "1044926823201815193", 41154, "ip discovery", 169, HIVE308, 1, 32, 1, 46),
    (24, "gpu", "0001:81:00.2", "gfx942", 51539607552, "1044926823201815193", 58562, "ip discovery", 170, HIVE308, 1, 32, 1, 46),
    (25, "gpu", "0001:81:00.3", "gfx942", 51522830336, "1044926823201815193", 2759, "ip discovery", 171, HIVE308, 1, 32, 1, 46),
    (26, "gpu", "0001:a5:00.0", "gfx942", 51539607552, "13372828617950681944", 18392, "ip discovery", 176, HIVE308, 1, 32, 1, 46),
    (27, "gpu", "0001:a5:00.1", "gfx942", 51539607552, "13372828617950681944", 48089, "ip discovery", 177, HIVE308, 1, 32, 1, 46),
    (28, "gpu", "0001:a5:00.2", "gfx942", 51539607552, "13372828617950681944", 65497, "ip discovery", 178, HIVE308, 1, 32, 1, 46),
    (29, "gpu", "0001:a5:00.3", "gfx942", 51522830336, "13372828617950681944", 4572, "ip discovery", 179, HIVE308, 1, 32, 1, 46),
    (30, "gpu", "0001:c9:00.0", "gfx942", 51539607552, "6576958293045616595", 27381, "ip discovery", 184, HIVE308, 1, 32, 1, 46),
    (31, "gpu", "0001:c9:00.1", "gfx942", 51539607552, "6576958293045616595", 38644, "ip discovery", 185, HIVE308, 1, 32, 1, 46),
    (32, "gpu", "0001:c9:00.2", "gfx942", 51539607552, "6576958293045616595", 54004, "ip discovery", 186, HIVE308, 1, 32, 1, 46),
    (33, "gpu", "0001:c9:00.3", "gfx942", 51522830336, "6576958293045616595", 15601, "ip discovery", 187, HIVE308, 1, 32, 1, 46),
]
MI308X_GROUPS = [
    ("598046273873802902", [2, 3, 4, 5]),
    ("11803749423592941193", [6, 7, 8, 9]),
    ("10187445671099294242", [10, 11, 12, 13]),
    ("9604994527082705072", [14, 15, 16, 17]),
    ("17466021589395472075", [18, 19, 20, 21]),
    ("1044926823201815193", [22, 23, 24, 25]),
    ("13372828617950681944", [26, 27, 28, 29]),
    ("6576958293045616595", [30, 31, 32, 33]),
]


def full_table(rows):
    return [dict(zip(COLS, r)) for r in rows]


# --- partial captures: what the files hold ----------------------------------------

# k8s-mi300x-cpx: properties and io_links only (no gpu_id, name, mem_banks);
# local_mem_size is 0, so vram is 0.  The 8th partition of the last board
# (e5:00.7) is absent.  Every GPU has 63 io_links, the CPUs 33 and 32.
HIVE300 = "15188982192727901047"
MI300X_GROUPS = [
    ("16404946649897475633", list(range(2, 10))),
    ("2472748907779728154", list(range(10, 18))),
    ("15565237874008425757", list(range(18, 26))),
    ("12035684874187068538", list(range(26, 34))),
    ("15304831566906821053", list(range(34, 42))),
    ("13644590235195043050", list(range(42, 50))),
    ("13326531576914550249", list(range(50, 58))),
    ("15931900197903628278", list(range(58, 65))),
]
MI300X_PCI = {
    2: "0000:05:00.0", 5: "0000:05:00.3", 9: "0000:05:00.7",
    10: "0000:27:00.0", 17: "0000:27:00.7",
    18: "0000:47:00.0", 25: "0000:47:00.7",
    26: "0000:65:00.0", 30: "0000:65:00.4", 33: "0000:65:00.7",
    34: "0000:85:00.0", 41: "0000:85:00.7",
    42: "0000:a7:00.0", 49: "0000:a7:00.7",
    50: "0000:c7:00.0", 57: "0000:c7:00.7",
    58: "0000:e5:00.0", 64: "0000:e5:00.6",
}


def mi300x_nodes():
    nodes = []
    for n in range(65):
        if n < 2:
            row = {"node": n, "kind": "cpu", "pci": None, "gfx_target": None, "vram_bytes": 0,
                   "cpu_cores": 96, "unique_id": None, "hive_id": "0",
                   "io_links": 33 if n == 0 else 32}
        else:
            row = {"node": n, "kind": "gpu", "gfx_target": "gfx942", "vram_bytes": 0,
                   "simd_count": 152, "cpu_cores": 0, "hive_id": HIVE300, "io_links": 63,
                   "drm_render_minor": 128 + n - 2}
            if n in MI300X_PCI:
                row["pci"] = MI300X_PCI[n]
        row.update({"gpu_id": None, "name": None, "mem_banks": 0, "p2p_links": 0, "caches": 0})
        nodes.append(row)
    return nodes


# k8s-mi210-8gpu-xgmi: properties, io_links and p2p_links only; no generation_id.
# Two XGMI hives of four; each MI210 is a board of its own.
HIVE_A, HIVE_B = "12609507387757274807", "18091350218769748594"
MI210_GPUS = [
    # node, pci, unique_id, hive_id, drm_render_minor
    (2, "0000:63:00.0", "1801979520617338022", HIVE_A, 128),
    (3, "0000:43:00.0", "5847760019078012339", HIVE_A, 129),
    (4, "0000:03:00.0", "10645161697164847644", HIVE_A, 130),
    (5, "0000:26:00.0", "4847253685048710349", HIVE_A, 131),
    (6, "0000:e3:00.0", "12585367064092601175", HIVE_B, 132),
    (7, "0000:c3:00.0", "11779194899033552202", HIVE_B, 133),
    (8, "0000:83:00.0", "17888023871577450191", HIVE_B, 134),
    (9, "0000:a3:00.0", "14073402507705256557", HIVE_B, 135),
]


def mi210_nodes():
    nodes = [{"node": n, "kind": "cpu", "pci": None, "cpu_cores": 64, "hive_id": "0",
              "io_links": 5, "p2p_links": 4} for n in (0, 1)]
    for n, pci, uid, hive, minor in MI210_GPUS:
        nodes.append({"node": n, "kind": "gpu", "pci": pci, "gfx_target": "gfx90a",
                      "device_id": 0x740F, "unique_id": uid, "hive_id": hive,
                      "drm_render_minor": minor, "io_links": 4, "p2p_links": 5,
                      "vram_bytes": 0})
    for row in nodes:
        row.update({"gpu_id": None, "name": None, "mem_banks": 0, "caches": 0})
    return nodes


# mi300a-4apu: properties only.  The four GPU nodes share location_id 512 and
# differ in domain.
MI300A_HIVE = "9034655720432782706"
MI300A_GPUS = [
    (4, "0000:02:00.0", "7843934696581995200", 128),
    (5, "0001:02:00.0", "11940228331418201223", 136),
    (6, "0002:02:00.0", "7304659965365223271", 144),
    (7, "0003:02:00.0", "6885922256455814113", 152),
]


def mi300a_nodes():
    nodes = [{"node": n, "kind": "cpu", "pci": None, "cpu_cores": 48, "hive_id": MI300A_HIVE}
             for n in range(4)]
    for n, pci, uid, minor in MI300A_GPUS:
        nodes.append({"node": n, "kind": "gpu", "pci": pci, "gfx_target": "gfx942",
                      "simd_count": 912, "unique_id": uid, "hive_id": MI300A_HIVE,
                      "drm_render_minor": minor, "vram_bytes": 0})
    return nodes


EXPECTED = {
    "k8s-vega10-1gpu": {
        "generation": 2, "nodes": full_table(VEGA10_NODES), "groups": VEGA10_GROUPS,
    },
    "k8s-mi308x-cpx": {
        "generation": 33, "nodes": full_table(MI308X_NODES), "groups": MI308X_GROUPS,
    },
    "k8s-mi300x-cpx": {"generation": 80, "nodes": mi300x_nodes(), "groups": MI300X_GROUPS},
    "k8s-mi210-8gpu-xgmi": {
        "generation": None, "nodes": mi210_nodes(), "groups": [(g[2], [g[0]]) for g in MI210_GPUS],
    },
    "mi300a-4apu": {
        "generation": None, "nodes": mi300a_nodes(), "groups": [(g[2], [g[0]]) for g in MI300A_GPUS],
    },
    # One APU node: CPU cores and SIMDs; gfx801 from device id 39028 (0x9874);
    # location_id 8 = 00:01.0; this kernel printed no drm_render_minor.
    "bristol-ridge-a12-9800-apu": {
        "generation": None,
        "nodes": [{"node": 0, "kind": "apu", "pci": "0000:00:01.0", "gfx_target": "gfx801",
                   "device_id": 39028, "cpu_cores": 4, "simd_count": 32, "vram_bytes": 0,
                   "unique_id": None, "hive_id": None, "drm_render_minor": None, "gpu_id": None,
                   "name": None, "mem_banks": 0, "io_links": 0, "p2p_links": 0, "caches": 0}],
        "groups": [(None, [0])],
    },
    # Node 1 only, truncated before unique_id.  location_id 49664 = c2:00.0.
    "strix-halo-gfx1151-apu": {
        "generation": None,
        "nodes": [{"node": 1, "kind": "gpu", "pci": "0000:c2:00.0", "gfx_target": "gfx1151",
                   "unique_id": None, "hive_id": "0", "drm_render_minor": 128,
                   "simd_count": 64, "cpu_cores": 0, "vram_bytes": 0, "gpu_id": None,
                   "name": None}],
        "groups": [(None, [1])],
    },
    "rx7900xtx-desktop-shisuko": {
        "generation": None,
        "nodes": [
            {"node": 0, "kind": "cpu", "pci": None, "gfx_target": None, "cpu_cores": 16},
            {"node": 1, "kind": "gpu", "pci": "0000:03:00.0", "gfx_target": "gfx1100",
             "device_id": 0x744C, "unique_id": "11420932837461522459", "hive_id": "0",
             "drm_render_minor": 128, "vram_bytes": 0},
        ],
        "groups": [("11420932837461522459", [1])],
    },
    # A test mock: gpu_id and name without trailing newline.  location_id 8960 = 23:00.0.
    "mi100-rocmi-testmock": {
        "generation": None,
        "nodes": [{"node": 0, "kind": "gpu", "gpu_id": 42700, "name": "arcturus",
                   "pci": "0000:23:00.0", "gfx_target": "gfx908",
                   "unique_id": "7809984429061111111", "drm_render_minor": 128,
                   "mem_banks": 0, "io_links": 0, "p2p_links": 0, "caches": 0}],
        "groups": [("7809984429061111111", [0])],
    },
    # Only nodes/3/mem_banks/0/properties: no properties file, so nothing is
    # known about the node but the VRAM its bank shows (heap_type 1, 24 GiB).
    "mi300x-cpx-issue4750": {
        "generation": None,
        "nodes": [{"node": 3, "kind": None, "pci": None, "gfx_target": None, "gpu_id": None,
                   "name": None, "unique_id": None, "hive_id": None, "vendor_id": None,
                   "device_id": None, "simd_count": None, "cpu_cores": None,
                   "drm_render_minor": None, "vram_bytes": 25767706624,
                   "partition_group": -1, "mem_banks": 1, "io_links": 0, "p2p_links": 0,
                   "caches": 0}],
        "groups": [],
    },
}


def check_fixture(name, path):
    proc = run("--sysfs-root", path, "--json")
    if proc.returncode != 0:
        fail("%s: rochp-info exited %d: %s" % (name, proc.returncode,
                                              proc.stderr.decode(errors="replace")))
        return
    try:
        doc = json.loads(proc.stdout.decode("utf-8"))
    except ValueError as e:
        fail("%s: output is not UTF-8 JSON: %s" % (name, e))
        return
    want = EXPECTED[name]
    expect("%s generation" % name, doc.get("generation"), want["generation"])
    nodes = doc.get("nodes", [])
    expect("%s node numbers" % name, [n.get("node") for n in nodes],
           [n["node"] for n in want["nodes"]])
    by_number = {n.get("node"): n for n in nodes}
    for w in want["nodes"]:
        got = by_number.get(w["node"])
        if got is None:
            continue
        expect("%s node %d keys" % (name, w["node"]), set(got), NODE_KEYS)
        for key, value in w.items():
            expect("%s node %d %s" % (name, w["node"], key), got.get(key), value)

    groups = doc.get("partition_groups", [])
    expect("%s partition groups" % name,
           [(g.get("unique_id"), g.get("nodes")) for g in groups], want["groups"])
    # Group indexes, and each GPU's partition_group, point at the right group.
    expect("%s group indexes" % name, [g.get("group") for g in groups], list(range(len(groups))))
    member_of = {n: g.get("group") for g in groups for n in g.get("nodes", [])}
    for n in nodes:
        expect("%s node %s partition_group" % (name, n.get("node")), n.get("partition_group"),
               member_of.get(n.get("node"), -1))


def check_cli():
    proc = run("--sysfs-root", "/nonexistent", "--json")
    expect("--sysfs-root /nonexistent exit status", proc.returncode, 1)
    if b"/nonexistent" not in proc.stderr:
        fail("--sysfs-root /nonexistent: stderr does not name the path: %r" % proc.stderr)
    expect("--sysfs-root /nonexistent stdout", proc.stdout, b"")

    proc = run("--bogus")
    expect("--bogus exit status", proc.returncode, 2)
    if not proc.stderr:
        fail("--bogus: nothing on stderr")

    proc = run("--json", "extra-argument")
    expect("stray argument exit status", proc.returncode, 2)

    proc = run("--help")
    expect("--help exit status", proc.returncode, 0)
    if b"usage: rochp-info" not in proc.stdout:
        fail("--help: no usage on stdout: %r" % proc.stdout)

    # A malformed tree: exit 1, and the message names the file and line.
    with tempfile.TemporaryDirectory() as tmp:
        node = os.path.join(tmp, "topology", "nodes", "1")
        os.makedirs(node)
        with open(os.path.join(tmp, "topology", "generation_id"), "w") as f:
            f.write("3\n")
        with open(os.path.join(node, "properties"), "w") as f:
            f.write("simd_count 4\nlocation_id x\n")
        proc = run("--sysfs-root", tmp, "--json")
        expect("malformed tree exit status", proc.returncode, 1)
        where = (node + "/properties:2:").encode()
        if where not in proc.stderr:
            fail("malformed tree: stderr does not name %r: %r" % (where, proc.stderr))

    # Names are bytes from the kernel: whatever they hold, --json must be valid
    # UTF-8.  ED A0 80 is a UTF-16 surrogate, F4 90 80 80 is above U+10FFFF and
    # E0 80 80 an overlong form: none is valid UTF-8 (RFC 3629).
    for raw in (b"a\xed\xa0\x80b", b"a\xf4\x90\x80\x80b", b"a\xe0\x80\x80b", b"a\xffb",
                b"caf\xc3\xa9"):
        with tempfile.TemporaryDirectory() as tmp:
            node = os.path.join(tmp, "topology", "nodes", "1")
            os.makedirs(node)
            with open(os.path.join(node, "properties"), "w") as f:
                f.write("cpu_cores_count 0\nsimd_count 4\nlocation_id 768\n")
            with open(os.path.join(node, "name"), "wb") as f:
                f.write(raw + b"\n")
            proc = run("--sysfs-root", tmp, "--json")
            expect("name %r exit status" % raw, proc.returncode, 0)
            try:
                doc = json.loads(proc.stdout.decode("utf-8"))
            except ValueError as e:
                fail("name %r: --json output is not valid UTF-8 JSON: %s" % (raw, e))
                continue
            name = doc["nodes"][0]["name"]
            if raw == b"caf\xc3\xa9":
                expect("valid UTF-8 name kept", name, "caf\u00e9")
            elif not (name.startswith("a") and name.endswith("b")):
                fail("name %r came out as %r" % (raw, name))


def main():
    if not os.access(BIN, os.X_OK):
        print("rochp-info not found at %r (ROCHP_BIN_DIR)" % BIN, file=sys.stderr)
        return 1
    check_cli()

    if not os.path.isdir(FIXTURES):
        print("skipped: no fixture directory at %r (ROCHP_FIXTURE_DIR)" % FIXTURES)
        return 1 if failures else 77
    present = sorted(d for d in os.listdir(FIXTURES)
                     if os.path.isdir(os.path.join(FIXTURES, d, "topology")))
    for name in present:
        if name not in EXPECTED:
            fail("%s: a capture without expected values in this test: add them" % name)
            continue
        check_fixture(name, os.path.join(FIXTURES, name))
    for name in sorted(set(EXPECTED) - set(present)):
        fail("%s: capture missing from %s" % (name, FIXTURES))

    if failures:
        print("%d failure(s)" % len(failures), file=sys.stderr)
        return 1
    print("ok: %d captures" % len(present))
    return 0


if __name__ == "__main__":
    sys.exit(main())
