#!/usr/bin/env python3
"""examples/hip_training (HIP, two GPUs on hsasim) losing a GPU at a random
step, in each kernel mode:

  silent, reset  the process stays: the lost GPU's shard moves to the other
                 GPU, the loop rolls back to its last checkpoint and goes on;
                 exactly one "lost" line, with the GPU's HIP ordinal and PCI;
                 one recovery, at the checkpoint before the loss.
  sigbus         the process must let go: it exits with transparent mode's
                 restart code (75) and a new process resumes from the saved
                 checkpoint on the GPU left.

Every run's checksum is the uninterrupted run's, which is checked against a
computation of the same steps here.  Every wait is bounded.

Under rochp-run (when its path is given) the sigbus case restarts by
itself: the new process resumes from the checkpoint in the supervisor's
memory, and the example writes no file.

  test_hip_training.py ROCHP_SIM HSASIM_DIR EXAMPLE [ROCHP_RUN [SEEDS]]"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import proc_lines  # noqa: E402
from checks import check, failures  # noqa: E402

SIM, HSASIM_DIR, EXAMPLE = sys.argv[1:4]
ROCHP_RUN = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
SEEDS = int(sys.argv[5]) if len(sys.argv) > 5 else int(os.environ.get("ROCHP_TEST_SEEDS", "4"))
STEPS, EVERY, N = 60, 8, 4096
DEADLINE = 120.0


def expected_checksum():
    """The example's steps, computed here: train_step on both shards, FNV-1a
    over shard 0 then shard 1."""
    mask = 0xFFFFFFFF
    s = 1469598103934665603
    for shard in range(2):
        w = [(shard * 7919 + x) & mask for x in range(N)]
        for step in range(STEPS):
            add = step + shard * 1000
            w = [(v * 3 + add + x) & mask for x, v in enumerate(w)]
        for v in w:
            s ^= v
            s = (s * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % s


def env_for(tree):
    env = dict(os.environ)
    env["ROCHP_SYSFS_ROOT"] = tree
    env["LD_LIBRARY_PATH"] = HSASIM_DIR + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    return env


def sim(*args):
    subprocess.run([SIM] + list(args), check=True, stdout=subprocess.DEVNULL, timeout=DEADLINE)


def run(tree, state, *extra):
    p = subprocess.run([EXAMPLE, state, "--steps", str(STEPS), "--every", str(EVERY)] + list(extra),
                       env=env_for(tree), capture_output=True, text=True, timeout=DEADLINE)
    return p.returncode, p.stdout, p.stderr


def checksum(out):
    m = re.search(r"^steps %d checksum ([0-9a-f]{16})$" % STEPS, out, re.M)
    return m.group(1) if m else None


def pcis(tree):
    out = subprocess.run([SIM, "list", tree], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\b[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]\b", out)


def supervised_run(work, seed, want):
    """sigbus under rochp-run: restarted and resumed from memory by itself."""
    rnd = random.Random(seed * 53)
    pause = rnd.randrange(1, STEPS - 1)
    tree = os.path.join(work, "run-%d" % seed)
    state = tree + ".state"
    events = tree + ".events"
    sim("create", tree, "--model", "mi210", "--gpus", "2")
    lost_ordinal = rnd.randrange(2)
    lost_pci = pcis(tree)[lost_ordinal]
    env = env_for(tree)
    env["ROCHP_SIM_KERNEL"] = "sigbus"
    proc = subprocess.Popen([ROCHP_RUN, "--events", events, "--backoff-ms", "10", "--", EXAMPLE,
                             state, "--steps", str(STEPS), "--every", str(EVERY), "--pause-at",
                             str(pause)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    what = "rochp-run seed %d (GPU %d lost at step %d)" % (seed, lost_ordinal, pause)
    lines, reader = proc_lines.start(proc.stdout)
    log = []
    try:
        if not proc_lines.wait_for(lines, r"^paused$", log, DEADLINE):
            proc.kill()
            check(False, "%s: never paused: %s" % (what, "".join(log)))
            return
        check(subprocess.run([SIM, "unplug", tree, lost_pci, "--wait"], env=env,
                             stdout=subprocess.DEVNULL, timeout=DEADLINE).returncode == 0,
              what + ": unplug")
        proc.wait(timeout=DEADLINE)
    finally:
        out = proc_lines.reap(proc, lines, reader, log, DEADLINE)
    check(proc.returncode == 0, "%s: exit %d (%s)" % (what, proc.returncode, proc.stderr.read()))
    evs = proc_lines.json_lines(events)
    kinds = [e["event"] for e in evs if e["event"] != "checkpoint"]
    check(kinds == ["started", "exited", "restarted", "started", "resumed", "exited", "done"],
          "%s: events %s" % (what, kinds))
    last = pause // EVERY * EVERY
    resumed = [e for e in evs if e["event"] == "resumed"]
    check(resumed and resumed[0]["step"] == last, "%s: resumed %s, want %d" % (what, resumed, last))
    check(re.search(r"^resumed at step %d$" % last, out, re.M) is not None,
          "%s: the example did not resume at %d: %s" % (what, last, out))
    check(not os.path.exists(state), what + ": a file was written under rochp-run")
    got = checksum(out)
    check(got == want, "%s: checksum %s, want %s" % (what, got, want))
    print("%s: %s" % (what, "ok" if got == want else "checksum " + str(got)))


def unplugged_run(work, mode, seed, want):
    rnd = random.Random(seed * 31 + len(mode))
    pause = rnd.randrange(1, STEPS - 1)
    tree = os.path.join(work, "%s-%d" % (mode, seed))
    state = tree + ".state"
    sim("create", tree, "--model", "mi210", "--gpus", "2")
    gpus = pcis(tree)
    check(len(gpus) == 2, "two GPUs listed: %s" % gpus)
    lost_ordinal = rnd.randrange(2)
    lost_pci = gpus[lost_ordinal]  # HIP numbers GPUs in KFD node order
    env = env_for(tree)
    env["ROCHP_SIM_KERNEL"] = mode
    proc = subprocess.Popen([EXAMPLE, state, "--steps", str(STEPS), "--every", str(EVERY),
                             "--pause-at", str(pause)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = []
    what = "%s seed %d (GPU %d lost at step %d)" % (mode, seed, lost_ordinal, pause)
    lines, reader = proc_lines.start(proc.stdout)
    err = ""
    try:
        if not proc_lines.wait_for(lines, r"^paused$", log, DEADLINE):
            proc.kill()
            check(False, "%s: never paused: %s" % (what, "".join(log)))
            return
        unplug = subprocess.Popen([SIM, "unplug", tree, lost_pci] + (["--wait"] if mode == "sigbus" else []),
                                  env=env, stdout=subprocess.DEVNULL)
        if mode != "sigbus":
            check(unplug.wait(timeout=DEADLINE) == 0, what + ": unplug")
            # The example learns of the loss on its own (events, transparent
            # mode); the line only lets it go on.
            proc.stdin.write("go\n")
            proc.stdin.flush()
        # Under sigbus stdin stays open: the example waits in the pause
        # until the kernel's SIGBUS ends it.
        proc.wait(timeout=DEADLINE)
        proc.stdin.close()
        err = proc.stderr.read()
        if mode == "sigbus":
            check(unplug.wait(timeout=DEADLINE) == 0, what + ": unplug --wait")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc_lines.drain(lines, reader, log, DEADLINE)
    out = ""
    out = "".join(log) + out
    last = pause // EVERY * EVERY  # the checkpoint before the paused step
    lost_lines = re.findall(r"^lost GPU (-?\d+) (\S+)$", out, re.M)
    if mode == "sigbus":
        # The process goes within 50 ms of the SIGBUS, maybe before its
        # callback ran: at most the one line, and transparent mode's word.
        check(lost_lines in ([], [(str(lost_ordinal), lost_pci)]),
              "%s: lost lines %s" % (what, lost_lines))
        check(proc.returncode == 75, "%s: exit %d, want 75 (stderr: %s)" % (what, proc.returncode, err))
        check("SIGBUS" in err and "exiting with 75" in err, "%s: stderr %s" % (what, err))
        check(checksum(out) is None, what + ": the holder finished")
        rc, out2, err2 = run(tree, state)
        check(rc == 0, "%s: the resumed run failed: %s" % (what, err2))
        check(re.search(r"^resumed at step %d$" % last, out2, re.M) is not None,
              "%s: did not resume at %d: %s" % (what, last, out2))
        check(re.search(r"^started with", out2, re.M) is None, what + ": started afresh")
        got = checksum(out2)
    else:
        check(lost_lines == [(str(lost_ordinal), lost_pci)],
              "%s: one lost line for GPU %d %s, got %s" % (what, lost_ordinal, lost_pci, lost_lines))
        check(proc.returncode == 0, "%s: exit %d (stderr: %s)" % (what, proc.returncode, err))
        rec = re.findall(r"^recovered at step (\d+): shard 0 on GPU (\d+) shard 1 on GPU (\d+) "
                         r"\((\d+) moved, (\d+) rolled back\)$", out, re.M)
        survivor = str(1 - lost_ordinal)
        check(rec == [(str(last), survivor, survivor, "1", "1")],
              "%s: one recovery at step %d onto GPU %s, got %s" % (what, last, survivor, rec))
        got = checksum(out)
    check(got == want, "%s: checksum %s, want %s" % (what, got, want))
    print("%s: %s" % (what, "ok" if got == want else "checksum " + str(got)))


def main():
    if os.environ.get("ROCHP_TEST_SKIP"):
        print("SKIP: " + os.environ["ROCHP_TEST_SKIP"])
        return 77
    work = tempfile.mkdtemp(prefix="rochp-hip-training-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        want = expected_checksum()
        tree = os.path.join(work, "plain")
        sim("create", tree, "--model", "mi210", "--gpus", "2")
        rc, out, err = run(tree, tree + ".state")
        check(rc == 0 and checksum(out) == want,
              "uninterrupted: exit %d checksum %s, want %s (%s)" % (rc, checksum(out), want, err))
        for mode in ("silent", "reset", "sigbus"):
            for seed in range(1, SEEDS + 1):
                unplugged_run(work, mode, seed, want)
        for seed in range(1, SEEDS + 1 if ROCHP_RUN else 1):
            supervised_run(work, seed, want)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("checksum %s; %d failures" % (want, failures()))
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
