"""How well text triage raises the messages a counselor would raise, on a labelled set.

    .venv/bin/python bench/triage/measure.py bench/triage/blind_set_4.jsonl [--misses]

For the lexicon alone and for the lexicon with the model's second opinion (what the product
does): the recall of imminent and of high messages (raised to high or imminent), the false
raises among none and among low/moderate messages, each with its 95% Wilson interval, and
the time triage takes per message (p50 and p99, one core). A blind set is written without
sight of the lexicon or the model, so its score says how triage does on text it has not
been tuned to.
"""
from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from hotline.triage import PRIORITY_RAISING, assess, judge  # noqa: E402

GROUPS = {"imminent recall": ("imminent",), "high recall": ("high",),
          "none raised": ("none",), "low/moderate raised": ("low", "moderate")}


def wilson(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if total == 0:
        return (0.0, 1.0)
    share = hits / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (
        1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def measure(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    judge(rows[0]["text"])  # the model loads once per process: not part of a message's time
    timings, results = [], {"lexicon": [], "lexicon + model": []}
    for row in rows:
        started = time.perf_counter()
        judged = judge(row["text"])
        timings.append((time.perf_counter() - started) * 1000)
        results["lexicon"].append(assess(row["text"]).level in PRIORITY_RAISING)
        results["lexicon + model"].append(judged.raises_priority)
    report = {"set": path.name, "messages": len(rows)}
    for name, raised in results.items():
        report[name] = {}
        for label, levels in GROUPS.items():
            chosen = [hit for row, hit in zip(rows, raised) if row["level"] in levels]
            low, high = wilson(sum(chosen), len(chosen))
            report[name][label] = (f"{sum(chosen)}/{len(chosen)} "
                                   f"({100 * low:.0f}–{100 * high:.0f}%)")
    timings.sort()
    report["ms per message"] = {"p50": round(statistics.median(timings), 3),
                                "p99": round(timings[int(0.99 * (len(timings) - 1))], 3)}
    report["missed"] = [row["text"] for row, hit in zip(rows, results["lexicon + model"])
                        if row["level"] in PRIORITY_RAISING and not hit]
    report["raised wrongly"] = [row["text"] for row, hit in zip(rows, results[
        "lexicon + model"]) if row["level"] not in PRIORITY_RAISING and hit]
    return report


if __name__ == "__main__":
    found = measure(Path(sys.argv[1]))
    if "--misses" not in sys.argv:
        found.pop("missed"), found.pop("raised wrongly")
    print(json.dumps(found, ensure_ascii=False, indent=1))
