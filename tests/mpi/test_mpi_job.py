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

With `ulfm` (ctest mpi_job_ulfm; Open MPI >= 5 with ULFM: mpi-job.sh --ulfm,
mpi_training --ulfm): the same job and losses, and no restart at all --
exactly one mpirun run, exit 0:

- no loss: the checksum, and the files as above.
- sigbus (SEEDS), any rank's GPU; silent and reset on rank 1's only GPU: the
  rank prints "rank R leaves at step P" and dies of SIGKILL; the survivors
  shrink to 3 processes and roll back to the committed step C (the pause
  step rounded down to the checkpoint period): the lowest of them prints
  "shrunk to 3 ranks at step C", one survivor "rank A (of 3) took over parts
  R at step C".  At the end the marker names the last step and, when it
  came after C, the 3 files of the shrunk job (each named by the smallest
  part in it: the adopter's file holds its part and R); the files are those
  of the last two commits, each commit's set (4 files up to C, 3 after).
- silent, reset (SEEDS), a GPU of a 2-GPU node: recovered in the process, as
  above; nobody leaves.
Skipped (77) where mpi_training was built without ULFM or mpirun does not
take --with-ft ulfm (Open MPI 4.1, Debian 12).

  test_mpi_job.py ROCHP_SIM HSASIM EXAMPLE CODE_OBJECT JOB_SCRIPT [SEEDS [ulfm BUILT]]
  (BUILT: CMake's ROCHP_MPI_ULFM, true when the example has ULFM)"""
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


def seeded_case(mode, seed, salt):
    """A seeded case: the pause step, the rank (any under sigbus, one with a
    second GPU to recover to otherwise) and which of its GPUs goes."""
    rnd = random.Random(seed * salt + len(mode))
    pause = rnd.randrange(EVERY, STEPS - 1)
    if mode == "sigbus":
        rank = rnd.randrange(RANKS)
    else:
        rank = rnd.choice([r for r in range(RANKS) if GPUS[r] > 1])
    return pause, rank, rnd.randrange(2)


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

    def run(self, pause=None, rank=None, pick=None, wait=False, ulfm=False, extra=()):
        """Runs the job; with pause, rank `rank` pauses after step `pause`
        and the GPU pick(pcis) of its node is unplugged.  (output, events,
        exit status)."""
        args = [self.script] + (["--ulfm"] if ulfm else []) + [
                "--np", str(RANKS), "--timeout", str(int(DEADLINE)),
                "--restarts", "2", "--events", self.events,
                "--placement", os.path.join(self.dir, "placement"),
                "--mpirun-args", "--oversubscribe --allow-run-as-root --bind-to none",
                "--", self.example, self.co, os.path.join(self.dir, "ckpt"),
                "--steps", str(STEPS), "--every", str(EVERY)]
        if pause is not None:
            args += ["--pause-at", str(pause), "--pause-rank", str(rank)]
        if ulfm:
            args.append("--ulfm")
        args += list(extra)
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


def check_files(job, name, shrunk_at=None, shrunk_files=None):
    """The last step committed, and only the files of the last two commits
    left (a resumed run deletes the run before's too).  Under ULFM, a job
    that shrank at commit shrunk_at commits the files shrunk_files after
    it (a file for each process, named by its smallest part)."""
    committed = open(os.path.join(job.dir, "ckpt", "committed")).read()
    last = (STEPS - 1) // EVERY * EVERY

    def files_at(step):
        return list(range(RANKS)) if shrunk_at is None or step <= shrunk_at else shrunk_files
    want = "step %d ranks %d" % (last, RANKS)
    if files_at(last) != list(range(RANKS)):
        want += " files " + ",".join(str(f) for f in files_at(last))
    check(committed == want + "\n", "%s: committed %r, want %r" % (name, committed, want))
    files = sorted(os.listdir(os.path.join(job.dir, "ckpt")))
    check(files == ["committed"] + sorted("rank-%d.step-%d.ckpt" % (f, s) for s in (last - EVERY, last)
                                          for f in files_at(s)),
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


def ulfm_case(job, name, mode, rank, pause, pick, want, leaves, second=None):
    """One ULFM run: one mpirun run, exit 0.  leaves: the rank dies and the
    survivors take its part over; else it recovers in its process.  second:
    a rank that leaves too, at the start of the survivors' recovery
    (--leave-in-recovery), which must then begin again without it."""
    extra = ["--leave-in-recovery", str(second)] if second is not None else []
    out, evs, status = job.run(pause, rank, pick, wait=mode == "sigbus", ulfm=True, extra=extra)
    check(status == 0, "%s: mpi-job.sh exit %s:\n%s" % (name, status, out))
    check([e["event"] for e in evs] == ["started", "exited", "done"] and evs[1]["status"] == 0,
          "%s: events %s, want one run that exits 0" % (name, evs))
    check(not re.search(r"^rank \d+ resumed", out, re.M), "%s: a rank resumed (a restart)" % name)
    gone = re.findall(r"^rank (\d+) leaves at step (\d+): ", out, re.M)
    shrunk = re.findall(r"^shrunk to (\d+) ranks at step (\d+)$", out, re.M)
    took = re.findall(r"^rank (\d+) \(of (\d+)\) took over parts (\S+) at step (\d+)$", out, re.M)
    recovered = re.findall(r"^rank (\d+) recovered at step (\d+):", out, re.M)
    shrunk_at = shrunk_files = None
    if leaves:
        last = pause // EVERY * EVERY
        lost = [rank] + ([second] if second is not None else [])
        left = RANKS - len(lost)
        # The second leaves in the recovery from the step where its MPI
        # call failed: the pause step, or the next if its allreduce there
        # completed (ULFM lets a collective succeed at some processes).
        check(len(gone) == len(lost) and (str(rank), str(pause)) in gone and
              all(int(r) == rank or (int(r) == second and pause <= int(at) <= pause + 1)
                  for r, at in gone),
              "%s: left %s, want rank %d at step %d%s" % (name, gone, rank, pause,
                                                          " then %s" % second if second is not None else ""))
        check(shrunk == [(str(left), str(last))], "%s (pause %d): shrunk %s, want to %d at %d"
              % (name, pause, shrunk, left, last))
        # Every lost part taken over by one survivor, at the committed step.
        adopted = {}
        for who, of, parts, at in took:
            check(int(who) not in lost and of == str(left) and at == str(last),
                  "%s: took over %s" % (name, took))
            for part in parts.split(","):
                adopted[int(part)] = int(who)
        check(sorted(adopted) == sorted(lost), "%s: took over %s, want the parts %s" % (name, took, lost))
        check(not recovered, "%s: recovered in-process too: %s" % (name, recovered))
        # Each survivor keeps its own part; a file is named by the smallest
        # part in it.
        shrunk_at = last
        shrunk_files = sorted(min([r] + [p for p, w in adopted.items() if w == r])
                              for r in range(RANKS) if r not in lost)
    else:
        check(not gone and not shrunk and not took, "%s: left %s, shrunk %s, took over %s, want "
              "an in-process recovery" % (name, gone, shrunk, took))
        check(recovered == [(str(rank), str(pause))],
              "%s: recovered %s, want rank %d at step %d" % (name, recovered, rank, pause))
    check_files(job, name, shrunk_at, shrunk_files)
    got = checksum(out)
    check(got == want, "%s: checksum %s, want %s:\n%s" % (name, got, want, out if got != want else ""))
    print("%s: rank %d paused at %d: %s, checksum %s"
          % (name, rank, pause, "left, %s at %d" % (" ".join("%s took over %s" % (w, p) for w, _, p, _ in took),
                                                   shrunk_at)
             if leaves else "recovered in its process", got))


def skip_without_ulfm(built):
    if built.upper() not in ("1", "ON", "TRUE", "YES", "Y"):
        print("skipped: mpi_training built without ULFM (needs Open MPI >= 5 with mpi-ext.h's "
              "ftmpi extension; Debian 12 has Open MPI 4.1)")
        sys.exit(77)
    try:
        r = subprocess.run(["mpirun", "--with-ft", "ulfm", "--allow-run-as-root", "-np", "1", "true"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        r = None
    if r is None or r.returncode != 0:
        print("skipped: mpirun does not take --with-ft ulfm: %s" % (r.stdout.strip() if r else "timeout"))
        sys.exit(77)


def main_ulfm(sim, hsasim, example, co, script, seeds, work):
    job = Job(sim, hsasim, example, co, script, work, "ulfm-plain", "silent")
    out, evs, status = job.run(ulfm=True)
    want = checksum(out)
    check(status == 0 and want == EXPECTED,
          "ulfm uninterrupted: exit %s, checksum %s, want %s:\n%s" % (status, want, EXPECTED, out))
    check([e["event"] for e in evs] == ["started", "exited", "done"], "ulfm uninterrupted: events %s" % evs)
    check_files(job, "ulfm uninterrupted")
    for mode in ("sigbus", "silent", "reset"):
        for seed in range(1, seeds + 1):
            pause, rank, which = seeded_case(mode, seed, 37)
            name = "ulfm-%s-%d" % (mode, seed)
            job = Job(sim, hsasim, example, co, script, work, name, mode)
            ulfm_case(job, name, mode, rank, pause, lambda pcis: pcis[which % len(pcis)], EXPECTED,
                      mode == "sigbus")
        if mode != "sigbus":
            # The node's only GPU: no target in the process; the rank leaves
            # and rank 1's part goes to a survivor.
            name = "ulfm-%s-only-gpu" % mode
            job = Job(sim, hsasim, example, co, script, work, name, mode)
            ulfm_case(job, name, mode, 1, 13, lambda pcis: pcis[0], EXPECTED, True)
    # Rank 0 lost: another process writes the marker (the lowest of the
    # shrunk communicator) and the adopter's file is rank-0's name.
    job = Job(sim, hsasim, example, co, script, work, "ulfm-sigbus-rank0", "sigbus")
    ulfm_case(job, "ulfm-sigbus-rank0", "sigbus", 0, 17, lambda pcis: pcis[0], EXPECTED, True)
    # A second rank lost while the survivors recover from the first.
    job = Job(sim, hsasim, example, co, script, work, "ulfm-sigbus-twice", "sigbus")
    ulfm_case(job, "ulfm-sigbus-twice", "sigbus", 1, 13, lambda pcis: pcis[0], EXPECTED, True, second=2)
    return EXPECTED


def main():
    skip_without_mpi()
    sim, hsasim, example, co, script = sys.argv[1:6]
    seeds = int(sys.argv[6]) if len(sys.argv) > 6 else 20
    ulfm = len(sys.argv) > 7 and sys.argv[7] == "ulfm"
    if ulfm:
        skip_without_ulfm(sys.argv[8] if len(sys.argv) > 8 else "")
    work = tempfile.mkdtemp(prefix="rochp-mpi-", dir=os.environ.get("ROCHP_TEST_TMPDIR"))
    if ulfm:
        try:
            want = main_ulfm(sim, hsasim, example, co, script, seeds, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print("ulfm: checksum %s; %d failures" % (want, failures()))
        return 1 if failures() else 0
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
                pause, rank, which = seeded_case(mode, seed, 31)
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
