#!/usr/bin/env python3
"""rochp-sim's command-line contract: exit 0 ok / 1 failure / 2 usage, errors
that say what is wrong, and changes that report what readers will see."""
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.path.join(os.environ.get("ROCHP_BIN_DIR", ""), "rochp-sim", "rochp-sim")
failures = []
checks = 0


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)


def expect(what, proc, code, out=None, err=None):
    global checks
    checks += 1
    if proc.returncode != code:
        failures.append("%s: exit %d, expected %d (stderr: %s)" % (what, proc.returncode, code,
                                                                   proc.stderr.strip()))
    if out is not None and out not in proc.stdout:
        failures.append("%s: stdout lacks %r:\n%s" % (what, out, proc.stdout))
    if err is not None and err not in proc.stderr:
        failures.append("%s: stderr lacks %r:\n%s" % (what, err, proc.stderr))


base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
scratch = tempfile.mkdtemp(prefix="rochp-sim-cli-", dir=base)
try:
    tree = os.path.join(scratch, "t")
    expect("--help", run("--help"), 0, out="rochp-sim create DIR --model M")
    expect("no arguments", run(), 2, err="expected a command")
    expect("unknown command", run("explode", tree), 2, err="unknown command 'explode'")
    expect("unknown model", run("create", tree, "--model", "h100", "--gpus", "1"), 2,
           err="unknown model 'h100'")
    expect("zero gpus", run("create", tree, "--model", "mi100", "--gpus", "0"), 2,
           err="--gpus wants a number")
    expect("too many partitions", run("create", tree, "--model", "mi300x", "--gpus", "1",
                                      "--partitions", "9"), 2, err="--partitions wants")
    expect("unpartitionable model", run("create", tree, "--model", "mi210", "--gpus", "1",
                                        "--partitions", "2"), 2, err="at most 1 partition")
    expect("model and fixture", run("create", tree, "--model", "mi100", "--from", "/x"), 2)
    expect("unplug without tree", run("unplug", tree, "0000:03:00.0"), 1,
           err="no virtual KFD tree here")
    expect("fixture that is not one", run("create", tree, "--from", scratch), 1,
           err="no topology directory here")

    expect("create", run("create", tree, "--model", "mi300x", "--gpus", "2", "--partitions", "2"),
           0, out="generation 5")
    expect("create twice", run("create", tree, "--model", "mi100", "--gpus", "1"), 1,
           err="already exists")
    expect("bad pci", run("unplug", tree, "05:00"), 1, err="not a PCI address")
    expect("absent pci", run("unplug", tree, "0000:99:00.0"), 1, err="no GPU at 0000:99:00.0")
    p = run("unplug", tree, "0000:27:00.1")
    expect("unplug board", p, 0, out="removed  0000:27:00.0 node 4")
    expect("unplug board (2nd partition)", p, 0, out="removed  0000:27:00.1 node 5")
    expect("unplug generation", p, 0, out="generation 7")
    expect("list aside", run("list", tree), 0, out="0000:27:00.0  2 node(s)")
    expect("plug back", run("plug", tree, "0000:27:00.1"), 0, out="returned 0000:27:00.0 node 4")
    expect("plug back twice", run("plug", tree, "0000:27:00.0"), 1,
           err="no board was unplugged from 0000:27:00.0")
    expect("plug occupied", run("plug", tree, "--model", "mi300x", "--pci", "0000:05:00.0"), 1,
           err="already at 0000:05:00.0")
    expect("plug new", run("plug", tree, "--model", "mi300x"), 0, out="added    0000:47:00.0 node 6")
    expect("plug with stray pci", run("plug", tree, "0000:05:00.0", "--model", "mi100"), 2)
finally:
    shutil.rmtree(scratch, ignore_errors=True)

for f in failures:
    print("FAIL: " + f, file=sys.stderr)
failed = len({f.split(":")[0] for f in failures})
print("%d passed, %d failed" % (checks - failed, failed))
sys.exit(1 if failures else 0)
