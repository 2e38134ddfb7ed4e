"""Benchmark 2: reads at scale.

On the database `manage.py seed_bench` builds (100,000 concerns, 1,000,000 votes,
10,000 people; seeded here when missing, ~2 minutes), a signed-in person reads the
concern list page (HTML), a deep page of it, searches (HTML list with ?q=) and the
API list (bearer token, plain and with ?q=). Each endpoint is loaded by a few
closed-loop clients; the bare endpoint /bench/bare/ is measured at the same
concurrency before and after, and the ratio is p50(endpoint) / p50(bare). The
signed-in bare endpoint /bench/signed-in/ (the bare view behind login_required: the
session and the person read, nothing else) is measured the same way, as the floor
under every signed-in page.

Queries per page are counted in this process with Django's test client on the same
database, for pages that show different numbers of rows, tags and votes: the count
must not change with the data.

The list goes by position, not by page number: "page 200" is the page reached by
following "Next" 199 times from the first (the harness follows the links in-process
once, then loads that one address).

    .venv/bin/python bench/reads.py            # full: 20 s per endpoint
    .venv/bin/python bench/reads.py --short    # 3 s per endpoint

Targets (issue 8): at most 5 queries per page, constant in the data size; p50
within 3x the bare endpoint's.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import Row, Sampler, Server, mb, ms  # noqa: E402

SIGNED_IN = "signed-in bare endpoint"
WORDS = ["parking", "pension team", "overtime", "laptop", "office", "payroll", "visa rota"]


def main() -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.base_args(parser)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn worker processes (the bare baseline too)"
    )
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--concerns", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument(
        "--queries-only",
        action="store_true",
        help="only count queries per page (e.g. on a small database, to compare sizes)",
    )
    args = parser.parse_args()
    seconds = args.seconds or (3 if args.short else 20)

    common.ensure_database()
    common.django_setup()
    common.flush_redis()
    from django.core.management import call_command

    from bench import fixtures
    from concerns.models import Concern, Vote

    if Concern.objects.count() < args.concerns or Vote.objects.count() < args.votes:
        print("seeding the benchmark database (seed_bench) ...", flush=True)
        call_command("seed_bench", concerns=args.concerns, votes=args.votes, reset=True)
    data_size = (Concern.objects.count(), Vote.objects.count())

    viewer = fixtures.people(1)[0]
    cookie = {"sessionid": fixtures.sessions([viewer])[viewer.pk]}
    token = fixtures.tokens([viewer], "bench-reads")[viewer.pk]
    auth = {"Authorization": f"Bearer {token}"}
    deep = _cursor_of_page(viewer, 200)
    endpoints = {
        # Not a page: the floor under every signed-in page (session and person read).
        SIGNED_IN: ("/bench/signed-in/", cookie, None),
        "list page (top, page 1)": ("/", cookie, None),
        "list page 200 (keyset)": (f"/?cursor={deep}", cookie, None),
        "search (list page, ?q=)": ("/?q={word}", cookie, None),
        "API list": ("/api/v1/concerns/", None, auth),
        "API search (?q=)": ("/api/v1/concerns/?q={word}", None, auth),
    }
    queries = _query_counts(viewer, token, deep)
    if args.queries_only:
        print(f"data: {data_size[0]:,} concerns, {data_size[1]:,} votes")
        for endpoint, counts in queries.items():
            print(f"  {endpoint}: {counts}")
        common.save(f"reads-queries-{data_size[0]}", [], {"queries": queries, "data": data_size})
        return []

    with Server(workers=args.workers, log="reads-server") as server:
        results = asyncio.run(_load(server, endpoints, args.concurrency, seconds))
    return _report(args, seconds, data_size, results, queries)


def _cursor_of_page(viewer, number: int, **filters) -> str:
    """The cursor a person holds on page `number` after following "Next" from the
    first page (or on the last page, if there are fewer)."""
    from concerns import selectors

    cursor = ""
    for _ in range(number - 1):
        page = selectors.concern_list(
            viewer=viewer, filters=selectors.ConcernFilters(cursor=cursor, **filters)
        )
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return cursor


def _query_counts(viewer, token, deep: str) -> dict[str, dict[str, int]]:
    """Queries per request for each page, in this process, on the same data."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(viewer)
    api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    variants = {
        "list page (top, page 1)": [(client, "/"), (client, "/?sort=new"), (client, "/?tag=pay")],
        "list page 200 (keyset)": [
            (client, f"/?cursor={deep}"),
            (client, f"/?sort=new&cursor={_cursor_of_page(viewer, 3, sort='new')}"),
        ],
        "search (list page, ?q=)": [(client, f"/?q={w}") for w in ("parking", "office")],
        "API list": [(api, "/api/v1/concerns/"), (api, "/api/v1/concerns/?status=answered")],
        "API search (?q=)": [(api, f"/api/v1/concerns/?q={w}") for w in ("parking", "office")],
    }
    counts: dict[str, dict[str, int]] = {}
    for name, calls in variants.items():
        counts[name] = {}
        for c, url in calls:
            c.get(url)  # warm: sessions, caches
            with CaptureQueriesContext(connection) as captured:
                response = c.get(url)
            assert response.status_code == 200, (url, response.status_code)
            # A cursor is a long opaque string: the table names the page instead.
            label = re.sub(r"cursor=[^&]+", "cursor=…", url)
            counts[name][label] = len(captured.captured_queries)
    return counts


