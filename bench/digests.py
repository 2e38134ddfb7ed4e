"""Benchmark 4: digests through real Celery workers to a local SMTP sink.

Two Celery workers (prefork, 2 processes each: as many as suit 2 cores) and Celery
beat (for the delivery sweep, as in production) run against Redis db 11 (or
BENCH_REDIS_URL) and the benchmark database; mail goes to an aiosmtpd sink on
127.0.0.1 (bench/smtp_sink.py, `--sink-processes` processes sharing the port, like an
MTA's smtpd processes) that logs each recipient and Message-ID.

1. Baseline: bare mails (bench/tasks.py: one plain message per task, the same
   workers, broker, mail backend and sink) -> mails/s.
2. Digest: the product's beat task `schedule_digests` is queued once; it builds the
   period's shared digest once, records a Delivery per person and queues one
   `send_deliveries` task per 50 Deliveries (one SMTP connection each). Timed from
   the trigger until every person's mail reached the sink -> mails/s, duplicates
   (a person mailed twice), missing (a person never mailed).
3. The same, killing one worker (SIGKILL of its main process and pool, as when a
   machine or container dies) when 30 % of the mails are out; a replacement worker
   starts a second later, as a supervisor would start it. What the killed worker
   held comes back through the delivery sweep (beat, every minute) once it is
   `--stale-seconds` old (DELIVERY_STALE_SECONDS; production default 300 s, here
   60 s so the run stays short), so this phase waits that long for the last mails.

Full: 10,000 people, weekly digest (the default preference), each phase bounded to
900 s. --short: 60 people with a daily preference and the daily digest (the same
code path), bounded to 150 s. A phase also stops waiting when no mail arrived for
20 s (in the kill phase: the stale time plus 90 s); the figures are then for the
mails that did arrive. The 1-minute load average is printed before and after each
phase: the machine is shared.

    .venv/bin/python bench/digests.py            # full
    .venv/bin/python bench/digests.py --short
    .venv/bin/python bench/digests.py --people 10000 --no-kill

Target (issue 8): >= 200 mails/s, zero duplicates, zero missing; with a worker
killed mid-run, still exactly one mail each.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from bench import common  # noqa: E402
from bench.common import RESULTS, Row, Sampler, mb  # noqa: E402


class Stack:
    """The SMTP sink and the Celery workers, all stopped on exit."""

    def __init__(self, stale_seconds: int, concurrency: int = 4, sink_processes: int = 2):
        self.concurrency = concurrency
        self.sink_processes = sink_processes
        self.port = common.free_port()
        self.sink_log = RESULTS / "sink.log"
        self.sink: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.env = common.bench_env(
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(self.port),
            DATABASE_POOL="0",
            DELIVERY_STALE_SECONDS=str(stale_seconds),
        )

    def __enter__(self) -> Stack:
        RESULTS.mkdir(exist_ok=True)
        self.sink_log.write_text("")
        self.sink = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [
                common.PYTHON, "bench/smtp_sink.py",
                "--port", str(self.port), "--log", str(self.sink_log),
                "--processes", str(self.sink_processes),
            ],
            cwd=common.ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert self.sink.stdout.readline().strip() == b"ready", "the SMTP sink did not start"
        for name in ("bench1", "bench2"):
            self.start_worker(name)
        self.start_beat()
        return self

    def start_beat(self) -> None:
        """Celery beat, as in production: it runs the delivery sweep every minute."""
        schedule = RESULTS / "celerybeat-digests"
        for stale in RESULTS.glob("celerybeat-digests*"):
            stale.unlink()
        log = open(RESULTS / "celery-beat.log", "ab")  # noqa: SIM115 - child owns it
        self.beat = subprocess.Popen(  # noqa: S603 - our own interpreter
            [
                common.PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "warning",
                "-s", str(schedule), "--pidfile=",
            ],
            cwd=common.ROOT, env=self.env, stdout=log, stderr=log,
        )  # fmt: skip

    def start_worker(self, name: str) -> None:
        log = open(RESULTS / f"celery-{name}.log", "ab")  # noqa: SIM115 - child owns it
        self.workers[name] = subprocess.Popen(  # noqa: S603 - our own interpreter
            [
                common.PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "warning",
                "-c", str(self.concurrency), "-n", f"{name}@%h", "-I", "bench.tasks",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=common.ROOT, env=self.env, stdout=log, stderr=log,
        )  # fmt: skip

    def wait_workers(self, app, names, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replies = app.control.ping(timeout=1.0) or []
            seen = {list(r)[0].split("@")[0] for r in replies}
            if set(names) <= seen:
                return
            time.sleep(0.5)
        raise RuntimeError(f"Celery workers {names} did not answer; see bench/results/celery-*.log")

    def kill_worker(self, name: str) -> int:
        """SIGKILL a worker's main process and its pool, as when its machine dies."""
        proc = self.workers[name]
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for p in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return len(tree)

    def pids(self) -> list[int]:
        return [p.pid for p in self.workers.values() if p.poll() is None]

    def lines(self) -> list[tuple[str, str]]:
        text = self.sink_log.read_text()
        return [tuple(line.split("\t", 1)) for line in text.splitlines() if "\t" in line]

    def __exit__(self, *exc) -> None:
        if self.beat is not None:
            common.stop_process(self.beat)
        for proc in self.workers.values():
            common.stop_process(proc, grace=10)
        if self.sink is not None:
            common.stop_process(self.sink)


