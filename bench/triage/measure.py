"""How well text triage raises the messages a counselor would raise, on a labelled set.

    .venv/bin/python bench/triage/measure.py bench/triage/blind_set_2.jsonl

Recall: the share of high/imminent messages whose priority is raised. False raises: the
share of none/low/moderate messages raised anyway. A blind set is written without sight of
the lexicon, so its score says how triage does on text it has not been tuned to.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from hotline.triage import assess  # noqa: E402

RAISE = ("high", "imminent")


def measure(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    confusion, missed, false_raises = Counter(), [], []
    for row in rows:
        got = assess(row["text"])
        confusion[(row["level"], got.level)] += 1
        if row["level"] in RAISE and not got.raises_priority:
            missed.append(row)
        if row["level"] not in RAISE and got.raises_priority:
            false_raises.append(row)
    risky = sum(1 for row in rows if row["level"] in RAISE)
    return {"messages": len(rows), "high_or_imminent": risky,
            "recall": round((risky - len(missed)) / risky, 3) if risky else None,
            "false_raises": len(false_raises), "missed": missed, "raised_wrongly": false_raises,
            "confusion": {f"{want}->{got}": n for (want, got), n in sorted(confusion.items())}}


if __name__ == "__main__":
    result = measure(Path(sys.argv[1]))
    print(json.dumps(result, ensure_ascii=False, indent=1))
