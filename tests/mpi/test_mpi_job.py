#!/usr/bin/env python3
"""examples/mpi_training as a 4-rank Open MPI job (mpirun -np 4
--oversubscribe) over 4 virtual nodes, under scripts/mpi-job.sh: one GPU
unplugged at a random step (seeded) of a random rank, in each kernel mode.

  nodes: rank 0: 2 GPUs, rank 1: 1 GPU, rank 2: 2 GPUs, rank 3: 2 GPUs;
         one spare node of 1 GPU

- silent, reset (SEEDS each), a GPU of a 2-GPU node: the rank recovers in
  its process (rochp_recover) at the step it paused at; no restart (one run,
  exit 0), no rank resumed.
- sigbus (SEEDS), any rank's GPU: the rank exits 75, mpirun ends the job and
  mpi-job.sh starts it again (two runs: 75 then 0); every rank resumes at the
  last committed step (the pause step rounded down to the checkpoint period);
  a node left with no GPU is replaced by the spare (one replaced event,
  exactly when rank 1's only GPU went).
- silent and reset on rank 1's only GPU: no target, exit 75, one restart on
  the spare node, resumed at the committed step.

Every run's final checksum is the uninterrupted run's (printed by rank 0),
which is a fixed value.  Every run ends with the last checkpoint step
committed and the files of the last two commits only.
Every wait is bounded: each job by mpirun --timeout and mpi-job.sh, the
test's waits by deadlines.  Open MPI absent: skipped (77).

  test_mpi_job.py ROCHP_SIM HSASIM EXAMPLE CODE_OBJECT JOB_SCRIPT [SEEDS]"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import proc_lines  # noqa: E402
from checks import check, failures  # noqa: E402

RANKS = 4
GPUS = [2, 1, 2, 2]   # per rank's node
SPARE_GPUS = 1
STEPS, EVERY = 30, 5
# The uninterrupted run's checksum: integer kernels, the same in every build.
EXPECTED = "781601a47f299f56"
DEADLINE = 120.0


def skip_without_mpi():
    missing = [p for p in ("mpirun", "mpicc") if shutil.which(p) is None]
    if missing:
        print("skipped: Open MPI not found (%s); install openmpi-bin and libopenmpi-dev"
              % ", ".join(missing))
        sys.exit(77)


def checksum(out):
    m = re.search(r"^steps %d ranks %d checksum ([0-9a-f]{16})$" % (STEPS, RANKS), out, re.M)
    return m.group(1) if m else None


class Job:
    def __init__(self, sim, hsasim, example, co, script, work, name, mode):
        self.sim, self.example, self.co, self.script = sim, example, co, script
        self.dir = os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "ckpt"))
        self.env = dict(os.environ)
        self.env.update(ROCHP_HSA_RUNTIME=hsasim, ROCHP_SIM_KERNEL=mode)
        self.env.pop("ROCHP_SYSFS_ROOT", None)
        self.events = os.path.join(self.dir, "events")
        self.nodes = []
        with open(os.path.join(self.dir, "placement"), "w") as f:
            for rank, gpus in enumerate(GPUS + [SPARE_GPUS]):
                tree = os.path.join(self.dir, "node%d" % rank)
                subprocess.run([sim, "create", tree, "--model", "mi210", "--gpus", str(gpus)],
                               check=True, stdout=subprocess.DEVNULL, timeout=DEADLINE)
                self.nodes.append(tree)
                f.write("%s %s\n" % (rank if rank < RANKS else "spare", tree))

    def run(self, pause=None, rank=None, pick=None, wait=False):
        """Runs the job; with pause, rank `rank` pauses after step `pause`
        and the GPU pick(pcis) of its node is unplugged.  (output, events,
        exit status)."""
        args = [self.script, "--np", str(RANKS), "--timeout", str(int(DEADLINE)),
                "--restarts", "2", "--events", self.events,
                "--placement", os.path.join(self.dir, "placement"),
                "--mpirun-args", "--oversubscribe --allow-run-as-root --bind-to none",
                "--", self.example, self.co, os.path.join(self.dir, "ckpt"),
                "--steps", str(STEPS), "--every", str(EVERY)]
        if pause is not None:
            args += ["--pause-at", str(pause), "--pause-rank", str(rank)]
        p = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        q, t = proc_lines.start(p.stdout)
        log = []
        try:
            if pause is not None:
                line = proc_lines.wait_for(q, r"^rank %d paused at step %d$" % (rank, pause), log,
                                           DEADLINE)
                if line is None:
                    check(False, "%s: never paused: %s" % (self.dir, "".join(log)))
                    return "".join(log), [], None
                m = re.search(r"^rank %d started on (\S+) (\S+)$" % rank, "".join(log), re.M)
                pci = pick(sorted(set(m.groups())))
                u = subprocess.run([self.sim, "unplug", self.nodes[rank], pci] +
                                   (["--wait"] if wait else []), env=self.env,
                                   stdout=subprocess.DEVNULL, timeout=DEADLINE)
                check(u.returncode == 0, "%s: unplug %s" % (self.dir, pci))
            p.wait(timeout=3 * DEADLINE)
        finally:
            out = proc_lines.reap(p, q, t, log, DEADLINE)
        return out, proc_lines.json_lines(self.events), p.returncode


def check_files(job, name):
    """The last step committed, and only the files of the last two commits
    left (a resumed run deletes the run before's too)."""
    committed = open(os.path.join(job.dir, "ckpt", "committed")).read()
    last = (STEPS - 1) // EVERY * EVERY
    check(committed == "step %d ranks %d\n" % (last, RANKS), "%s: committed %r" % (name, committed))
    files = sorted(os.listdir(os.path.join(job.dir, "ckpt")))
    check(files == ["committed"] + sorted("rank-%d.step-%d.ckpt" % (r, s) for r in range(RANKS)
                                          for s in (last - EVERY, last)),
          "%s: the files of the last two commits: %s" % (name, files))


def case(job, name, mode, rank, pause, pick, want, restarts, replaced):
    out, evs, status = job.run(pause, rank, pick, wait=mode == "sigbus")
    check(status == 0, "%s: mpi-job.sh exit %s:\n%s" % (name, status, out))
    exits = [e["status"] for e in evs if e["event"] == "exited"]
    check(exits == [75] * restarts + [0], "%s: run exits %s, want %d restart(s)" % (name, exits, restarts))
    check(sum(e["event"] == "restarted" for e in evs) == restarts, "%s: restarts %s" % (name, evs))
    reps = [e for e in evs if e["event"] == "replaced"]
    check(len(reps) == replaced and all(e["rank"] == rank for e in reps),
          "%s: replaced %s, want %d for rank %d" % (name, reps, replaced, rank))
    resumed = re.findall(r"^rank (\d+) resumed at step (\d+) ", out, re.M)
    recovered = re.findall(r"^rank (\d+) recovered at step (\d+):", out, re.M)
    if restarts:
        last = pause // EVERY * EVERY
        check(sorted(resumed) == sorted((str(r), str(last)) for r in range(RANKS)),
              "%s (pause %d): resumed %s, want every rank at %d" % (name, pause, resumed, last))
        check(not recovered, "%s: recovered in-process too: %s" % (name, recovered))
    else:
        check(not resumed, "%s: resumed %s, want no restart" % (name, resumed))
        check(recovered == [(str(rank), str(pause))],
              "%s: recovered %s, want rank %d at step %d" % (name, recovered, rank, pause))
    check_files(job, name)
    got = checksum(out)
    check(got == want, "%s: checksum %s, want %s" % (name, got, want))
    print("%s: rank %d paused at %d: %d restart(s)%s, checksum %s"
          % (name, rank, pause, restarts, ", resumed at %d" % (pause // EVERY * EVERY) if restarts else "",
             got))


def main():
    skip_without_mpi()
    sim, hsasim, example, co, script = sys.argv[1:6]
    seeds = int(sys.argv[6]) if len(sys.argv) > 6 else 20
    work = tempfile.mkdtemp(prefix="rochp-mpi-", dir=os.environ.get("ROCHP_TEST_TMPDIR"))
    want = None
    try:
        job = Job(sim, hsasim, example, co, script, work, "plain", "silent")
        out, evs, status = job.run()
        want = checksum(out)
        check(status == 0 and want == EXPECTED,
              "uninterrupted: exit %s, checksum %s, want %s:\n%s" % (status, want, EXPECTED, out))
        check([e["event"] for e in evs] == ["started", "exited", "done"], "uninterrupted: events %s" % evs)
        check_files(job, "uninterrupted")
        if want is None:
            return 1
        for mode in ("silent", "reset", "sigbus"):
            for seed in range(1, seeds + 1):
                rnd = random.Random(seed * 31 + len(mode))
                pause = rnd.randrange(EVERY, STEPS - 1)
                if mode == "sigbus":
                    rank = rnd.randrange(RANKS)
                else:
                    rank = rnd.choice([r for r in range(RANKS) if GPUS[r] > 1])
                which = rnd.randrange(2)
                name = "%s-%d" % (mode, seed)
                job = Job(sim, hsasim, example, co, script, work, name, mode)
                restarts = 1 if mode == "sigbus" else 0
                case(job, name, mode, rank, pause, lambda pcis: pcis[which % len(pcis)], want,
                     restarts, 1 if mode == "sigbus" and GPUS[rank] == 1 else 0)
            if mode != "sigbus":
                # The node's only GPU: no target in the process; the job
                # restarts with the spare node in its place.
                name = "%s-only-gpu" % mode
                job = Job(sim, hsasim, example, co, script, work, name, mode)
                case(job, name, mode, 1, 13, lambda pcis: pcis[0], want, 1, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("checksum %s; %d failures" % (want, failures()))
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
