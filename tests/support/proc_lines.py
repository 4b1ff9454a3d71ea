"""A child process's output lines as they come, for tests that act on what a
program printed (a pause, an arrival) while it runs: a thread pumps the
pipe into a queue, so no select on a buffered pipe can miss a line, and
every wait has a deadline."""
import queue
import re
import threading
import time


def start(stream):
    """(queue, thread): each line of stream, then None at its end."""
    lines = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line)
        lines.put(None)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return lines, t


def wait_for(lines, pattern, log, deadline_s):
    """Lines (appended to log) until one matches pattern: that line, or None
    when the output ended or deadline_s passed."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            return None
        if line is None:
            return None
        log.append(line)
        if re.search(pattern, line):
            return line


def drain(lines, thread, log, deadline_s):
    """The rest of the lines, once the stream ended (at most deadline_s)."""
    thread.join(timeout=deadline_s)
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return
        if line is not None:
            log.append(line)


def json_lines(path):
    """The JSON objects of a file of event lines (rochp-run's --events)."""
    import json
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def reap(proc, lines, thread, log, deadline_s):
    """The end of a run: proc killed if it still runs (a check failed or
    timed out), its remaining lines drained into log; all of them, as text."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    drain(lines, thread, log, deadline_s)
    return "".join(log)
