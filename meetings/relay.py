"""Per-process fan-out of meeting states: one channel-layer subscription per group and
server process, not one per socket.

A published state goes to every socket watching the meeting. Had each socket's
consumer joined the group itself, the layer would hand the state to each of them
separately: on Redis's list layer one message per socket through Redis (2,000 per
change for 2,000 watchers), and on any layer one queue wake-up, one decode and one
dispatch per socket, which was most of the server's CPU per update
(bench/README.md, problem 13). Instead the first socket of a group in a process starts
a relay that joins the group on a channel of its own, receives each state once and
writes the same, already serialised frame to every local socket; the last socket to
leave stops it.

Relays belong to an event loop (a channel layer's connections do), so each loop has
its own. A socket that fails to take a frame is dropped from the relay, never stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

logger = logging.getLogger(__name__)

_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Relays] = (
    weakref.WeakKeyDictionary()
)


class _Relay:
    def __init__(self, layer, group: str) -> None:
        self.layer = layer
        self.group = group
        # Weak: a consumer whose connection ended without reaching `leave` (an error
        # in connect, say) is not kept alive, nor written to, by the relay.
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.channel: str | None = None
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        # The layer's default prefix: Redis's list layer reads every channel of a
        # process from one Redis key, and only for that prefix.
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self.task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.channel is not None:
            await self.layer.group_discard(self.group, self.channel)

    async def _run(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the layer's Redis went away: retry shortly
                logger.warning("meeting relay could not receive (%s); retrying", error)
                await asyncio.sleep(0.5)
                continue
            if message.get("type") != "meeting.state":
                continue
            seq, text = message.get("seq"), message.get("text")
            if not isinstance(seq, int) or not isinstance(text, str):
                logger.warning("meeting relay skipped a malformed state message")
                continue
            for socket in list(self.sockets):
                try:
                    await socket.deliver_state(seq, text)
                except Exception:  # a closed or broken socket must not stop the others
                    logger.debug("dropping a meeting socket that failed to take a state")
                    self.sockets.discard(socket)


class _Relays:
    def __init__(self) -> None:
        self.relays: dict[str, _Relay] = {}
        self.lock = asyncio.Lock()


def _relays() -> _Relays:
    loop = asyncio.get_running_loop()
    relays = _by_loop.get(loop)
    if relays is None:
        relays = _by_loop[loop] = _Relays()
    return relays


async def join(layer, group: str, socket) -> None:
    """Adds a socket (anything with `async deliver_state(seq, text)`) to the group's
    relay in this process, starting the relay if it is the first."""
    relays = _relays()
    async with relays.lock:
        relay = relays.relays.get(group)
        if relay is not None and relay.layer is not layer:  # the layer was replaced
            await relay.stop()
            relay = None
        if relay is None:
            relay = _Relay(layer, group)
            await relay.start()
            relays.relays[group] = relay
        relay.sockets.add(socket)


async def leave(group: str, socket) -> None:
    """Removes a socket; the group's relay stops with its last socket."""
    relays = _relays()
    async with relays.lock:
        relay = relays.relays.get(group)
        if relay is None:
            return
        relay.sockets.discard(socket)
        if not relay.sockets:
            del relays.relays[group]
            await relay.stop()
