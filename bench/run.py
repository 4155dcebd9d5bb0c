"""Run the benchmarks: ``python -m bench.run [--only NAME ...] [--quick]``.

Needs the local PostgreSQL (``BENCH_DATABASE_URL``, default the ``test`` database) and Redis
(``BENCH_REDIS_URL``). Each benchmark runs in a child process of its own (a clean
interpreter: the application's extensions are process-wide), in a fresh schema it drops at
the end. The results are merged into ``bench/results/latest.json`` (a benchmark not run
keeps its last rows) and the table in ``bench/README.md`` is regenerated.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import harness

# in the order; every module has NAME, SCALES and run(scale) -> list[Result]
BENCHMARKS = {
    "webhook_burst": "bench.webhook_burst",
    "routing": "bench.routing",
    "console_fanout": "bench.fanout",
    "case_transitions": "bench.transitions",
    "durable_deadlines": "bench.deadlines",
    "case_search": "bench.search",
    "memory": "bench.memory",
    "student_import": "bench.student_import",
}
TIMEOUT_S = {"quick": 15 * 60, "full": 90 * 60}  # a benchmark that hangs is ended


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="Crisisline's benchmarks, each against a "
        "baseline in the same run; results in bench/results/latest.json and bench/README.md.")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these (of: {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true",
                        help="smaller parameters (minutes on 2 cores); the default is full scale")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scale = "quick" if args.quick else "full"
    if args.child:
        return _child(args.child, scale, Path(args.out))

    names = args.only or list(BENCHMARKS)
    rows, durations, began = [], {}, time.monotonic()
    for name in names:
        print(f"== {name} ({scale})", flush=True)
        started = time.monotonic()
        found = _in_child(name, scale)
        durations[name] = round(time.monotonic() - started, 1)
        for row in found:
            print(f"   {row['name']}: {row['status']}"
                  + (f" p50 {row['system']['p50']} p99 {row['system']['p99']} ms"
                     if row.get("system") else "")
                  + (f", ratio {row['ratio']}" if row.get("ratio") else "")
                  + (f" ({row['why']})" if row.get("why") else ""), flush=True)
        print(f"   took {durations[name]} s", flush=True)
        rows.extend(found)
    harness.write(rows, ran=names, scale=scale, duration_s=time.monotonic() - began,
                  durations=durations)
    print(f"results: {harness.RESULTS} and the table in {harness.README}")
    return 0 if all(row["status"] != harness.ERROR for row in rows) else 1


def _in_child(name: str, scale: str) -> list[dict]:
    """Run one benchmark in a fresh interpreter; a crash becomes an ``error`` row."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, "-m", "bench.run", "--child", name, "--out", str(out)]
    if scale == "quick":
        command.append("--quick")
    try:
        finished = subprocess.run(command, cwd=harness.BENCH.parent, timeout=TIMEOUT_S[scale],
                                  stderr=subprocess.PIPE, text=True)
        if finished.returncode == 0 and out.stat().st_size:
            return json.loads(out.read_text(encoding="utf-8"))
        problem = (finished.stderr or "").strip().splitlines()[-12:]
        sys.stderr.write(finished.stderr[-4000:])
        error = f"exited with {finished.returncode}: " + " / ".join(problem[-3:])
    except subprocess.TimeoutExpired:
        error = f"did not finish in {TIMEOUT_S[scale] // 60} minutes"
    finally:
        out.unlink(missing_ok=True)
    return [harness.failed_to_run(name, scale, error).to_json()]


def _child(name: str, scale: str, out: Path) -> int:
    module = importlib.import_module(BENCHMARKS[name])
    load_before = os.getloadavg()[0]
    results = module.run(scale)
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    for result in results:  # others' work on a shared machine shows here
        result.extra["load_average_1m_before_after"] = load
    out.write_text(json.dumps([result.to_json() for result in results], ensure_ascii=False),
                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
