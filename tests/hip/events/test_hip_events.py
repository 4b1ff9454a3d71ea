#!/usr/bin/env python3
"""examples/hip_events on Debian's HIP over hsasim, one of two MI210s
unplugged at a random step (seeded) under one kernel behaviour, both ways a
HIP program meets rochp:

  rochp  hip_events: rochp_hip_init, events with HIP ordinals;
  plain  hip_events_plain, no rochp in it, run with
         HSA_TOOLS_LIB=librochp_tool.so (transparent mode).

Asserted for each run: no abort, no hang (every wait has a deadline); the
exit code (0 under silent and reset; 75, transparent mode's restart code,
under sigbus); exactly one loss, naming the unplugged GPU's PCI address and
HIP ordinal -- in the program's own "event lost" line (rochp) and in the
tool's JSON event lines (both: librochp_hip is transparent mode's tool too),
checked with the monitor's checker; the program dropped the lost ordinal
only, at or after the step the unplug came at, with every step before
exact; the other GPU did every step, its checksum what this script computes
from the kernel's definition.  With --no-loss instead: both GPUs finish
exactly, no event, exit 0.

  test_hip_events.py HIP_EVENTS HIP_EVENTS_PLAIN TOOL ROCHP_SIM HSASIM_DIR
                     (MODE SEEDS | --no-loss)"""
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "support"))
import event_lines  # noqa: E402

HIP_EVENTS, PLAIN, TOOL, SIM, HSASIM_DIR = sys.argv[1:6]
ITEMS = 256
M64 = (1 << 64) - 1
failures = []
checks = 0


def expect(what, ok, detail=""):
    global checks
    checks += 1
    if not ok:
        failures.append("%s: %s" % (what, detail))
    return ok


def checksum(ordinal, steps):
    """hip_events' checksum of GPU `ordinal` after `steps` steps
    (hip_events_kernels.h: acc[i] = acc[i] * MUL + add + i, from acc[i] = i;
    add = (step + 1) * 0x9e3779b97f4a7c15 + ordinal; FNV-1a over the words)."""
    acc = list(range(ITEMS))
    for s in range(steps):
        add = ((s + 1) * 0x9E3779B97F4A7C15 + ordinal) & M64
        acc = [(v * 6364136223846793005 + add + i) & M64 for i, v in enumerate(acc)]
    h = 0xCBF29CE484222325
    for v in acc:
        h = ((h ^ v) * 0x100000001B3) & M64
    return h


def sim(*args, mode="silent"):
    subprocess.run([SIM, *args], check=True, capture_output=True, timeout=120,
                   env=dict(os.environ, ROCHP_SIM_KERNEL=mode))