def main() -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.base_args(parser)
    parser.add_argument("--people", type=int)
    parser.add_argument("--baseline", type=int)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="processes per worker (default 4: two workers x four processes; sending "
        "mail waits on SMTP and PostgreSQL round trips, so more processes than cores)",
    )
    parser.add_argument(
        "--sink-processes",
        type=int,
        default=2,
        help="SMTP sink processes sharing the port (default 2)",
    )
    parser.add_argument(
        "--stale-seconds",
        type=int,
        default=60,
        help="DELIVERY_STALE_SECONDS for the workers and the sweep (default 60)",
    )
    args = parser.parse_args()
    n = args.people or (60 if args.short else 10_000)
    baseline_n = args.baseline or (100 if args.short else 2_000)
    timeout = args.timeout or (150 if args.short else 900)
    period = "daily" if args.short else "weekly"

    common.ensure_database()
    common.django_setup(DATABASE_POOL="0")
    common.flush_redis()
    from bench import fixtures
    from bench.tasks import bare_mail
    from config.celery import app
    from notifications.tasks import schedule_digests

    people = fixtures.people(max(n, 10_000))
    chosen = _prepare(people, n, period)
    expected = {p.email for p in chosen}

    out: dict = {"n": n, "period": period, "stale_seconds": args.stale_seconds}
    out["concurrency"] = args.concurrency
    out["sink_processes"] = args.sink_processes
    with Stack(args.stale_seconds, args.concurrency, args.sink_processes) as stack:
        stack.wait_workers(app, ["bench1", "bench2"])
        with Sampler(stack.pids) as sampler:
            # 1. baseline
            t0 = time.monotonic()
            for i in range(baseline_n):
                bare_mail.delay(i)
            got = _wait(
                stack,
                lambda lines: sum(1 for r, _ in lines if r.startswith("bare-")) >= baseline_n,
                timeout,
            )
            out["baseline_s"] = time.monotonic() - t0
            out["baseline_ok"] = got
            # 2. digest
            with (
                Sampler(stack.pids) as digest_cpu,
                Sampler(lambda: [stack.sink.pid]) as sink_cpu,  # and its children
            ):
                out["digest"] = _digest_run(
                    stack, app, schedule_digests, period, expected, timeout, args.stale_seconds
                )
        out["sampler"] = sampler
        out["digest"]["cpu_workers"] = digest_cpu.cpu_share
        out["digest"]["cpu_sink"] = sink_cpu.cpu_share
        if not args.no_kill:
            _prepare(people, n, period)
            with Sampler(stack.pids) as kill_sampler:
                out["kill"] = _digest_run(
                    stack,
                    app,
                    schedule_digests,
                    period,
                    expected,
                    timeout,
                    args.stale_seconds,
                    kill=True,
                )
            out["kill_sampler"] = kill_sampler
    return _report(args, out, baseline_n)


