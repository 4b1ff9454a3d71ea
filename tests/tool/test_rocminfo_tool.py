#!/usr/bin/env python3
"""Debian's unmodified rocminfo on hsasim with transparent mode loaded
(HSA_TOOLS_LIB=librochp_tool.so): it still runs, exits 0 and prints exactly
what it prints without the tool; the tool writes no event (nothing is
lost).  Skipped (77) under the sanitizers (rocminfo is not instrumented) and
where rocminfo is not installed.

  test_rocminfo_tool.py TOOL"""
import os
import shutil
import subprocess
import sys
import tempfile

TOOL = sys.argv[1]
BIN = os.environ.get("ROCHP_BIN_DIR", "")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(BIN, "rochp-sim", "rochp-sim")
HSASIM = os.path.join(os.path.dirname(BIN), "hsasim")
RUN = os.path.join(ROOT, "scripts", "rocminfo-sim.sh")

if os.environ.get("ROCHP_SANITIZE"):
    print("skipped: rocminfo cannot load sanitized libraries")
    sys.exit(77)
if not shutil.which("rocminfo"):
    print("skipped: rocminfo is not installed")
    sys.exit(77)

base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
scratch = tempfile.mkdtemp(prefix="rochp-rocminfo-tool-", dir=base)
failures = []
try:
    tree = os.path.join(scratch, "t")
    subprocess.run([SIM, "create", tree, "--model", "mi300x", "--gpus", "2", "--partitions", "2"],
                   check=True, capture_output=True)
    events = os.path.join(scratch, "events")
    env = dict(os.environ)
    env.pop("HSA_TOOLS_LIB", None)
    plain = subprocess.run(["sh", RUN, tree, HSASIM], capture_output=True, text=True, env=env,
                           timeout=120)
    env.update(HSA_TOOLS_LIB=TOOL, ROCHP_TOOL_EVENTS=events, HSA_TOOLS_REPORT_LOAD_FAILURE="1")
    tooled = subprocess.run(["sh", RUN, tree, HSASIM], capture_output=True, text=True, env=env,
                            timeout=120)
    if plain.returncode != 0:
        failures.append("rocminfo without the tool: rc %d: %s" % (plain.returncode,
                                                                   plain.stderr[-2000:]))
    if tooled.returncode != 0:
        failures.append("rocminfo with the tool: rc %d: %s" % (tooled.returncode,
                                                                tooled.stderr[-2000:]))
    if "GPU" not in plain.stdout or plain.stdout != tooled.stdout:
        failures.append("the same output with and without the tool:\n--- without\n%s\n--- with\n%s"
                        % (plain.stdout[-3000:], tooled.stdout[-3000:]))
    if "rochp tool" in tooled.stderr:
        failures.append("the tool said something: " + tooled.stderr[-2000:])
    if os.path.exists(events) and open(events).read():
        failures.append("events written without a loss: " + open(events).read())
finally:
    shutil.rmtree(scratch, ignore_errors=True)
for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print("%d failed" % len(failures))
sys.exit(1 if failures else 0)
