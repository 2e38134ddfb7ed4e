"""Runs the five benchmarks one after another, each in its own process, and prints
one table (also written to bench/results/summary.md).

    .venv/bin/python bench/run_all.py --short    # what `make bench` runs: a few minutes
    .venv/bin/python bench/run_all.py            # the full versions: about an hour
    .venv/bin/python bench/run_all.py --only votes,ledger --short
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import RESULTS, Row  # noqa: E402

BENCHMARKS = ["votes", "reads", "fanout", "digests", "ledger"]
# Generous bounds: a benchmark that hangs is stopped, and the others still run.
TIMEOUTS = {"short": 600, "full": 3600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--only", type=str, default="")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only.split(",")]
    mode = "short" if args.short else "full"
    RESULTS.mkdir(exist_ok=True)
    common.ensure_database()

    header = [
        f"date: {time.strftime('%Y-%m-%d %H:%M')}",
        f"machine: {os.cpu_count()} cores, shared; {platform.platform()}; "
        f"Python {platform.python_version()}",
        f"command: {' '.join(['bench/run_all.py', *sys.argv[1:]])} ({mode})",
    ]
    rows: list[Row] = []
    notes = []
    for name in chosen:
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        cmd = [common.PYTHON, f"bench/{name}.py"] + (["--short"] if args.short else [])
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        try:
            proc = subprocess.run(  # noqa: S603 - our own interpreter and scripts
                cmd, cwd=common.ROOT, env=common.bench_env(), timeout=TIMEOUTS[mode]
            )
            status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        except subprocess.TimeoutExpired:
            status = f"stopped after {TIMEOUTS[mode]} s"
        elapsed = time.monotonic() - started
        notes.append(
            f"{name}: {status}, {elapsed:.0f} s, load average {load_before:.1f} -> "
            f"{os.getloadavg()[0]:.1f}"
        )
        path = RESULTS / f"{name}.json"
        if status == "ok" and path.exists():
            body = json.loads(path.read_text())
            rows += [Row(**r) for r in body["rows"]]
        else:
            rows.append(Row(name, "did not finish", status))

    summary = "\n".join(
        ["# Benchmark results", "", *[f"- {h}" for h in header], "", common.table(rows), ""]
        + ["Runs:", "", *[f"- {n}" for n in notes], ""]
    )
    (RESULTS / f"summary-{mode}.md").write_text(summary)
    print("\n" + summary, flush=True)


if __name__ == "__main__":
    main()