async def _load(server, endpoints, concurrency: int, seconds: float) -> dict:
    bare_url = f"{server.base}/bench/bare/"
    out = {}
    async with common.http_session(concurrency) as session:

        def bare_fn(s, k, i):
            return common.get_ok(s, bare_url)

        await common.closed_loop(session, "warm", concurrency=4, seconds=1, request_fn=bare_fn)
        with Sampler(server.pids) as sampler:
            out["bare (before)"] = (
                await common.closed_loop(
                    session, "bare", concurrency=concurrency, seconds=seconds, request_fn=bare_fn
                ),
                sampler,
            )
        for name, (path, cookies, headers) in endpoints.items():

            def fn(s, k, i, path=path, cookies=cookies, headers=headers):
                url = server.base + path.format(word=WORDS[i % len(WORDS)])
                return common.get_ok(s, url, headers=headers, cookies=cookies)

            # A few requests first, so caches and plans are warm for every variant.
            await common.closed_loop(
                session, "warm", concurrency=2, seconds=1, request_fn=fn, max_requests=len(WORDS)
            )
            with Sampler(server.pids) as sampler:
                out[name] = (
                    await common.closed_loop(
                        session, name, concurrency=concurrency, seconds=seconds, request_fn=fn
                    ),
                    sampler,
                )
        with Sampler(server.pids) as sampler:
            out["bare (after)"] = (
                await common.closed_loop(
                    session, "bare", concurrency=concurrency, seconds=seconds, request_fn=bare_fn
                ),
                sampler,
            )
    return out


def _report(args, seconds, data_size, results, queries) -> list[Row]:
    before, after = results["bare (before)"][0], results["bare (after)"][0]
    bare_p50 = (before.pct(50) + after.pct(50)) / 2
    bare_p99 = (before.pct(99) + after.pct(99)) / 2
    name = (
        f"2 reads ({data_size[0]:,} concerns, {data_size[1]:,} votes, "
        f"{args.concurrency} clients, {seconds:.0f} s each)"
    )
    rows = [
        Row(
            name, "bare endpoint p50 / p99 (before, after)",
            f"{ms(before.pct(50))}/{ms(before.pct(99))}, {ms(after.pct(50))}/{ms(after.pct(99))}",
            "ms", target="baseline",
            peak_memory=f"worker {mb(results['bare (before)'][1].peak_one)} MB",
        ),
    ]  # fmt: skip
    floor, floor_sampler = results[SIGNED_IN]
    rows.append(
        Row(
            name, f"{SIGNED_IN} (session + person, no page): p50 / p99",
            f"{ms(floor.pct(50))}/{ms(floor.pct(99))}", "ms", ms(bare_p50), "bare p50",
            round(floor.pct(50) / bare_p50, 1), "floor",
            peak_memory=f"worker {mb(floor_sampler.peak_one)} MB, {floor.rate:.1f} req/s",
        )
    )  # fmt: skip
    for endpoint, counts in queries.items():
        load, sampler = results[endpoint]
        distinct = sorted(set(counts.values()))
        constant = len(distinct) == 1
        ratio = load.pct(50) / bare_p50
        memory = f"worker {mb(sampler.peak_one)} MB, server {mb(sampler.peak_total)} MB"
        errors = f", {load.errors} errors {load.statuses}" if load.errors else ""
        rows.append(
            Row(
                name, f"{endpoint}: p50", ms(load.pct(50)), "ms", ms(bare_p50), "bare p50",
                round(ratio, 1), "<= 3x bare", ratio <= 3, memory + errors,
            )
        )  # fmt: skip
        rows.append(
            Row(
                name, f"{endpoint}: p99", ms(load.pct(99)), "ms", ms(bare_p99), "bare p99",
                round(load.pct(99) / bare_p99, 1), peak_memory=f"{load.rate:.1f} req/s",
            )
        )  # fmt: skip
        rows.append(
            Row(
                name, f"{endpoint}: queries per request",
                "/".join(str(d) for d in distinct) + ("" if constant else " (varies)"),
                target="<= 5, constant", met=constant and max(distinct) <= 5,
                peak_memory=", ".join(f"{u} {n}" for u, n in counts.items()),
            )
        )  # fmt: skip
    common.save("reads", rows, {"queries": queries, "data_size": data_size})
    common.print_table(rows)
    return rows


if __name__ == "__main__":
    main()
