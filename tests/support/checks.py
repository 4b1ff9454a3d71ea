"""A test driver's checks: each failed one is counted and said on stderr,
and the driver ends with failures() as its verdict."""
import sys

_failed = 0


def check(cond, what):
    global _failed
    if not cond:
        _failed += 1
        print("FAIL: " + what, file=sys.stderr)


def failures():
    return _failed
