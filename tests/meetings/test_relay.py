"""The per-process relay of meeting states (meetings.relay): however many sockets watch
a meeting in one server process, the channel layer holds one member for them and
hands each state over once; every socket still gets every newer state, once."""

import asyncio
import os

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer

from meetings import relay
from tests.meetings.test_consumers import Socket, items, session_cookie

GROUP = "meeting-test-relay"


class Watcher:
    def __init__(self, fails: bool = False):
        self.fails = fails
        self.frames: list[tuple[int, str]] = []

    async def deliver_state(self, seq, text):
        if self.fails:
            raise ConnectionResetError("socket closed under the relay")
        self.frames.append((seq, text))


def state(seq: int) -> dict:
    return {"type": "meeting.state", "seq": seq, "text": f'{{"seq":{seq}}}'}


async def settle():
    for _ in range(20):
        await asyncio.sleep(0.01)


def run(coroutine):
    return asyncio.run(coroutine)


def test_many_sockets_in_one_process_are_one_member_of_the_group():
    layer = InMemoryChannelLayer()

    async def scenario():
        watchers = [Watcher() for _ in range(50)]
        for watcher in watchers:
            await relay.join(layer, GROUP, watcher)
        assert len(layer.groups[GROUP]) == 1

        await layer.group_send(GROUP, state(7))
        await settle()
        assert all(w.frames == [(7, '{"seq":7}')] for w in watchers)

        for watcher in watchers:
            await relay.leave(GROUP, watcher)
        assert not layer.groups.get(GROUP)

    run(scenario())


def test_a_socket_that_fails_is_dropped_and_the_others_still_get_every_state():
    layer = InMemoryChannelLayer()

    async def scenario():
        broken, healthy = Watcher(fails=True), Watcher()
        await relay.join(layer, GROUP, broken)
        await relay.join(layer, GROUP, healthy)

        await layer.group_send(GROUP, state(1))
        await settle()
        await layer.group_send(GROUP, state(2))
        await settle()

        assert [seq for seq, _ in healthy.frames] == [1, 2]
        await relay.leave(GROUP, healthy)
        assert not layer.groups.get(GROUP)  # the broken one was already dropped

    run(scenario())


def test_messages_that_are_not_states_are_ignored():
    layer = InMemoryChannelLayer()

    async def scenario():
        watcher = Watcher()
        await relay.join(layer, GROUP, watcher)
        await layer.group_send(GROUP, {"type": "something.else"})
        await layer.group_send(GROUP, state(3))
        await settle()
        assert watcher.frames == [(3, '{"seq":3}')]
        await relay.leave(GROUP, watcher)

    run(scenario())


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_on_redis_two_watching_browsers_are_one_group_member_and_both_see_each_change(
    settings, moderator, employee, meeting
):
    import redis

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": 30}],
                "prefix": "answerable-test-relay",
            },
        }
    }
    store = redis.Redis.from_url(os.environ["REDIS_URL"])
    group_key = f"answerable-test-relay:group:meeting-{meeting.pk}"
    cookie = session_cookie(employee)
    driver_cookie = session_cookie(moderator)
    items(meeting)

    async def scenario():
        driver = Socket(meeting.pk, cookie=driver_cookie)
        tabs = [Socket(meeting.pk, cookie=cookie) for _ in range(3)]
        for socket in (driver, *tabs):
            await socket.open()
            await socket.receive()  # the snapshot
        assert store.zcard(group_key) == 1  # three audience tabs, one member

        await driver.send({"action": "start"})
        states = [await tab.receive() for tab in tabs]
        assert {s["status"] for s in states} == {"live"}
        assert len({s["seq"] for s in states}) == 1

        for socket in (driver, *tabs):
            await socket.close()
        assert store.zcard(group_key) == 0

    assert get_channel_layer().__class__.__name__ == "RedisChannelLayer"
    from asgiref.sync import async_to_sync

    async_to_sync(scenario)()


def test_a_socket_gone_without_leaving_is_not_kept_alive_by_the_relay():
    import gc

    layer = InMemoryChannelLayer()

    async def scenario():
        kept, gone = Watcher(), Watcher()
        await relay.join(layer, GROUP, kept)
        await relay.join(layer, GROUP, gone)
        del gone
        gc.collect()

        await layer.group_send(GROUP, state(5))
        await settle()
        assert kept.frames == [(5, '{"seq":5}')]
        assert len(relay._relays().relays[GROUP].sockets) == 1
        await relay.leave(GROUP, kept)

    run(scenario())


def test_a_malformed_state_message_is_skipped_and_the_relay_keeps_going():
    layer = InMemoryChannelLayer()

    async def scenario():
        watcher = Watcher()
        await relay.join(layer, GROUP, watcher)
        await layer.group_send(GROUP, {"type": "meeting.state", "state": {"old": "format"}})
        await layer.group_send(GROUP, state(8))
        await settle()
        assert watcher.frames == [(8, '{"seq":8}')]
        await relay.leave(GROUP, watcher)

    run(scenario())
