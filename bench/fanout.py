"""Benchmark 3: live fan-out of a meeting to WebSocket clients.

N signed-in people (each their own session) watch one live meeting at
ws/meetings/<id>/ while the moderator, on a WebSocket of their own, advances the
agenda, and people vote (through the API) on the concern being discussed: every
change bumps the meeting's sequence number and is published to everyone.

Each state message carries `seq` and `at` (the server's clock when it built the
state); the client notes when it arrived. Publish-to-receive latency is
arrival - at (same machine, same clock). An update is *missed* by a client when any
client received its seq and this one did not; *out of order* when its seq is lower
than one the client already had. Changes no client ever received are counted too;
a change published only as part of the next state (two changes that committed close
together, whose publishers both read the newer state) is counted as coalesced: every
client saw it, in the same state.

Sizes: 100, 500, 1,000, 2,000 clients (full); 100 and 500 (--short). Each size is a
fresh set of connections to the same server; changes come every --interval seconds.

    .venv/bin/python bench/fanout.py            # full: 100/500/1000/2000, 40 changes each
    .venv/bin/python bench/fanout.py --short    # 100/500, 16 changes each
    .venv/bin/python bench/fanout.py --layer list   # compare channel-layer backends

--layer chooses the channels_redis backend (the product's CHANNEL_LAYER_PUBSUB
setting): `list` is RedisChannelLayer (each group message is pushed to a Redis sorted
set per server process and popped there), `pubsub` is RedisPubSubChannelLayer (one
Redis PUBLISH per group message, delivered once to every subscribed process). Without
it the server runs with the product's default.

Target (issue 8): 2,000 clients, zero missed, p95 under 500 ms; server memory for
2,000 clients under 1 GB in all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import Row, Sampler, SelfCpu, Server, mb, ms  # noqa: E402


@dataclass
class Watcher:
    key: str
    snapshot_seq: int | None = None
    seqs: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    out_of_order: int = 0
    duplicates: int = 0
    error: str = ""


def main() -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.base_args(parser)
    parser.add_argument("--sizes", type=str)
    parser.add_argument("--changes", type=int)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument(
        "--layer",
        choices=["list", "pubsub"],
        help="channel-layer backend for the server (default: the product's default)",
    )
    args = parser.parse_args()
    sizes = [
        int(s)
        for s in (args.sizes or ("100,500" if args.short else "100,500,1000,2000")).split(",")
    ]
    changes = args.changes or (16 if args.short else 40)

    common.ensure_database()
    common.django_setup()
    common.flush_redis()
    from django.utils import timezone

    from bench import fixtures
    from meetings import services as meeting_services

    people = fixtures.people(max(sizes) + changes * len(sizes) + 10)
    audience = people[: max(sizes)]
    voters = people[max(sizes) :]
    mod = fixtures.moderator()
    keys = fixtures.sessions([*audience, mod])
    tokens = fixtures.tokens(voters, "bench-fanout")
    concerns = fixtures.open_concerns(8, f"Bench meeting item {time.strftime('%H%M%S')}", people[0])
    meeting = meeting_services.meeting_create(
        organiser=mod, title="Bench all-hands", scheduled_start=timezone.now()
    )
    items = [
        meeting_services.agenda_item_add(meeting=meeting, moderator=mod, concern=c)
        for c in concerns
    ]
    meeting_services.meeting_start(meeting=meeting, actor=mod)
    plan = {
        "meeting": meeting.pk,
        "items": [(it.pk, str(it.concern_id)) for it in items],
        "audience_keys": [keys[p.pk] for p in audience],
        "driver_key": keys[mod.pk],
        "voter_tokens": [tokens[p.pk] for p in voters],
    }

    results = []
    extra = {}
    if args.layer:
        extra = {"CHANNEL_LAYER_PUBSUB": "1" if args.layer == "pubsub" else "0"}
    with Server(log="fanout-server", **extra) as server:
        for size in sizes:
            results.append(asyncio.run(_phase(server, plan, size, changes, args.interval)))
            time.sleep(1)
    return _report(args, results, changes)


async def _watch(session, url, origin, watcher: Watcher, ready: asyncio.Event, stop: asyncio.Event):
    headers = {"Origin": origin, "Cookie": f"sessionid={watcher.key}"}
    try:
        async with session.ws_connect(url, headers=headers, heartbeat=None, max_msg_size=0) as ws:
            last = -1
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout=0.5)
                except TimeoutError:
                    continue
                arrived = time.time()
                if msg.type != 1:  # not TEXT: closed or error
                    watcher.error = watcher.error or f"closed {msg.type}"
                    break
                data = json.loads(msg.data)
                if data.get("type") == "snapshot":
                    watcher.snapshot_seq = data["seq"]
                    last = max(last, data["seq"])
                    ready.set()
                    continue
                if data.get("type") != "state":
                    continue
                seq = data["seq"]
                if seq < last:
                    watcher.out_of_order += 1
                elif seq == last:
                    watcher.duplicates += 1
                last = max(last, seq)
                watcher.seqs.append(seq)
                watcher.latencies.append(arrived - datetime.fromisoformat(data["at"]).timestamp())
    except Exception as error:  # noqa: BLE001 - counted and reported
        watcher.error = f"{type(error).__name__}: {error}"[:200]
    finally:
        ready.set()


async def _phase(server, plan, size: int, changes: int, interval: float) -> dict:
    import aiohttp
    import redis

    url = f"ws://127.0.0.1:{server.port}/ws/meetings/{plan['meeting']}/"
    origin = server.base
    stop = asyncio.Event()
    watchers = [Watcher(k) for k in plan["audience_keys"][:size]]
    connector = aiohttp.TCPConnector(limit=0)
    result = {"size": size}
    votes_connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        aiohttp.ClientSession(connector=votes_connector) as vote_session,
    ):
        with Sampler(server.pids) as sampler, SelfCpu() as client_cpu:
            started = time.monotonic()
            tasks, readies = [], []
            # Connect in batches, like people arriving, each batch waiting for its snapshots.
            for batch in range(0, size, 100):
                batch_ready = []
                for w in watchers[batch : batch + 100]:
                    ready = asyncio.Event()
                    batch_ready.append(ready)
                    tasks.append(asyncio.create_task(_watch(session, url, origin, w, ready, stop)))
                await asyncio.wait_for(
                    asyncio.gather(*(r.wait() for r in batch_ready)), timeout=120
                )
                readies.extend(batch_ready)
            result["connect_s"] = time.monotonic() - started
            result["connected"] = sum(1 for w in watchers if w.snapshot_seq is not None)
            driver = Watcher(plan["driver_key"])
            driver_ready = asyncio.Event()
            driver_send: asyncio.Queue = asyncio.Queue()
            driver_task = asyncio.create_task(
                _drive(session, url, origin, driver, driver_ready, stop, driver_send)
            )
            await asyncio.wait_for(driver_ready.wait(), timeout=30)
            # The machine's yardstick, on the same server with the clients connected.
            bare_url = f"{server.base}/bench/bare/"
            bare = await common.closed_loop(
                session,
                "bare",
                concurrency=10,
                seconds=2,
                request_fn=lambda s, k, i: common.get_ok(s, bare_url),
            )
            result["bare_p50"] = bare.pct(50)
            await asyncio.sleep(0.5)
            start_seq = max([w.snapshot_seq or 0 for w in watchers] + [driver.snapshot_seq or 0])
            load_before = os.getloadavg()[0]
            change_sampler = Sampler(server.pids)
            change_sampler.__enter__()
            # From the first change until the last update arrived: the server's CPU
            # per delivered message, a cost that other load on the machine hardly moves.
            delivery_sampler = Sampler(server.pids)
            delivery_sampler.__enter__()
            items = plan["items"]
            current = _current_index(plan, driver)
            vote_status = {}
            for j in range(changes):
                t0 = time.monotonic()
                if j % 2 == 0:
                    current = (current + 1) % len(items)
                    await driver_send.put({"action": "advance", "item": items[current][0]})
                else:
                    token = plan["voter_tokens"].pop()
                    vote_url = f"{server.base}/api/v1/concerns/{items[current][1]}/vote/"
                    status = await _vote(vote_session, vote_url, token)
                    vote_status[status] = vote_status.get(status, 0) + 1
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))
            change_sampler.__exit__(None, None, None)
            # Bounded wait for the last update to reach everyone.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                final = max(
                    [max(w.seqs, default=0) for w in watchers]
                    + [driver.seqs[-1] if driver.seqs else 0]
                )
                if all((w.seqs and w.seqs[-1] >= final) or w.error for w in watchers):
                    break
                await asyncio.sleep(0.2)
            delivery_sampler.__exit__(None, None, None)
            load_after = os.getloadavg()[0]
            redis_rss = redis.Redis.from_url(common.BENCH_ENV["REDIS_URL"]).info("memory")[
                "used_memory_rss"
            ]
            stop.set()
            await asyncio.gather(*tasks, driver_task, return_exceptions=True)
    result.update(
        _score(watchers, driver, start_seq, changes)
        | {
            "sampler": sampler,
            "change_cpu": change_sampler.cpu_share,
            "delivery_cpu_s": delivery_sampler.cpu_seconds,
            "load": (load_before, load_after),
            "client_cpu": client_cpu.share,
            "redis_rss": redis_rss,
            "vote_status": vote_status,
        }
    )
    result["cpu_per_message_us"] = (
        result["delivery_cpu_s"] / result["messages"] * 1e6 if result["messages"] else float("nan")
    )
    print(
        f"  fan-out {size}: p50 {ms(result['p50'])} ms, p95 {ms(result['p95'])} ms, "
        f"missed {result['missed']}, out of order {result['out_of_order']}, "
        f"server peak {mb(sampler.peak_total)} MB, "
        f"server CPU {result['cpu_per_message_us']:.0f} us per delivered message, "
        f"load average {result['load'][0]:.1f} -> {result['load'][1]:.1f}",
        flush=True,
    )
    return result


async def _vote(session, url: str, token: str):
    """One vote, on a connection of its own: a kept-alive one that the server closed
    while the loop was busy (uvicorn closes idle ones after 5 s) would fail."""
    async with session.post(url, headers={"Authorization": f"Bearer {token}"}) as r:
        await r.read()
        return r.status


def _current_index(plan, driver: Watcher) -> int:
    current = getattr(driver, "current", None)
    ids = [i for i, _ in plan["items"]]
    return ids.index(current) if current in ids else 0


async def _drive(session, url, origin, driver: Watcher, ready, stop, outbox: asyncio.Queue):
    """The moderator's own connection: sends actions, and sees every state too."""
    headers = {"Origin": origin, "Cookie": f"sessionid={driver.key}"}
    async with session.ws_connect(url, headers=headers, heartbeat=None, max_msg_size=0) as ws:
        while not stop.is_set():
            while not outbox.empty():
                await ws.send_json(outbox.get_nowait())
            try:
                msg = await asyncio.wait_for(ws.receive(), timeout=0.05)
            except TimeoutError:
                continue
            if msg.type != 1:
                break
            data = json.loads(msg.data)
            if data.get("type") == "snapshot":
                driver.snapshot_seq = data["seq"]
                driver.current = data.get("current")
                ready.set()
            elif data.get("type") == "state":
                driver.seqs.append(data["seq"])
            elif data.get("type") == "error":
                driver.error = data.get("message", "")