def _prepare(people, n: int, period: str):
    """Forget earlier benchmark digests; give the chosen people the period's preference."""
    from notifications.models import Delivery, Frequency, Preference

    ids = [p.pk for p in people]
    Delivery.objects.filter(person_id__in=ids, key__startswith="digest:").delete()
    Preference.objects.filter(person_id__in=ids).delete()
    chosen = people[:n]
    if period == "daily":
        Preference.objects.bulk_create(
            [Preference(person_id=p.pk, digest=Frequency.DAILY) for p in chosen], batch_size=2000
        )
    else:
        # Everyone else opts out, so exactly the chosen people get the weekly digest.
        Preference.objects.bulk_create(
            [Preference(person_id=p.pk, digest=Frequency.NONE) for p in people[n:]],
            batch_size=2000,
        )
    return chosen


def _wait(stack: Stack, done, timeout: float, stall: float = 20.0) -> bool:
    """Waits until done(lines), at most `timeout` seconds, and gives up sooner when
    no mail at all arrived for `stall` seconds."""
    deadline = time.monotonic() + timeout
    seen, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        lines = stack.lines()
        if done(lines):
            return True
        if len(lines) != seen:
            seen, last_change = len(lines), time.monotonic()
        elif time.monotonic() - last_change > stall:
            return False
        time.sleep(0.25)
    return False


def _digest_run(
    stack, app, schedule_digests, period, expected, timeout, stale_seconds, kill=False
) -> dict:
    from notifications.models import Delivery, DeliveryStatus
    from notifications.services import LOST_WHILE_SENDING

    start_line = len(stack.lines())
    load_before = os.getloadavg()[0]

    def digest_lines(lines):
        return [(r, m) for r, m in lines[start_line:] if m.startswith("<delivery-")]

    t0, wall0 = time.monotonic(), time.time()
    schedule_digests.delay(period)
    result: dict = {"killed": None}
    if kill:
        ok = _wait(stack, lambda lines: len(digest_lines(lines)) >= 0.3 * len(expected), timeout)
        result["killed_at"] = len(digest_lines(stack.lines()))
        result["killed"] = stack.kill_worker("bench2") if ok else 0
        time.sleep(1)
        stack.start_worker("bench2")
    received_all = _wait(
        stack,
        lambda lines: {r for r, _ in digest_lines(lines)} >= expected,
        timeout - (time.monotonic() - t0),
        # After a kill the last mails come back through the sweep.
        stall=stale_seconds + 90 if kill else 20.0,
    )
    elapsed = time.monotonic() - t0
    # Let anything in flight land before counting; a row queued twice (a sweep of a
    # pending row still in the queue) would show here as a duplicate.
    time.sleep(5 if kill else 2)
    lines = digest_lines(stack.lines())
    by_rcpt = Counter(r for r, _ in lines)
    received = set(by_rcpt)
    deliveries = Delivery.objects.filter(key__startswith=f"digest:{period}:")
    result.update(
        elapsed=elapsed,
        complete=received_all,
        mails=len(lines),
        duplicates=sum(c - 1 for c in by_rcpt.values() if c > 1),
        missing=len(expected - received),
        unexpected=len(received - expected),
        sent_rows=deliveries.filter(status=DeliveryStatus.SENT).count(),
        pending_rows=deliveries.filter(status=DeliveryStatus.PENDING).count(),
        sending_rows=deliveries.filter(status=DeliveryStatus.SENDING).count(),
        failed_rows=deliveries.filter(status=DeliveryStatus.FAILED).count(),
        resent_after_loss=deliveries.filter(last_error__startswith=LOST_WHILE_SENDING).count(),
        retried_rows=deliveries.filter(attempts__gt=1).count(),
        rows=deliveries.count(),
        load_before=load_before,
        load_after=os.getloadavg()[0],
        **_timeline(deliveries, wall0),
    )
    print(f"  digest{' (kill)' if kill else ''}: {result}", flush=True)
    return result


