"""Shared plumbing for the benchmarks: the production-like environment, the ASGI
server and Celery workers they start (and always stop), process sampling (CPU and
peak memory), closed-loop HTTP load, percentiles and the results table.

Everything targets 127.0.0.1 only, and every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
RESULTS = Path(__file__).resolve().parent / "results"
MB = 1024 * 1024

# The production settings, on a database and Redis db of the benchmark's own.
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/answerable_bench"
    ),
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
    "DEBUG": "0",
    "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "ANONYMITY_KEY": "bench-anonymity-key-0123456789abcdefghijklmnopqrstuv",
    "SECURE_SSL": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    # The benchmark is one client address: rate limits would measure themselves.
    "API_REQUESTS_PER_PERIOD": "1000000000",
    "VOTES_PER_MINUTE": "1000000000",
    "CELERY_TASK_ALWAYS_EAGER": "0",
    "LOG_LEVEL": "WARNING",
    "SITE_URL": "http://127.0.0.1:8000",
}


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(BENCH_ENV)
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


def django_setup(**extra: str) -> None:
    """Configures Django in this process with the benchmark's settings."""
    for key, value in bench_env(**extra).items():
        os.environ[key] = value
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def database_name() -> str:
    return BENCH_ENV["DATABASE_URL"].rsplit("/", 1)[-1]


def ensure_database() -> None:
    """Creates and migrates the benchmark database when it does not exist yet."""
    import psycopg

    url = BENCH_ENV["DATABASE_URL"]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    name = database_name()
    if "bench" not in name:
        raise SystemExit(f"refusing to use database {name!r}: its name must contain 'bench'")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # name checked above
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=bench_env(),
        check=True,
        timeout=300,
    )


def flush_redis() -> None:
    """Empties the benchmark's own Redis db (11): throttle counters, queues, groups."""
    import redis

    redis.Redis.from_url(BENCH_ENV["REDIS_URL"]).flushdb()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Processes ----------------------------------------------------------------------------


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_process(proc: subprocess.Popen, *, grace: float = 8.0) -> None:
    """Stops a process this harness started, and its children, by pid."""
    if proc.poll() is not None:
        return
    children = [p for p in _tree(proc.pid)[1:]]
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=5)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


