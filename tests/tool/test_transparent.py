#!/usr/bin/env python3
"""Transparent mode on an unmodified HSA program (hsa_stream: queue
callback that aborts, unbounded waits, as HIP's): with
HSA_TOOLS_LIB=librochp_tool.so, one of two GPUs unplugged at a random step
under each kernel behaviour.  Asserted: no abort, no hang; the other GPU's
results exact; every dispatch's async completion handler run, the lost
GPU's too (HIP completes its commands in such handlers); exactly one loss line (the monitor's checker) naming the
GPU and the program's pid; the exit code the policy says (75 under sigbus
whatever the policy).  Also: a program that loses nothing runs as without
the tool, and a bad policy keeps the tool out with a message.

  test_transparent.py STREAM CODE_OBJECT TOOL [SEEDS]"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import event_lines  # noqa: E402

STREAM, CO, TOOL = sys.argv[1:4]
SEEDS = int(sys.argv[4]) if len(sys.argv) > 4 else 4
SIM = os.path.join(os.environ.get("ROCHP_BIN_DIR", ""), "rochp-sim", "rochp-sim")
STEPS = 60
LOST_PCI = "0000:63:00.0"  # GPU 0 of `create --model mi210 --gpus 2`
failures = []
checks = 0


def expect(what, ok, detail=""):
    global checks
    checks += 1
    if not ok:
        failures.append("%s: %s" % (what, detail))


def sim(*args, mode="sigbus"):
    env = dict(os.environ, ROCHP_SIM_KERNEL=mode)
    subprocess.run([SIM, *args], check=True, capture_output=True, env=env, timeout=120)


def start(tree, mode, events, lives=1, steps=STEPS, **extra):
    env = dict(os.environ, ROCHP_SYSFS_ROOT=tree, ROCHP_SIM_KERNEL=mode, HSA_TOOLS_LIB=TOOL,
               ROCHP_TOOL_EVENTS=events, ROCHP_TOOL_POLL_MS="20", **extra)
    return subprocess.Popen([STREAM, CO, str(steps), "3000", str(lives)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def results_of(out):
    import json
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def result_of(out):
    r = results_of(out)
    return r[0] if r else None


def run_unplug(scratch, mode, seed):
    rng = random.Random(seed * 7919 + len(mode))
    policy = "continue" if seed % 2 == 0 else "exit"
    at = rng.randrange(1, STEPS // 2)  # room after it for the slowest detection (polling)
    tree = os.path.join(scratch, "%s-%d" % (mode, seed))
    events = tree + ".events"
    sim("create", tree, "--model", "mi210", "--gpus", "2")
    # Steps until told to stop, so that no program ends before the unplug
    # has reached it, however slow the machine.
    p = start(tree, mode, events, steps=0, ROCHP_TOOL_ON_LOSS=policy)
    out = []
    while True:
        line = p.stdout.readline()
        if not line:
            break
        out.append(line)
        if line.strip() == "step %d" % at:
            # Land anywhere in the step: before the dispatch, in a wait,
            # in the copy (not a timing assertion: only where it lands).
            time.sleep(rng.random() * 0.004)
            sim("unplug", tree, LOST_PCI, mode=mode)
            break
    # Stop once the loss is told (or the program ended by itself).
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and \
            not (os.path.exists(events) and '"lost"' in open(events).read()):
        time.sleep(0.01)  # polling for a condition, with a deadline (no timing assertion)
    try:
        if p.poll() is None:
            p.stdin.write("stop\n")
            p.stdin.flush()
    except BrokenPipeError:
        pass
    try:
        rest, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        rest, err = p.communicate()
        expect("%s seed %d: no hang" % (mode, seed), False, "killed after 120 s; " + err[-2000:])
        return
    out = "".join(out) + rest
    what = "%s seed %d (%s, unplug after step %d)" % (mode, seed, policy, at)
    expect(what + ": not aborted", p.returncode >= 0 and "aborting" not in err,
           "rc %d; %s" % (p.returncode, err[-2000:]))
    want_rc = 0 if (policy == "continue" and mode != "sigbus") else 75
    expect(what + ": exit code", p.returncode == want_rc, "rc %d want %d; %s" %
           (p.returncode, want_rc, err[-2000:]))
    text = open(events).read() if os.path.exists(events) else ""
    lines, bad = event_lines.parse(text)
    expect(what + ": event lines keep the monitor's contract", not bad, "; ".join(bad))
    lost = [l for l in lines if l["event"] == "lost"]
    expect(what + ": exactly one loss line", len(lost) == 1, text)
    if lost:
        expect(what + ": the lost GPU", lost[0]["pci"] == LOST_PCI, str(lost[0]))
        expect(what + ": the program's pid", lost[0].get("pid") == p.pid, str(lost[0]))
        expect(what + ": no HIP, no ordinal", lost[0].get("hip_ordinal", 0) is None, str(lost[0]))
    if want_rc == 0:
        r = result_of(out)
        expect(what + ": the program finished", r is not None, out[-2000:])
        if r:
            g0, g1 = r["gpus"]
            n = r["steps"]
            expect(what + ": the other GPU exact", g1 == {"ok": n, "failed": 0, "wrong": 0,
                                                          "handled": n}, str(r))
            expect(what + ": every step of the lost GPU ended, failed ones after the unplug",
                   g0["ok"] + g0["failed"] + g0["wrong"] == n and g0["ok"] >= at and
                   g0["failed"] >= 5, str(r))
            # Async handlers of stranded work run too (the tool's): the
            # program waited for every one, as HIP does, and did not hang.
            expect(what + ": every dispatch's completion handler ran on the lost GPU too",
                   g0["handled"] == n, str(r))
    else:
        # (The program runs on for the moment between the line and the exit.)
        expect(what + ": stopped by the tool", "rochp tool:" in err and "exiting with 75" in err,
               err[-2000:])


def run_quiet(scratch):
    tree = os.path.join(scratch, "quiet")
    events = tree + ".events"
    sim("create", tree, "--model", "mi210", "--gpus", "2")
    # Three lives of the runtime in one process: the tool loaded and
    # unloaded three times (it stays mapped and starts afresh each time).
    p = start(tree, "sigbus", events, lives=3)
    out, err = p.communicate(timeout=120)
    expect("no loss: exit 0", p.returncode == 0, err[-2000:])
    r = results_of(out)
    expect("no loss: every step exact on both GPUs, in each of 3 lives",
           r == [{"steps": STEPS, "gpus": [{"ok": STEPS, "failed": 0, "wrong": 0,
                                            "handled": STEPS}] * 2}] * 3,
           str(r))
    expect("no loss: no event line", not os.path.exists(events) or not open(events).read(),
           open(events).read() if os.path.exists(events) else "")
    expect("no loss: the tool says nothing", "rochp tool" not in err, err)
    p = start(tree, "sigbus", events, ROCHP_TOOL_ON_LOSS="exit:300")
    out, err = p.communicate(timeout=120)
    expect("bad policy: named, tool out, program unchanged",
           p.returncode == 0 and "ROCHP_TOOL_ON_LOSS='exit:300'" in err and
           result_of(out)["gpus"] == [{"ok": STEPS, "failed": 0, "wrong": 0,
                                       "handled": STEPS}] * 2, err)


base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
scratch = tempfile.mkdtemp(prefix="rochp-tool-", dir=base)
try:
    run_quiet(scratch)
    for mode in ("sigbus", "silent", "reset"):
        for seed in range(SEEDS):
            run_unplug(scratch, mode, seed)
finally:
    shutil.rmtree(scratch, ignore_errors=True)

for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print("%d passed, %d failed" % (checks - len(failures), len(failures)))
sys.exit(1 if failures else 0)