def _score(watchers, driver, start_seq, changes) -> dict:
    published = set(driver.seqs)
    for w in watchers:
        published.update(s for s in w.seqs if s > start_seq)
    published = {s for s in published if s > start_seq}
    missed = out_of_order = duplicates = errors = 0
    latencies = []
    for w in watchers:
        got = set(w.seqs)
        missed += len(published - got)
        out_of_order += w.out_of_order
        duplicates += w.duplicates
        errors += 1 if w.error else 0
        latencies.extend(w.latencies)
    # A state is whole: the one numbered N shows every change up to N. Two changes
    # that commit close together may go out as one state (both publishers read the
    # newer one): the skipped number reached nobody, and every client still saw the
    # change. Only changes beyond the newest state anyone received were never received.
    newest = max(published, default=start_seq)
    return {
        "published": len(published),
        "coalesced": (newest - start_seq) - len(published),
        "never_received": max(0, changes - (newest - start_seq)),
        "missed": missed,
        "out_of_order": out_of_order,
        "duplicates": duplicates,
        "errors": errors,
        "messages": len(latencies),
        "p50": common.percentile(latencies, 50),
        "p95": common.percentile(latencies, 95),
        "max": max(latencies) if latencies else float("nan"),
        "driver_error": driver.error,
    }


