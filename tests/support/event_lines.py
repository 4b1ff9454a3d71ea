"""The checker of event lines: rochp-monitor --json and transparent mode
write the same JSON object per event (lib/common/event_json.c).  Used by
every test that reads such lines, so that one contract is checked once."""
import json

EVENTS = {"lost", "arrived", "returned", "reenumerated", "migrated", "recovered"}
REASONS = {"topology", "queue_error", "system_event", "sigbus", "watchdog"}
FIELDS = {"event": str, "pci": str, "unique_id": str, "node": int, "generation": int,
          "reason": str, "t_ns": int, "device": int, "partition": int}


def problems(obj):
    """What is wrong with one parsed event object (empty: nothing)."""
    out = []
    for name, kind in FIELDS.items():
        if name not in obj:
            out.append("no %r" % name)
        elif not isinstance(obj[name], kind):
            out.append("%r is %r, not %s" % (name, obj[name], kind.__name__))
    if obj.get("event") not in EVENTS:
        out.append("event %r unknown" % obj.get("event"))
    if obj.get("reason") not in REASONS:
        out.append("reason %r unknown" % obj.get("reason"))
    if isinstance(obj.get("unique_id"), str) and not obj["unique_id"].isdigit():
        out.append("unique_id %r is not a decimal uint64 string" % obj["unique_id"])
    pci = obj.get("pci", "")
    if isinstance(pci, str) and pci and (len(pci) != 12 or pci[4] != ":" or pci[7] != ":"):
        out.append("pci %r is not dddd:bb:dd.f" % pci)
    return out


def parse(text):
    """Parses event lines; returns (objects, problems found)."""
    objs, bad = [], []
    for no, line in enumerate(text.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            bad.append("line %d is not JSON (%s): %r" % (no, e, line))
            continue
        objs.append(obj)
        bad.extend("line %d: %s" % (no, p) for p in problems(obj))
    return objs, bad
