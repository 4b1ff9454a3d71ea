#!/usr/bin/env python3
"""rochp-monitor's contract (DESIGN.md section 3): one JSON line per event as
it happens, --count and --timeout exits, usage errors, and the promise that
it never loads the HSA runtime nor opens /dev/kfd (so it never holds up an
unplug)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import event_lines  # noqa: E402

BIN = os.environ.get("ROCHP_BIN_DIR", "")
MON = os.path.join(BIN, "rochp-monitor")
SIM = os.path.join(BIN, "rochp-sim", "rochp-sim")
failures = []
checks = 0


def expect(what, ok, detail=""):
    global checks
    checks += 1
    if not ok:
        failures.append("%s %s" % (what, detail))


def sim(*args):
    subprocess.run([SIM, *args], check=True, capture_output=True)


base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
scratch = tempfile.mkdtemp(prefix="rochp-monitor-", dir=base)
try:
    tree = os.path.join(scratch, "t")
    sim("create", tree, "--model", "mi300x", "--gpus", "2", "--partitions", "2")
    mon = subprocess.Popen([MON, "--sysfs-root", tree, "--json", "--count", "5",
                            "--timeout", "60", "--poll-ms", "20"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Wait until it is up (its threads exist), then look at what it holds.
    deadline = time.time() + 30
    while time.time() < deadline and len(os.listdir("/proc/%d/task" % mon.pid)) < 3:
        time.sleep(0.01)
    maps = open("/proc/%d/maps" % mon.pid).read()
    fds = [os.readlink("/proc/%d/fd/%s" % (mon.pid, f)) for f in os.listdir("/proc/%d/fd" % mon.pid)]
    expect("no HSA runtime loaded", "libhsa-runtime64" not in maps)
    expect("no /dev/kfd open", "/dev/kfd" not in fds, str(fds))
    sim("unplug", tree, "0000:27:00.1")
    time.sleep(0.2)  # the next change must be a separate scan (not an assertion)
    sim("plug", tree, "0000:27:00.0")
    time.sleep(0.2)
    sim("plug", tree, "--model", "rx7900xtx")
    out, err = mon.communicate(timeout=120)
    expect("exit 0 after --count events", mon.returncode == 0, err)
    lines, bad = event_lines.parse(out)
    expect("lines keep the event line contract", not bad, "; ".join(bad))
    got = [(l["event"], l["pci"], l["node"]) for l in lines]
    want = [("lost", "0000:27:00.0", 4), ("lost", "0000:27:00.1", 5),
            ("returned", "0000:27:00.0", 4), ("returned", "0000:27:00.1", 5),
            ("arrived", "0000:03:00.0", 6)]
    expect("the exact events", got == want, "%r" % got)
    for l in lines:
        expect("reason topology", l["reason"] == "topology", str(l))
    if len(lines) == 5:
        expect("same board, same unique_id", lines[0]["unique_id"] == lines[2]["unique_id"])
        expect("generation grows", lines[0]["generation"] < lines[2]["generation"] < lines[4]["generation"])
        expect("time grows", lines[0]["t_ns"] <= lines[2]["t_ns"] <= lines[4]["t_ns"])

    p = subprocess.run([MON, "--sysfs-root", tree, "--count", "1", "--timeout", "1"],
                       capture_output=True, text=True, timeout=60)
    expect("timeout before --count: exit 1", p.returncode == 1 and "0 of 1" in p.stderr, p.stderr)
    p = subprocess.run([MON, "--sysfs-root", tree, "--timeout", "1"], capture_output=True,
                       text=True, timeout=60)
    expect("timeout without --count: exit 0", p.returncode == 0, p.stderr)
    expect("text mode says what it watches", "watching 5 GPU device(s)" in p.stdout, p.stdout)
    p = subprocess.run([MON, "--sysfs-root", "/nonexistent", "--timeout", "1"],
                       capture_output=True, text=True, timeout=60)
    expect("no KFD: exit 1 naming it", p.returncode == 1 and "/nonexistent/topology" in p.stderr,
           p.stderr)
    for bad in (["--count", "0"], ["--timeout", "x"], ["--bogus"], ["extra"]):
        p = subprocess.run([MON, *bad], capture_output=True, text=True, timeout=60)
        expect("usage error %r" % bad, p.returncode == 2, p.stderr)
    p = subprocess.run([MON, "--help"], capture_output=True, text=True, timeout=60)
    expect("--help", p.returncode == 0 and "--count N" in p.stdout)
finally:
    shutil.rmtree(scratch, ignore_errors=True)

for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print("%d passed, %d failed" % (checks - len(failures), len(failures)))
sys.exit(1 if failures else 0)
