#!/usr/bin/env python3
"""examples/resilient_training under rochp-run, the supervisor, on two GPUs:
its GPU unplugged at a random step (seeded) in each kernel mode.  sigbus:
the kernel's SIGBUS ends the process; silent, reset: the lost GPU fails its
waits and the example exits with 75.  Either way rochp-run starts it again
and it resumes from the checkpoint kept in rochp-run's memory (no file: the
example's STATE_FILE is never written); the final checksum is the
uninterrupted run's.  Asserted from rochp-run's event lines: one exit and
why, one restart, one resume at the last checkpoint's step.  Also: rochp-run
holds no KFD or HSA runtime (its maps and fds), and killing it leaves no
orphan.

  test_rochp_run.py ROCHP_SIM ROCHP_RUN HSASIM EXAMPLE CODE_OBJECT [SEEDS]"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import proc_lines  # noqa: E402
from checks import check, failures  # noqa: E402

SIM, RUN, HSASIM, EXAMPLE, CO = sys.argv[1:6]
SEEDS = int(sys.argv[6]) if len(sys.argv) > 6 else int(os.environ.get("ROCHP_TEST_SEEDS", "4"))
STEPS, EVERY = 200, 25
DEADLINE = 120.0


def env_for(tree, mode="silent"):
    env = dict(os.environ)
    env.update(ROCHP_SYSFS_ROOT=tree, ROCHP_HSA_RUNTIME=HSASIM, ROCHP_SIM_KERNEL=mode)
    return env


def checksum(out):
    m = re.search(r"^steps %d checksum ([0-9a-f]{16})$" % STEPS, out, re.M)
    return m.group(1) if m else None


def supervised(work, name, mode, pause):
    tree = os.path.join(work, name)
    subprocess.run([SIM, "create", tree, "--model", "mi210", "--gpus", "2"], check=True,
                   stdout=subprocess.DEVNULL, timeout=DEADLINE)
    events = tree + ".events"
    state = tree + ".state"
    args = [RUN, "--events", events, "--backoff-ms", "10", "--", EXAMPLE, CO, state,
            "--steps", str(STEPS), "--every", str(EVERY)]
    if pause is not None:
        args += ["--pause-at", str(pause)]
    env = env_for(tree, mode)
    p = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    q, t = proc_lines.start(p.stdout)
    log = []
    try:
        if pause is not None:
            if not proc_lines.wait_for(q, r"^paused$", log, DEADLINE):
                check(False, "%s: never paused: %s" % (name, "".join(log)))
                return None, [], state
            pci = re.search(r"^started on device \d+ (\S+)$", "".join(log), re.M).group(1)
            unplug = subprocess.run([SIM, "unplug", tree, pci] + (["--wait"] if mode == "sigbus" else []),
                                    env=env, stdout=subprocess.DEVNULL, timeout=DEADLINE)
            check(unplug.returncode == 0, name + ": unplug")
            if mode != "sigbus":
                p.stdin.write("go\n")
                p.stdin.flush()
        p.wait(timeout=DEADLINE)
    finally:
        out = proc_lines.reap(p, q, t, log, DEADLINE)
    check(p.returncode == 0, "%s: rochp-run exit %s (%s)" % (name, p.returncode, p.stderr.read()))
    evs = proc_lines.json_lines(events)
    return out, evs, state


def arrival(work, want):
    """--restart-on-arrival: one GPU at the start, a second plugged in
    mid-run; rochp-run stops the program right after its next checkpoint
    and the new process resumes from it, seeing both GPUs."""
    tree = os.path.join(work, "arrival")
    subprocess.run([SIM, "create", tree, "--model", "mi210", "--gpus", "1"], check=True,
                   stdout=subprocess.DEVNULL, timeout=DEADLINE)
    events = tree + ".events"
    env = env_for(tree)
    p = subprocess.Popen([RUN, "--restart-on-arrival", "--poll-ms", "20", "--events", events,
                          "--", EXAMPLE, CO, tree + ".state", "--steps", str(STEPS), "--every",
                          str(EVERY), "--pause-at", "60"], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    q, t = proc_lines.start(p.stdout)
    log = []
    try:
        check(proc_lines.wait_for(q, r"^paused$", log, DEADLINE) is not None, "arrival: never paused")
        subprocess.run([SIM, "plug", tree, "--model", "mi210"], check=True, env=env,
                       stdout=subprocess.DEVNULL, timeout=DEADLINE)
        # Go on once rochp-run noted the arrival (its event line).
        end = time.monotonic() + DEADLINE
        seen = False
        while time.monotonic() < end and not seen:
            with open(events) as f:
                seen = any('"arrived"' in line for line in f)
            if not seen:
                time.sleep(0.02)
        check(seen, "arrival: rochp-run never noted the new GPU")
        p.stdin.write("go\n")
        p.stdin.flush()
        p.wait(timeout=DEADLINE)
    finally:
        out = proc_lines.reap(p, q, t, log, DEADLINE)
    evs = proc_lines.json_lines(events)
    kinds = [e["event"] for e in evs if e["event"] != "checkpoint"]
    check(kinds == ["started", "arrived", "planned_restart", "exited", "restarted", "started",
                    "resumed", "exited", "done"], "arrival: events %s" % kinds)
    planned = [e for e in evs if e["event"] == "planned_restart"]
    check(planned and planned[0]["step"] == 75, "arrival: planned restart %s, want at step 75" % planned)
    check(re.search(r"^resumed at step 75 ", out, re.M) is not None, "arrival: %s" % out)
    check(checksum(out) == want, "arrival: checksum %s, want %s" % (checksum(out), want))


def no_orphan(work):
    """rochp-run killed while its program runs: the program goes too; and
    rochp-run itself maps no HSA runtime and holds no KFD."""
    tree = os.path.join(work, "orphan")
    subprocess.run([SIM, "create", tree, "--model", "mi210", "--gpus", "2"], check=True,
                   stdout=subprocess.DEVNULL, timeout=DEADLINE)
    p = subprocess.Popen([RUN, "--", EXAMPLE, CO, tree + ".state", "--steps", str(STEPS),
                          "--pause-at", "5"], env=env_for(tree), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    q, _ = proc_lines.start(p.stdout)
    check(proc_lines.wait_for(q, r"^paused$", [], DEADLINE) is not None, "orphan: never paused")
    children = open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()
    check(len(children) == 1, "orphan: one program under rochp-run: %s" % children)
    maps = open("/proc/%d/maps" % p.pid).read()
    check("hsa" not in maps and "rochp.so" not in maps, "rochp-run maps the runtime or librochp")
    fds = [os.readlink("/proc/%d/fd/%s" % (p.pid, fd)) for fd in os.listdir("/proc/%d/fd" % p.pid)]
    check(not any("kfd" in f for f in fds), "rochp-run holds KFD: %s" % fds)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=DEADLINE)
    end = time.monotonic() + DEADLINE
    gone = False
    while time.monotonic() < end and not gone:
        gone = not all(os.path.exists("/proc/%s" % c) and
                       open("/proc/%s/stat" % c).read().split()[2] != "Z" for c in children)
        if not gone:
            time.sleep(0.05)
    check(gone, "orphan: the program outlived rochp-run")


def main():
    work = tempfile.mkdtemp(prefix="rochp-run-")
    try:
        out, evs, state = supervised(work, "plain", "silent", None)
        want = checksum(out or "")
        check(want is not None, "uninterrupted: no checksum: %s" % out)
        check([e["event"] for e in evs if e["event"] != "checkpoint"] == ["started", "exited", "done"],
              "uninterrupted: events %s" % evs)
        check(sum(e["event"] == "checkpoint" for e in evs) == STEPS // EVERY, "uninterrupted: checkpoints")
        check(not os.path.exists(state), "a file was written under rochp-run")
        for mode in ("silent", "reset", "sigbus"):
            for seed in range(1, SEEDS + 1):
                pause = random.Random(seed * 7 + len(mode)).randrange(EVERY, STEPS - 1)
                name = "%s-%d" % (mode, seed)
                out, evs, state = supervised(work, name, mode, pause)
                if out is None:
                    continue
                kinds = [e["event"] for e in evs if e["event"] != "checkpoint"]
                check(kinds == ["started", "exited", "restarted", "started", "resumed", "exited", "done"],
                      "%s (pause %d): events %s" % (name, pause, kinds))
                exits = [e for e in evs if e["event"] == "exited"]
                why = "signal SIGBUS" if mode == "sigbus" else "exit 75"
                check(exits and exits[0]["why"] == why, "%s: first exit %s, want %s" % (name, exits, why))
                resumed = [e for e in evs if e["event"] == "resumed"]
                last = pause // EVERY * EVERY
                check(resumed and resumed[0]["step"] == last,
                      "%s: resumed %s, want step %d" % (name, resumed, last))
                check(re.search(r"^resumed at step %d " % last, out, re.M) is not None,
                      "%s: the program did not say it resumed at %d" % (name, last))
                check(not os.path.exists(state), name + ": a file was written")
                got = checksum(out)
                check(got == want, "%s: checksum %s, want %s" % (name, got, want))
                if resumed:
                    print("%s: paused at %d, resumed at %d, %.1f ms after the exit (load %.1f ms)"
                          % (name, pause, last, resumed[0]["since_exit_ms"], resumed[0]["load_ms"]))
        arrival(work, want)
        no_orphan(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("checksum %s; %d failures" % (want, failures()))
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