def _timeline(deliveries, wall0: float) -> dict:
    """Seconds from the trigger: rows recorded (the shared digest is built before), first
    and last mail marked sent; and the sending rate between the first and last mail."""
    from django.db.models import Max, Min, Q

    from notifications.models import DeliveryStatus

    sent = Q(status=DeliveryStatus.SENT)
    times = deliveries.aggregate(
        recorded=Max("created_at"),
        first=Min("sent_at", filter=sent),
        last=Max("sent_at", filter=sent),
    )
    if not all(times.values()):
        return {}
    span = (times["last"] - times["first"]).total_seconds()
    count = deliveries.filter(sent).count()
    return {
        "recorded_s": times["recorded"].timestamp() - wall0,
        "first_sent_s": times["first"].timestamp() - wall0,
        "last_sent_s": times["last"].timestamp() - wall0,
        "sending_rate": (count - 1) / span if span > 0 else float("nan"),
    }


def _report(args, out, baseline_n) -> list[Row]:
    n = out["n"]
    base_rate = baseline_n / out["baseline_s"] if out["baseline_ok"] else float("nan")
    sampler = out["sampler"]
    memory = (
        f"workers {mb(sampler.peak_total)} MB in all (largest process {mb(sampler.peak_one)} MB)"
    )
    name = f"4 digests ({n:,} people, {out['period']}, 2 workers x {out['concurrency']} processes)"
    d = out["digest"]
    rate = d["mails"] / d["elapsed"] if d["elapsed"] else 0.0
    rows = [
        Row(name, "bare mail tasks (baseline)", base_rate, "mails/s", target="baseline",
            peak_memory=f"{baseline_n} mails" + ("" if out["baseline_ok"] else " (TIMED OUT)")),
        Row(
            name, "digest mails per second (trigger to last mail)", rate, "mails/s",
            round(base_rate, 1), "bare mails/s", round(rate / base_rate, 2) if base_rate else "",
            ">= 200/s", rate >= 200, memory,
        ),
        Row(
            name, "duplicates / missing", f"{d['duplicates']} / {d['missing']}",
            target="0 / 0", met=d["duplicates"] == 0 and d["missing"] == 0,
            peak_memory=(
                f"{d['mails']:,} mails in {d['elapsed']:.1f} s; "
                f"rows sent {d['sent_rows']:,}, pending {d['pending_rows']:,}; "
                f"load {d['load_before']:.1f} -> {d['load_after']:.1f}"
            ),
        ),
        Row(
            name,
            "sending rate, first to last mail (scheduling excluded)",
            d.get("sending_rate", float("nan")),
            "mails/s",
            round(base_rate, 1),
            "bare mails/s",
            round(d["sending_rate"] / base_rate, 2) if base_rate and "sending_rate" in d else "",
            peak_memory=(
                f"trigger -> rows recorded {d.get('recorded_s', float('nan')):.1f} s, "
                f"first mail sent {d.get('first_sent_s', float('nan')):.1f} s, "
                f"last {d.get('last_sent_s', float('nan')):.1f} s"
            ),
        ),
        Row(
            name,
            "CPU during the digest phase: workers / SMTP sink",
            f"{d['cpu_workers']:.2f} / {d['cpu_sink']:.2f}",
            "cores",
        ),
    ]  # fmt: skip
    if "kill" in out:
        k, ks = out["kill"], out["kill_sampler"]
        rows.append(
            Row(
                name, "worker SIGKILLed at 30 %: duplicates / missing",
                f"{k['duplicates']} / {k['missing']}", target="0 / 0",
                met=k["duplicates"] == 0 and k["missing"] == 0,
                peak_memory=(
                    f"killed {k['killed']} processes after {k.get('killed_at')} mails; "
                    f"{k['mails']:,} mails in {k['elapsed']:.1f} s"
                    f"{'' if k['complete'] else ' (gave up waiting)'}; rows pending "
                    f"{k['pending_rows']}, sending {k['sending_rows']}, sent again after "
                    f"the kill {k['resent_after_loss']}; sweep after "
                    f"{out['stale_seconds']} s; load {k['load_before']:.1f} -> "
                    f"{k['load_after']:.1f}; workers {mb(ks.peak_total)} MB"
                ),
            )
        )  # fmt: skip
    extra = {k: v for k, v in out.items() if k not in ("sampler", "kill_sampler")}
    common.save("digests", rows, extra)
    common.print_table(rows)
    return rows


if __name__ == "__main__":
    main()
