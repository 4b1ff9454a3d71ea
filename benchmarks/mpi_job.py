#!/usr/bin/env python3
"""What a lost GPU costs a 4-rank MPI job (examples/mpi_training under
scripts/mpi-job.sh, mpirun -np 4 --oversubscribe, 4 virtual nodes of 2
simulated MI210s): rank 0's GPU unplugged while it pauses after step 30.

- silent, reset: the rank recovers in its process.  recovery_step_ms: rank
  0's time for that step from the loss seen (the end of the pause) to the
  step's allreduce; unplug_to_step_ms: from the unplug call to the same
  point (detection included); median_step_ms: a step without a loss.
- sigbus: the rank exits 75, mpirun ends the job, mpi-job.sh starts it
  again.  unplug_to_exit_ms: from the unplug call to mpirun's exit;
  unplug_to_first_step_ms: to the first step of the new job completed.
- with --ulfm instead (Open MPI 5, the example built with ULFM), sigbus
  only: the rank dies of SIGKILL, the others shrink the communicator and
  take its part over from the committed step (30) in the same mpirun run.
  unplug_to_first_step_ms: from the unplug call to the first step after the
  shrink completed (the new rank 0's).

Prints one JSON object.

  mpi_job.py ROCHP_SIM HSASIM EXAMPLE CODE_OBJECT JOB_SCRIPT [REPEAT] [--ulfm]"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
import proc_lines  # noqa: E402

ULFM = "--ulfm" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--ulfm"]
SIM, HSASIM, EXAMPLE, CO, SCRIPT = ARGS[0:5]
REPEAT = int(ARGS[5]) if len(ARGS) > 5 else 3
RANKS, STEPS, EVERY, PAUSE = 4, 60, 10, 30
DEADLINE = 120.0


def one(work, mode):
    d = tempfile.mkdtemp(dir=work)
    os.makedirs(os.path.join(d, "ckpt"))
    nodes = []
    with open(os.path.join(d, "placement"), "w") as f:
        for r in range(RANKS):
            tree = os.path.join(d, "node%d" % r)
            subprocess.run([SIM, "create", tree, "--model", "mi210", "--gpus", "2"], check=True,
                           stdout=subprocess.DEVNULL, timeout=DEADLINE)
            nodes.append(tree)
            f.write("%d %s\n" % (r, tree))
    env = dict(os.environ, ROCHP_HSA_RUNTIME=HSASIM, ROCHP_SIM_KERNEL=mode)
    events = os.path.join(d, "events")
    ulfm = ["--ulfm"] if ULFM else []
    p = subprocess.Popen([SCRIPT, "--np", str(RANKS), "--timeout", str(int(DEADLINE)), "--events", events,
                          "--placement", os.path.join(d, "placement"),
                          "--mpirun-args", "--oversubscribe --allow-run-as-root --bind-to none",
                          *ulfm, "--", EXAMPLE, CO, os.path.join(d, "ckpt"), "--steps", str(STEPS),
                          "--every", str(EVERY), "--timing", "--pause-at", str(PAUSE),
                          "--pause-rank", "0", *ulfm],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    q, t = proc_lines.start(p.stdout)
    log = []
    try:
        if proc_lines.wait_for(q, r"^rank 0 paused at step %d$" % PAUSE, log, DEADLINE) is None:
            raise SystemExit("never paused: " + "".join(log))
        pci = re.search(r"^rank 0 started on (\S+)", "".join(log), re.M).group(1)
        t_unplug = time.time()
        subprocess.run([SIM, "unplug", nodes[0], pci] + (["--wait"] if mode == "sigbus" else []),
                       env=env, check=True, stdout=subprocess.DEVNULL, timeout=DEADLINE)
        p.wait(timeout=3 * DEADLINE)
    finally:
        out = proc_lines.reap(p, q, t, log, DEADLINE)
    evs = proc_lines.json_lines(events) if os.path.exists(events) else []
    shutil.rmtree(d, ignore_errors=True)
    if p.returncode != 0 or "checksum" not in out:
        raise SystemExit("%s: exit %s:\n%s" % (mode, p.returncode, out))
    steps = [(int(s), float(ms), float(at)) for s, ms, at in
             re.findall(r"^step (\d+) ms ([\d.]+) done at ([\d.]+)$", out, re.M)]
    first = [float(x) for x in re.findall(r"^first step \d+ done at ([\d.]+)$", out, re.M)]
    if ULFM:
        if "shrunk to %d ranks at step %d" % (RANKS - 1, PAUSE) not in out or len(first) != 2:
            raise SystemExit("%s --ulfm: no shrink at step %d:\n%s" % (mode, PAUSE, out))
        return {"unplug_to_first_step_ms": (first[1] - t_unplug) * 1e3}
    if mode == "sigbus":
        exited = [e["t"] for e in evs if e["event"] == "exited"]
        return {"unplug_to_exit_ms": (exited[0] - t_unplug) * 1e3,
                "unplug_to_first_step_ms": (first[1] - t_unplug) * 1e3}
    paused = [s for s in steps if s[0] == PAUSE]
    others = [ms for s, ms, _ in steps if s != PAUSE and s > 2]
    return {"recovery_step_ms": paused[-1][1], "unplug_to_step_ms": (paused[-1][2] - t_unplug) * 1e3,
            "median_step_ms": statistics.median(others)}


def main():
    work = tempfile.mkdtemp(prefix="rochp-mpi-bench-")
    result = {"ranks": RANKS, "steps": STEPS, "pause": PAUSE, "repeat": REPEAT}
    try:
        for mode in ("sigbus",) if ULFM else ("silent", "reset", "sigbus"):
            runs = [one(work, mode) for _ in range(REPEAT)]
            key = mode + "_ulfm" if ULFM else mode
            result[key] = {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}
            result[key]["runs"] = [{k: round(v, 1) for k, v in r.items()} for r in runs]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
