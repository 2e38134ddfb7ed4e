"""Benchmark 1: votes under load.

200 concurrent voters cast votes on 20 hot concerns through the API
(POST/DELETE /api/v1/concerns/<id>/vote/ with a bearer token), each client a stream
of distinct people (10,000 in all). About 8 % of requests retract an earlier vote and
4 % repeat one (a double click: the answer must be "unchanged"). First the same 200
clients hit the bare endpoint /bench/bare/ on the same server, for the baseline.

The server runs with DATABASE_POOL=1 (psycopg's pool): without it, Django under
ASGI opens one PostgreSQL connection per request, and 200 concurrent requests
exhaust this machine's max_connections (100, shared with other work). A second,
small phase (10 voters) compares DATABASE_POOL=0 with the pool in the same run.

Afterwards, for every hot concern: vote_count == rows in concerns_vote == the tally
the clients kept from the answers. Zero lost, zero counted twice.

    .venv/bin/python bench/votes.py            # full: 60 s of votes, 15 s of baseline
    .venv/bin/python bench/votes.py --short    # ~10 s of votes, 4 s of baseline

Targets (issue 8): >= 330 votes/s and >= 50 % of the bare endpoint's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import Row, Sampler, SelfCpu, Server, mb, ms  # noqa: E402

RETRACT, REPEAT = 0.08, 0.04


def main() -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.base_args(parser)
    parser.add_argument("--voters", type=int, default=200)
    parser.add_argument("--concerns", type=int, default=20)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--bare-seconds", type=float)
    parser.add_argument(
        "--stock-voters", type=int, default=10, help="voters in the pool/stock comparison"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn worker processes (the bare baseline too)"
    )
    args = parser.parse_args()
    seconds = args.seconds or (10 if args.short else 60)
    bare_seconds = args.bare_seconds or (4 if args.short else 15)
    stock_s = 4 if args.short else 15

    common.ensure_database()
    common.django_setup()
    common.flush_redis()
    from bench import fixtures
    from concerns.models import Concern, Vote

    persons = fixtures.people(args.people)
    secrets_by_person = fixtures.tokens(persons, "bench-votes")
    label = f"Bench hot concern {time.strftime('%H%M%S')}"
    hot = fixtures.open_concerns(args.concerns, label, author=persons[0])
    hot_ids = [str(c.pk) for c in hot]
    person_ids = [p.pk for p in persons]

    voters = Voters(args.voters, hot_ids, person_ids, secrets_by_person)
    with Server(workers=args.workers, pool=True, log="votes-server") as server:
        state = asyncio.run(_load(server, args.voters, seconds, bare_seconds, voters))
        # DATABASE_POOL=0 (one new connection per request under ASGI) against the pool,
        # at a concurrency this shared machine's PostgreSQL (max_connections=100) survives.
        state["pooled_small"] = asyncio.run(_small(server, args.stock_voters, stock_s, voters))
    with Server(workers=args.workers, pool=False, log="votes-stock-server") as stock_server:
        state["stock_small"] = asyncio.run(_small(stock_server, args.stock_voters, stock_s, voters))
    state["tally"] = voters.tally
    state["unexpected"] = voters.unexpected

    # The check: count == rows == the clients' tally, concern by concern.
    bad = []
    for index, concern_id in enumerate(hot_ids):
        count = Concern.objects.values_list("vote_count", flat=True).get(pk=concern_id)
        rows = Vote.objects.filter(concern_id=concern_id).count()
        tally = state["tally"][index]
        if not count == rows == tally:
            bad.append((concern_id, count, rows, tally))
    # Lost: the client was told its vote counted, but no row holds it. Counted twice:
    # rows the clients cannot account for. Drift: the counter disagrees with the rows.
    lost = sum(max(0, t - r) for _, _c, r, t in bad)
    double = sum(max(0, r - t) for _, _c, r, t in bad)
    drift = sum(abs(c - r) for _, c, r, _t in bad)
    return _report(args, seconds, state, bad, lost, double, drift)


class Voters:
    """The voting clients' shared model. Client k owns a disjoint slice of the people,
    so its record of who voted for what is exact and every answer can be checked."""

    def __init__(self, n: int, hot_ids, person_ids, secrets_by_person):
        self.hot_ids = hot_ids
        self.secrets = secrets_by_person
        self.tally = [0] * len(hot_ids)
        self.unexpected = 0
        self.rng = random.Random(11)
        owned = [person_ids[k::n] for k in range(n)]
        self.fresh = []
        for k in range(n):
            pairs = [(p, c) for p in owned[k] for c in range(len(hot_ids))]
            random.Random(k).shuffle(pairs)
            self.fresh.append(pairs)
        self.voted: list[list[tuple[int, int]]] = [[] for _ in range(n)]

    def request_fn(self, base: str):
        async def vote_request(session, k, i):
            rng, voted = self.rng, self.voted[k]
            r = rng.random()
            if r < RETRACT and voted:
                pair = voted.pop(rng.randrange(len(voted)))
                method, expect = "DELETE", True
            elif r < RETRACT + REPEAT and voted:
                pair = voted[rng.randrange(len(voted))]
                method, expect = "POST", False
            elif self.fresh[k]:
                pair = self.fresh[k].pop()
                method, expect = "POST", True
            else:
                return False, "exhausted"
            person, concern = pair
            url = f"{base}/api/v1/concerns/{self.hot_ids[concern]}/vote/"
            headers = {"Authorization": f"Bearer {self.secrets[person]}"}
            try:
                async with session.request(method, url, headers=headers) as response:
                    raw = await response.read()
                    status = response.status
            except Exception:
                # Unknown outcome: the vote may or may not have been recorded.
                if method == "DELETE":
                    voted.append(pair)
                raise
            if status != 200:
                if method == "DELETE":
                    voted.append(pair)  # the retraction did not happen
                return False, status
            changed = bool(json.loads(raw).get("changed"))
            if changed != expect:
                self.unexpected += 1
            if changed:
                self.tally[concern] += 1 if method == "POST" else -1
            if method == "POST" and expect:
                voted.append(pair)
            return True, 200

        return vote_request


async def _load(server, n_voters, seconds, bare_seconds, voters: Voters) -> dict:
    bare_url = f"{server.base}/bench/bare/"
    async with common.http_session(n_voters) as session:
        # Warm-up: every worker has its connections and caches before any measurement.
        await common.closed_loop(
            session,
            "warm",
            concurrency=20,
            seconds=1,
            request_fn=lambda s, k, i: common.get_ok(s, bare_url),
        )
        with Sampler(server.pids) as bare_sampler, SelfCpu() as bare_cpu:
            bare = await common.closed_loop(
                session,
                "bare",
                concurrency=n_voters,
                seconds=bare_seconds,
                request_fn=lambda s, k, i: common.get_ok(s, bare_url),
            )
        sessions_before = common.pg_sessions()
        with Sampler(server.pids) as vote_sampler, SelfCpu() as vote_cpu:
            votes = await common.closed_loop(
                session,
                "votes",
                concurrency=n_voters,
                seconds=seconds,
                request_fn=voters.request_fn(server.base),
            )
    await asyncio.sleep(1)
    return {
        "bare": bare,
        "votes": votes,
        "bare_sampler": bare_sampler,
        "vote_sampler": vote_sampler,
        "bare_cpu": bare_cpu,
        "vote_cpu": vote_cpu,
        "vote_pg_sessions": common.pg_sessions() - sessions_before,
    }


async def _small(server, n_voters, seconds, voters: Voters) -> dict:
    """A few voters: votes/s and PostgreSQL connections opened per request."""
    async with common.http_session(n_voters) as session:
        before = common.pg_sessions()
        with Sampler(server.pids) as sampler:
            result = await common.closed_loop(
                session,
                "small",
                concurrency=n_voters,
                seconds=seconds,
                request_fn=voters.request_fn(server.base),
            )
    await asyncio.sleep(1)
    opened = common.pg_sessions() - before
    requests = result.ok + result.errors
    return {"result": result, "sampler": sampler, "per_request": opened / max(requests, 1)}


def _small_row(args, state) -> Row:
    pooled, stock = state["pooled_small"], state["stock_small"]
    p, st = pooled["result"], stock["result"]
    return Row(
        f"1b votes, DATABASE_POOL=0 vs 1 ({args.stock_voters} voters)",
        "votes/s without the pool (1 new PG connection per request)",
        st.rate,
        "votes/s",
        round(p.rate, 1),
        "pooled votes/s",
        round(st.rate / p.rate, 3) if p.rate else "",
        target="informative",
        peak_memory=(
            f"stock {stock['per_request']:.2f} vs pooled {pooled['per_request']:.2f} "
            f"conn/request; p50 {ms(st.pct(50))} vs {ms(p.pct(50))} ms; "
            f"errors {st.errors} vs {p.errors}"
        ),
    )


def _report(args, seconds, state, bad, lost, double, drift) -> list[Row]:
    bare, votes = state["bare"], state["votes"]
    vs, bs = state["vote_sampler"], state["bare_sampler"]
    memory = f"worker {mb(vs.peak_one)} MB, server {mb(vs.peak_total)} MB"
    bare_memory = f"worker {mb(bs.peak_one)} MB, server {mb(bs.peak_total)} MB"
    ratio = votes.rate / bare.rate if bare.rate else float("nan")
    name = f"1 votes ({args.voters} voters, {args.concerns} concerns, {votes.seconds:.0f} s)"
    rows = [
        Row(
            name, "bare endpoint (same server, same run)", bare.rate, "req/s",
            target="baseline", peak_memory=bare_memory,
        ),
        Row(
            name, "votes per second", votes.rate, "votes/s", bare.rate, "bare req/s",
            round(ratio, 3), ">= 330/s and ratio >= 0.50",
            votes.rate >= 330 and ratio >= 0.5, memory,
        ),
        Row(
            name, "vote latency p50", ms(votes.pct(50)), "ms", ms(bare.pct(50)), "bare p50",
            round(votes.pct(50) / bare.pct(50), 2), peak_memory=memory,
        ),
        Row(
            name, "vote latency p99", ms(votes.pct(99)), "ms", ms(bare.pct(99)), "bare p99",
            round(votes.pct(99) / bare.pct(99), 2), peak_memory=memory,
        ),
        Row(
            name, "count = rows = client tally", f"{args.concerns - len(bad)}/{args.concerns}",
            "concerns", target="all; 0 lost, 0 double",
            met=not bad,
        ),
        Row(name, "lost / counted twice / counter drift", f"{lost} / {double} / {drift}",
            target="0 / 0 / 0", met=lost == 0 and double == 0 and drift == 0),
        Row(
            name, "failed requests / unexpected answers",
            f"{votes.errors} / {state['unexpected']}", target="0 / 0",
            met=votes.errors == 0 and state["unexpected"] == 0,
        ),
        Row(
            name, "PostgreSQL connections opened per vote (pool)",
            round(state["vote_pg_sessions"] / max(votes.ok + votes.errors, 1), 3),
            target="~0 (reused)",
        ),
        _small_row(args, state),
        Row(
            name, "CPU: server / load generator",
            f"{vs.cpu_share:.2f} / {state['vote_cpu'].share:.2f}",
            "cores", target="2 cores in all",
        ),
    ]  # fmt: skip
    common.save(
        "votes",
        rows,
        {
            "bare_statuses": bare.statuses,
            "vote_statuses": votes.statuses,
            "bad_concerns": bad,
            "requests": votes.ok + votes.errors,
            "bare_cpu_generator": state["bare_cpu"].share,
            "bare_cpu_server": bs.cpu_share,
        },
    )
    common.print_table(rows)
    return rows


if __name__ == "__main__":
    main()
