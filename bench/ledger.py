"""Benchmark 5: verifying a 100,000-entry ledger.

The ledger is extended to 100,000 entries (in bulk, continuing the real chain from
its head, with payloads like the product's) and verified with the product's
`ledger.selectors.ledger_verify()` in this process, and with
`manage.py verify_ledger` as an operator runs it (including Django's start-up).

Baseline, in the same run: the least any verifier must do, reading the same five
columns in the same order with psycopg and hashing every entry's material once with
SHA-256. The ratio is ledger_verify / baseline.

    .venv/bin/python bench/ledger.py            # full: 5 timed runs (median)
    .venv/bin/python bench/ledger.py --short    # 2 timed runs

Target (issue 8): under 5 s for 100,000 entries.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from bench import common  # noqa: E402
from bench.common import Row, Sampler, mb  # noqa: E402


def main() -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.base_args(parser)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int)
    args = parser.parse_args()
    runs = args.runs or (2 if args.short else 5)

    common.ensure_database()
    common.django_setup(DATABASE_POOL="0")
    from ledger.selectors import ledger_verify

    added, seconds = _extend(args.entries)
    if added:
        print(f"  appended {added:,} ledger entries in bulk in {seconds:.1f} s", flush=True)

    verify_times, baseline_times = [], []
    me = psutil.Process()
    rss_before = me.memory_info().rss
    with Sampler(lambda: [me.pid], interval=0.05) as sampler:
        for _ in range(runs):
            t0 = time.perf_counter()
            result = ledger_verify()
            verify_times.append(time.perf_counter() - t0)
            assert result.ok, result.problem
            t0 = time.perf_counter()
            checked = _baseline()
            baseline_times.append(time.perf_counter() - t0)
    diagnostic = _without_canonical_check(runs)
    command_s, command_rss = _command()
    return _report(args, result, checked, verify_times, baseline_times, sampler, rss_before,
                   command_s, command_rss, diagnostic)  # fmt: skip


def _without_canonical_check(runs: int) -> float:
    """Diagnostic only: ledger_verify() with its per-entry canonical-JSON re-check
    (json.loads + json.dumps of every payload) replaced by a no-op, to show what
    that check costs. The product is not changed."""
    from unittest import mock

    from ledger import selectors

    times = []
    with mock.patch.object(selectors, "_is_canonical", lambda payload: True):
        for _ in range(runs):
            t0 = time.perf_counter()
            assert selectors.ledger_verify().ok
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _extend(target: int) -> tuple[int, float]:
    """Appends entries in bulk after the current head until the ledger holds `target`."""
    from django.db import connection, transaction

    from ledger.models import LedgerHead
    from ledger.services import canonical_json, entry_hash

    started = time.monotonic()
    with transaction.atomic():
        head, _ = LedgerHead.objects.select_for_update().get_or_create(pk=1)
        missing = target - head.sequence
        if missing <= 0:
            return 0, 0.0
        sequence, previous = head.sequence, head.entry_hash
        buffer = io.StringIO()
        today = time.strftime("%Y-%m-%d")
        for n in range(missing):
            sequence += 1
            kind = ("concern.status", "response.published", "commitment.updated")[n % 3]
            payload = canonical_json(
                {
                    "concern": f"00000000-0000-4000-8000-{sequence:012d}",
                    "from": "open",
                    "to": "response_due",
                    "on": today,
                    "by": None if n % 4 == 0 else f"Bench Leader {n % 17}",
                    "note": "Reached 10 votes: a written response is now due.",
                }
            )
            digest = entry_hash(
                sequence=sequence, kind=kind, payload=payload, previous_hash=previous
            )
            payload_field = payload.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            buffer.write(f"{sequence}\t{kind}\t{payload_field}\t{previous}\t{digest}\t{today}\n")
            previous = digest
        with (
            connection.cursor() as wrapper,
            wrapper.cursor.copy(
                "COPY ledger_ledgerentry (sequence, kind, payload, previous_hash, entry_hash, "
                "recorded_on) FROM STDIN"
            ) as copy,
        ):
            copy.write(buffer.getvalue())
        head.sequence, head.entry_hash = sequence, previous
        head.save(update_fields=["sequence", "entry_hash"])
    return missing, time.monotonic() - started


def _baseline() -> int:
    """Read the chain and hash each entry once: the floor for any verifier."""
    import psycopg

    checked, previous = 0, "0" * 64
    with (
        psycopg.connect(common.BENCH_ENV["DATABASE_URL"]) as conn,
        conn.cursor(name="bench_ledger_baseline") as cursor,
    ):
        cursor.itersize = 5000
        cursor.execute(
            "SELECT sequence, kind, payload, previous_hash, entry_hash "
            "FROM ledger_ledgerentry ORDER BY sequence"
        )
        for sequence, kind, payload, previous_hash, stored in cursor:
            material = f"{sequence}\n{kind}\n{previous_hash}\n{payload}".encode()
            if hashlib.sha256(material).hexdigest() != stored or previous_hash != previous:
                raise SystemExit(f"baseline found a broken chain at #{sequence}")
            previous = stored
            checked += 1
    return checked


def _command() -> tuple[float, int]:
    """`manage.py verify_ledger` as an operator runs it: wall time and peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [common.PYTHON, "manage.py", "verify_ledger"],
        cwd=common.ROOT, env=common.bench_env(DATABASE_POOL="0"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    with Sampler(lambda: [proc.pid], interval=0.05) as sampler:
        out, _ = proc.communicate(timeout=120)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"verify_ledger failed: {out.decode()[-500:]}")
    return elapsed, sampler.peak_one


def _report(args, result, checked, verify_times, baseline_times, sampler, rss_before,
            command_s, command_rss, diagnostic) -> list[Row]:  # fmt: skip
    verify = statistics.median(verify_times)
    baseline = statistics.median(baseline_times)
    name = f"5 ledger ({result.checked:,} entries, median of {len(verify_times)})"
    memory = f"process peak {mb(sampler.peak_one)} MB (+{mb(sampler.peak_one - rss_before)} MB)"
    rows = [
        Row(
            name, "ledger_verify()", round(verify, 2), "s", round(baseline, 2),
            "read + SHA-256 only", round(verify / baseline, 2), "< 5 s", verify < 5, memory,
        ),
        Row(
            name, "diagnostic: ledger_verify() minus the canonical-JSON re-check",
            round(diagnostic, 2), "s", round(baseline, 2), "read + SHA-256 only",
            round(diagnostic / baseline, 2), "informative",
        ),
        Row(
            name, "manage.py verify_ledger (with start-up)", round(command_s, 2), "s",
            target="< 5 s", met=command_s < 5, peak_memory=f"peak {mb(command_rss)} MB",
        ),
        Row(name, "entries checked / baseline checked", f"{result.checked:,} / {checked:,}",
            target=f">= {args.entries:,}", met=result.checked >= args.entries),
    ]  # fmt: skip
    common.save(
        "ledger",
        rows,
        {"verify_times": verify_times, "baseline_times": baseline_times},
    )
    common.print_table(rows)
    return rows


if __name__ == "__main__":
    main()