class Program:
    """A run of hip_events(_plain), its stdout read by a thread so that every
    wait for a line has a deadline."""

    def __init__(self, variant, tree, mode, events, steps, pause_us):
        env = dict(os.environ, ROCHP_SYSFS_ROOT=tree, ROCHP_SIM_KERNEL=mode,
                   ROCHP_TOOL_POLL_MS="20", ROCHP_TOOL_EVENTS=events,
                   LD_LIBRARY_PATH=HSASIM_DIR + (":" + os.environ["LD_LIBRARY_PATH"]
                                                 if os.environ.get("LD_LIBRARY_PATH") else ""))
        exe = HIP_EVENTS
        if variant == "plain":
            exe = PLAIN
            env["HSA_TOOLS_LIB"] = TOOL
        else:
            env.pop("HSA_TOOLS_LIB", None)  # rochp_hip_init sets it
        self.p = subprocess.Popen([exe, "--steps", str(steps), "--pause-us", str(pause_us),
                                   "--items", str(ITEMS), "--poll-ms", "20"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self.q = queue.Queue()
        self.err = []
        threading.Thread(target=self._read, args=(self.p.stdout, self.q), daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    @staticmethod
    def _read(stream, q):
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)

    def wait_line(self, pred, deadline):
        """The first line (from those not read yet) that pred accepts; None
        at the end of the output or at the deadline."""
        while True:
            try:
                line = self.q.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                return None
            if line is None:
                self.q.put(None)  # the end stays the end
                return None
            self.lines.append(line)
            if pred(line):
                return line

    def stop(self):
        try:
            self.p.stdin.write("stop\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def finish(self, timeout):
        """Exit code (None: killed after the timeout)."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = None
        else:
            rc = self.p.returncode
        self.wait_line(lambda l: False, time.time() + 10)  # the rest of the output
        return rc

    def stderr(self):
        return "".join(self.err)[-3000:]


def parse(lines):
    """hip_events' output (its header comment gives the format)."""
    r = {"devices": {}, "events": [], "drops": [], "finished": {}, "dropped": {},
         "steps": 0, "finished_line": None, "bad": []}
    for line in lines:
        w = line.split()
        if re.fullmatch(r"devices \d+", line):
            pass
        elif re.fullmatch(r"device \d+ \S+", line):
            r["devices"][int(w[1])] = w[2]
        elif re.fullmatch(r"event \w+ ordinal -?\d+ pci \S+ reason \w+", line):
            r["events"].append({"type": w[1], "ordinal": int(w[3]), "pci": w[5],
                                "reason": w[7]})
        elif re.fullmatch(r"step \d+", line):
            r["steps"] += 1
        elif re.fullmatch(r"drop \d+ step \d+ (lost|wrong|error)", line):
            r["drops"].append({"ordinal": int(w[1]), "step": int(w[3]), "why": w[4]})
        elif re.fullmatch(r"gpu \d+ finished steps \d+ checksum 0x[0-9a-f]{16}", line):
            r["finished"][int(w[1])] = (int(w[4]), int(w[6], 16))
        elif re.fullmatch(r"gpu \d+ dropped steps \d+", line):
            r["dropped"][int(w[1])] = int(w[4])
        elif re.fullmatch(r"finished (none|\d+(,\d+)*)", line):
            r["finished_line"] = w[1]
        else:
            r["bad"].append(line)
    return r


def tool_lines(events, what):
    text = open(events).read() if os.path.exists(events) else ""
    lines, bad = event_lines.parse(text)
    expect(what + ": the tool's event lines keep the monitor's contract", not bad,
           "; ".join(bad))
    return lines, text


def run_unplug(scratch, mode, seed, variant):
    rng = random.Random("%s/%d/%s" % (mode, seed, variant))
    at = rng.randrange(1, 20)
    pause_us = rng.choice([0, 2000])  # landing in HIP's calls, or mostly between steps
    tree = os.path.join(scratch, "%s-%d-%s" % (mode, seed, variant))
    events = tree + ".events"
    sim("create", tree, "--model", "mi210", "--gpus", "2")
    what = "%s seed %d %s (unplug at step %d, pause %d us)" % (mode, seed, variant, at,
                                                               pause_us)
    prog = Program(variant, tree, mode, events, 0, pause_us)
    deadline = time.time() + 120
    if not expect(what + ": reached step %d" % at,
                  prog.wait_line(lambda l: l == "step %d" % at, deadline) is not None,
                  "\n".join(prog.lines[-20:]) + prog.stderr()):
        prog.p.kill()
        prog.finish(30)
        return
    devices = parse(prog.lines)["devices"]
    lost = rng.randrange(len(devices))
    pci = devices[lost]
    # Land anywhere in the step: in a launch, a copy, a synchronisation or
    # the pause (not a timing assertion: only where it lands).
    time.sleep(rng.random() * 0.004)
    sim("unplug", tree, pci, mode=mode)
    # Go on until the program has both heard of the loss and dropped the
    # ordinal (or ended by itself: sigbus), then let it finish.
    if variant == "rochp":
        def told():
            return any(l.startswith("event lost") for l in prog.lines)
    else:
        def told():
            return os.path.exists(events) and '"lost"' in open(events).read()

    def dropped():
        return any(l.startswith("drop ") for l in prog.lines)

    while time.time() < deadline and not (told() and dropped()):
        if prog.wait_line(lambda l: True, min(deadline, time.time() + 0.05)) is None and \
                prog.p.poll() is not None:
            break
    prog.stop()
    rc = prog.finish(120)
    if not expect(what + ": no hang", rc is not None,
                  "killed; its last lines: %s; stderr: %s" % (" | ".join(prog.lines[-8:]),
                                                              prog.stderr())):
        return
    err = prog.stderr()
    expect(what + ": not aborted", rc >= 0 and "abort" not in err.lower(),
           "rc %d; %s" % (rc, err))
    want_rc = 75 if mode == "sigbus" else 0
    expect(what + ": exit code", rc == want_rc, "rc %d, want %d; %s" % (rc, want_rc, err))
    if mode == "sigbus":
        expect(what + ": ended by transparent mode", "rochp tool: SIGBUS" in err and
               "exiting with 75" in err, err)
    r = parse(prog.lines)
    out = "\n".join(l for l in prog.lines if not l.startswith("step "))
    if os.environ.get("ROCHP_TEST_VERBOSE"):
        print("%s: rc %s\n  %s" % (what, rc, out.replace("\n", "\n  ")))
    expect(what + ": output lines as documented", not r["bad"], str(r["bad"]))

    # The loss, told once, with the right GPU.
    reasons = {"silent": {"topology"}, "reset": {"system_event", "topology"},
               "sigbus": {"sigbus"}}[mode]
    if variant == "rochp":
        lost_events = [e for e in r["events"] if e["type"] == "lost"]
        if expect(what + ": exactly one lost event", len(lost_events) == 1, out):
            e = lost_events[0]
            expect(what + ": the event's ordinal and PCI", (e["ordinal"], e["pci"]) ==
                   (lost, pci), "%s; want ordinal %d pci %s" % (e, lost, pci))
            expect(what + ": the event's reason", e["reason"] in reasons, str(e))
        expect(what + ": no other event", len(r["events"]) == len(lost_events), out)
    lines, text = tool_lines(events, what)
    tool_lost = [l for l in lines if l["event"] == "lost"]
    if expect(what + ": exactly one lost line from the tool", len(tool_lost) == 1, text):
        t = tool_lost[0]
        expect(what + ": the tool's line names the GPU, its HIP ordinal and the pid",
               (t["pci"], t.get("hip_ordinal"), t.get("pid")) == (pci, lost, prog.p.pid),
               "%s; want %s ordinal %d pid %d" % (t, pci, lost, prog.p.pid))

    # The lost ordinal dropped, every step before exact.
    drops = r["drops"]
    expect(what + ": at most one drop, of the lost ordinal, at or after the unplug's step",
           len(drops) <= 1 and all(d["ordinal"] == lost and d["step"] >= at for d in drops),
           out)
    if variant == "rochp":
        expect(what + ": dropped as lost", all(d["why"] == "lost" for d in drops), out)
    if mode == "sigbus":
        return  # ended by the tool: no final lines
    other = 1 - lost
    if not expect(what + ": dropped once", len(drops) == 1, out):
        return
    expect(what + ": the lost ordinal's exact steps are those before the drop",
           r["dropped"].get(lost) == drops[0]["step"], out)
    steps = r["steps"]
    want = (steps, checksum(other, steps))
    got = r["finished"].get(other)
    expect(what + ": the other GPU did every step, with the exact checksum", got == want,
           "got %s, want steps %d checksum 0x%016x" % (got, want[0], want[1]))
    expect(what + ": finished names the other GPU only",
           r["finished_line"] == str(other) and lost not in r["finished"], out)


def run_no_loss(scratch):
    tree = os.path.join(scratch, "no-loss")
    sim("create", tree, "--model", "mi210", "--gpus", "2")
    for variant in ("rochp", "plain"):
        events = tree + "." + variant + ".events"
        prog = Program(variant, tree, "sigbus", events, 30, 0)
        rc = prog.finish(120)
        what = "no loss, %s" % variant
        expect(what + ": exit 0", rc == 0, "rc %s; %s" % (rc, prog.stderr()))
        r = parse(prog.lines)
        want = {d: (30, checksum(d, 30)) for d in (0, 1)}
        expect(what + ": both GPUs exact", r["finished"] == want and r["finished_line"] == "0,1"
               and not r["drops"] and not r["bad"], "\n".join(prog.lines[-10:]))
        expect(what + ": no event", not r["events"] and (not os.path.exists(events) or
                                                          not open(events).read()),
               str(r["events"]))
        expect(what + ": the tool says nothing", "rochp tool" not in prog.stderr(),
               prog.stderr())


def main():
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    scratch = tempfile.mkdtemp(prefix="rochp-hip-events-", dir=base)
    try:
        if sys.argv[6] == "--no-loss":
            run_no_loss(scratch)
        else:
            mode, seeds = sys.argv[6], int(sys.argv[7])
            for seed in range(seeds):
                for variant in ("rochp", "plain"):
                    run_unplug(scratch, mode, seed, variant)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print("%d passed, %d failed" % (checks - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