class Sampler:
    """Samples the RSS and CPU time of process trees every `interval` seconds in a
    thread: peak total RSS, peak RSS of any one process, CPU seconds used."""

    def __init__(self, pids_fn, interval: float = 0.25):
        self.pids_fn = pids_fn
        self.interval = interval
        self.peak_total = 0
        self.peak_one = 0
        self.samples: list[int] = []
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = self.stopped = 0.0

    def _procs(self) -> list[psutil.Process]:
        procs = []
        for pid in self.pids_fn():
            procs.extend(_tree(pid))
        return procs

    def _sample(self) -> None:
        total = 0
        for p in self._procs():
            try:
                rss = p.memory_info().rss
                cpu = sum(p.cpu_times()[:2])
            except psutil.NoSuchProcess:
                continue
            total += rss
            self.peak_one = max(self.peak_one, rss)
            self._cpu_start.setdefault(p.pid, cpu)
            self._cpu_last[p.pid] = cpu
        self.samples.append(total)
        self.peak_total = max(self.peak_total, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self.started = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        self.stopped = time.monotonic()

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu_last[p] - self._cpu_start[p] for p in self._cpu_last)

    @property
    def cpu_share(self) -> float:
        """Cores used on average (1.0 = one core busy)."""
        wall = (self.stopped or time.monotonic()) - self.started
        return self.cpu_seconds / wall if wall > 0 else 0.0

    @property
    def steady_total(self) -> int:
        """Median RSS over the second half of the samples."""
        tail = sorted(self.samples[len(self.samples) // 2 :]) or [0]
        return tail[len(tail) // 2]


class SelfCpu:
    """CPU share of this process (the load generator) over a block."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.t0, self.c0 = time.monotonic(), sum(self.proc.cpu_times()[:2])
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.cpu = sum(self.proc.cpu_times()[:2]) - self.c0

    @property
    def share(self) -> float:
        return self.cpu / self.wall if self.wall else 0.0


class Server:
    """The application as in production: uvicorn, two worker processes, DEBUG off,
    PostgreSQL and Redis, on a free port of 127.0.0.1."""

    def __init__(self, workers: int = 2, pool: bool = True, log: str = "server", **extra_env: str):
        self.port = free_port()
        self.workers = workers
        self.pool = pool
        self.extra_env = {"DATABASE_POOL": "1" if pool else "0", **extra_env}
        self.proc: subprocess.Popen | None = None
        self.log = RESULTS / f"{log}.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        RESULTS.mkdir(exist_ok=True)
        cmd = [
            PYTHON, "-m", "uvicorn", "config.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self.workers),
            "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
            "--lifespan", "off", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        self._log = open(self.log, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            cmd, cwd=ROOT, env=bench_env(**self.extra_env), stdout=self._log, stderr=self._log
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.base}/bench/bare/", timeout=2) as r:  # noqa: S310
                    if r.status == 200 and len(self.worker_pids()) >= self.workers:
                        # Every worker answers once before any measurement.
                        for _ in range(self.workers * 4):
                            urllib.request.urlopen(f"{self.base}/bench/bare/", timeout=2).read()  # noqa: S310
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the server did not start within {timeout} s; see {self.log}")

    def worker_pids(self) -> list[int]:
        """The worker processes (not multiprocessing's resource tracker)."""
        if not self.proc:
            return []
        pids = []
        for p in _tree(self.proc.pid)[1:]:
            with contextlib.suppress(psutil.NoSuchProcess):
                if "spawn_main" in " ".join(p.cmdline()):
                    pids.append(p.pid)
        return pids

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self._log.close()


def pg_sessions() -> int:
    """Connections ever opened to the benchmark database (pg_stat_database)."""
    import psycopg

    admin_url = BENCH_ENV["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", [database_name()]
        ).fetchone()
        return int(row[0]) if row else 0


def pg_connections() -> int:
    """Connections open to the benchmark database right now."""
    import psycopg

    admin_url = BENCH_ENV["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database_name()]
        ).fetchone()
        return int(row[0])


# HTTP load ----------------------------------------------------------------------------


@dataclass
class LoadResult:
    name: str
    concurrency: int
    seconds: float
    ok: int = 0
    errors: int = 0
    statuses: dict = field(default_factory=dict)
    latencies: list = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


def percentile(values, q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def closed_loop(
    session,
    name: str,
    *,
    concurrency: int,
    seconds: float,
    request_fn,
    max_requests: int = 2_000_000,
) -> LoadResult:
    """`concurrency` clients, each sending its next request when the last answered,
    for `seconds` (and at most `max_requests` in all). request_fn(session, client,
    i) returns (ok, status)."""
    result = LoadResult(name, concurrency, seconds)
    deadline = time.monotonic() + seconds
    counter = iter(range(max_requests))

    async def client(k: int) -> None:
        while time.monotonic() < deadline:
            i = next(counter, None)
            if i is None:
                return
            t0 = time.perf_counter()
            try:
                ok, status = await request_fn(session, k, i)
            except Exception as error:  # noqa: BLE001 - counted and reported
                ok, status = False, type(error).__name__
            elapsed = time.perf_counter() - t0
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if ok:
                result.ok += 1
                result.latencies.append(elapsed)
            else:
                result.errors += 1

    started = time.monotonic()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    result.seconds = time.monotonic() - started
    return result


def http_session(concurrency: int):
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency + 10, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def get_ok(session, url: str, headers=None, cookies=None) -> tuple[bool, int]:
    async with session.get(url, headers=headers, cookies=cookies, allow_redirects=False) as r:
        await r.read()
        return r.status == 200, r.status


# Results ------------------------------------------------------------------------------


@dataclass
class Row:
    benchmark: str
    metric: str
    value: float | str
    unit: str = ""
    baseline: float | str = ""
    baseline_name: str = ""
    ratio: float | str = ""
    target: str = ""
    met: bool | None = None
    peak_memory: str = ""


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def mb(n: int) -> int:
    return round(n / MB)


def save(name: str, rows: list[Row], extra: dict | None = None) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {
        "benchmark": name,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "argv": sys.argv,
        "rows": [asdict(r) for r in rows],
        "extra": extra or {},
    }
    path.write_text(json.dumps(body, indent=2, default=str))
    return path


def fmt(value) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "n/a"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value)


def table(rows: list[Row]) -> str:
    head = ["benchmark", "metric", "value", "baseline", "ratio", "target", "met", "peak memory"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        value = f"{fmt(r.value)} {r.unit}".strip()
        baseline = f"{fmt(r.baseline)} ({r.baseline_name})" if r.baseline_name else fmt(r.baseline)
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        cells = [r.benchmark, r.metric, value, baseline, fmt(r.ratio), r.target, met]
        cells.append(r.peak_memory)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_table(rows: list[Row]) -> None:
    print(table(rows), flush=True)


def base_args(parser) -> None:
    parser.add_argument("--short", action="store_true", help="the quick version (make bench)")