def _report(args, results, changes) -> list[Row]:
    rows = []
    for r in results:
        size, sampler = r["size"], r["sampler"]
        layer = f", {args.layer} layer" if args.layer else ""
        name = f"3 fan-out ({size} clients, {changes} changes{layer})"
        memory = (
            f"server {mb(sampler.peak_total)} MB (worker {mb(sampler.peak_one)} MB), "
            f"redis {mb(r['redis_rss'])} MB"
        )
        big = size >= 2000
        rows += [
            Row(
                name, "publish-to-receive p50 / p95 / max",
                f"{ms(r['p50'])} / {ms(r['p95'])} / {ms(r['max'])}", "ms",
                ms(r["bare_p50"]), "bare HTTP p50, 10 clients",
                round(r["p50"] / r["bare_p50"], 1),
                target="p95 < 500 ms", met=r["p95"] < 0.5, peak_memory=memory,
            ),
            Row(
                name, "missed / out of order / never received",
                f"{r['missed']} / {r['out_of_order']} / {r['never_received']}",
                target="0 / 0 / 0",
                met=r["missed"] == 0 and r["out_of_order"] == 0 and r["never_received"] == 0,
                peak_memory=(
                    f"{r['messages']:,} messages, {r['published']} seqs published, "
                    f"{r['coalesced']} coalesced into the next, "
                    f"{r['duplicates']} duplicate seqs, {r['errors']} client errors"
                ),
            ),
            Row(
                name, "connected / connect time",
                f"{r['connected']}/{size} in {r['connect_s']:.1f} s",
                peak_memory=f"votes {r['vote_status']}",
            ),
            Row(
                name, "CPU during changes: server / load generator",
                f"{r['change_cpu']:.2f} / {r['client_cpu']:.2f}", "cores",
                target="< 1 GB server memory" if big else "",
                met=(sampler.peak_total < 1024 * common.MB) if big else None,
                peak_memory=memory,
            ),
            Row(
                name, "server CPU per delivered message",
                f"{r['cpu_per_message_us']:.0f}", "us",
                peak_memory=(
                    f"{r['delivery_cpu_s']:.1f} CPU s for {r['messages']:,} messages; "
                    f"load average {r['load'][0]:.1f} -> {r['load'][1]:.1f} on 2 cores"
                ),
            ),
        ]  # fmt: skip
    common.save(
        "fanout",
        rows,
        {"results": [{k: v for k, v in r.items() if k != "sampler"} for r in results]},
    )
    common.print_table(rows)
    return rows


if __name__ == "__main__":
    main()
