"""The live meeting over WebSockets, through the real ASGI application: origin check,
session authentication, routing and the channel layer, as a browser meets them.

Every message carries the meeting's sequence number; a client that connects, or
reconnects, gets a full snapshot. Where REDIS_URL is set (CI), the default channel
layer is Redis, so all of these run over it there; one test insists on Redis."""

import json
import os

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from concerns import services as concern_services
from config.asgi import application
from meetings import events, selectors, services
from meetings.models import AgendaItem, LiveQuestion, Meeting, MeetingStatus
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "http://127.0.0.1"
# Generous for a channel layer on the network; quiet periods are measured separately.
WAIT = 3
QUIET = 0.3


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Socket:
    """One browser tab's WebSocket to a meeting."""

    def __init__(self, meeting_id, *, cookie: str | None = None, origin: str = ORIGIN):
        headers = [(b"origin", origin.encode())]
        if cookie:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        self.communicator = WebsocketCommunicator(
            application, f"/ws/meetings/{meeting_id}/", headers=headers
        )

    async def open(self) -> tuple[bool, object]:
        return await self.communicator.connect(timeout=WAIT)

    async def receive(self) -> dict:
        return await self.communicator.receive_json_from(timeout=WAIT)

    async def receive_text(self) -> str:
        return await self.communicator.receive_from(timeout=WAIT)

    async def send(self, payload) -> None:
        if isinstance(payload, str):
            await self.communicator.send_to(text_data=payload)
        else:
            await self.communicator.send_json_to(payload)

    async def nothing_more(self) -> bool:
        return await self.communicator.receive_nothing(timeout=QUIET)

    async def close(self) -> None:
        await self.communicator.disconnect()


def run(scenario) -> None:
    async_to_sync(scenario)()


def in_thread(function):
    """Services and the ORM run off the event loop, as the consumer runs them."""
    return database_sync_to_async(function)


def fresh(meeting: Meeting) -> Meeting:
    return Meeting.objects.get(pk=meeting.pk)


def without_clock(message: dict) -> dict:
    return {key: value for key, value in message.items() if key not in ("type", "at")}


def items(meeting: Meeting) -> list[AgendaItem]:
    return list(meeting.items.select_related("concern").order_by("position"))


# Who may connect ----------------------------------------------------------------------


def test_a_signed_out_connection_is_refused(meeting):
    async def scenario():
        socket = Socket(meeting.pk)
        connected, code = await socket.open()
        assert (connected, code) == (False, 4401)

    run(scenario)


def test_a_connection_to_an_unknown_meeting_is_refused(employee, meeting):
    cookie = session_cookie(employee)

    async def scenario():
        connected, code = await Socket(meeting.pk + 1000, cookie=cookie).open()
        assert (connected, code) == (False, 4404)

    run(scenario)


def test_a_connection_from_another_site_is_refused(employee, meeting):
    cookie = session_cookie(employee)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie, origin="https://evil.example")
        connected, _ = await socket.open()
        assert connected is False

    run(scenario)


def test_a_signed_in_employee_gets_a_snapshot_with_the_sequence_number(employee, meeting):
    cookie = session_cookie(employee)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        assert (await socket.open())[0]
        snapshot = await socket.receive()
        assert snapshot["type"] == "snapshot"
        assert snapshot["seq"] == meeting.sequence
        assert snapshot["status"] == MeetingStatus.PLANNED
        assert [item["title"] for item in snapshot["items"]] == [
            "Parking spaces",
            "Canteen prices",
            "Lockers",
        ]
        assert await socket.nothing_more()
        await socket.close()

    run(scenario)


# State after every change ----------------------------------------------------------------


def test_a_state_message_follows_each_change_with_the_sequence_one_higher(
    moderator, employee, meeting
):
    cookie = session_cookie(employee)
    first, second, _ = items(meeting)
    voter = factories.person()
    changes = [
        lambda: services.meeting_start(meeting=meeting, actor=moderator),
        lambda: concern_services.vote_cast(concern=first.concern, voter=voter),
        lambda: services.agenda_item_mark_discussed(item=first, actor=moderator),
        lambda: services.meeting_advance(meeting=meeting, actor=moderator),
        lambda: services.meeting_end(meeting=meeting, actor=moderator),
    ]

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        seq = (await socket.receive())["seq"]
        states = []
        for change in changes:
            await in_thread(change)()
            state = await socket.receive()
            assert state["type"] == "state"
            assert state["seq"] == seq + 1
            seq = state["seq"]
            states.append(state)
        assert await socket.nothing_more()
        await socket.close()
        return states

    states = []

    async def collect():
        states.extend(await scenario())

    run(collect)
    started, voted, discussed, advanced, ended = states
    assert (started["status"], started["current"]) == ("live", first.pk)
    assert voted["items"][0]["votes"] == 1
    assert discussed["items"][0]["discussed"] is True
    assert advanced["current"] == second.pk
    assert (ended["status"], ended["current"]) == ("ended", None)
    assert ended["debt"] == {"answered": 0, "total": 1}


def test_a_reconnecting_client_gets_everything_it_missed_in_one_snapshot(
    moderator, employee, meeting
):
    cookie = session_cookie(employee)
    watcher_cookie = session_cookie(factories.person())
    first, second, _ = items(meeting)
    asker = factories.person()

    def while_away():
        services.meeting_start(meeting=meeting, actor=moderator)
        services.agenda_item_mark_discussed(item=first, actor=moderator)
        services.meeting_advance(meeting=meeting, actor=moderator)
        concern_services.vote_cast(concern=second.concern, voter=asker)
        question, _ = services.question_ask(
            meeting=meeting, asker=asker, text="When?", anonymous=True
        )
        services.question_approve(question=question, actor=moderator)

    async def scenario():
        watcher = Socket(meeting.pk, cookie=watcher_cookie)  # stays connected throughout
        await watcher.open()
        await watcher.receive()
        tab = Socket(meeting.pk, cookie=cookie)
        await tab.open()
        before = await tab.receive()
        await tab.close()

        await in_thread(while_away)()
        last_seen_by_watcher = None
        for _ in range(6):  # one state message per change
            last_seen_by_watcher = await watcher.receive()
        assert await watcher.nothing_more()

        tab = Socket(meeting.pk, cookie=cookie)
        await tab.open()
        snapshot = await tab.receive()
        assert snapshot["type"] == "snapshot"
        assert snapshot["seq"] == before["seq"] + 6
        assert snapshot["status"] == "live"
        assert snapshot["current"] == second.pk
        assert snapshot["items"][0]["discussed"] is True
        assert snapshot["items"][1]["votes"] == 1
        assert [q["text"] for q in snapshot["questions"]] == ["When?"]
        assert without_clock(snapshot) == without_clock(last_seen_by_watcher)
        await tab.close()
        await watcher.close()

    run(scenario)


def test_a_client_may_ask_for_a_snapshot_at_any_time(employee, meeting):
    cookie = session_cookie(employee)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        first = await socket.receive()
        await socket.send({"action": "snapshot"})
        again = await socket.receive()
        assert again["type"] == "snapshot"
        assert without_clock(again) == without_clock(first)
        await socket.close()

    run(scenario)


def test_a_state_no_newer_than_the_one_shown_is_not_sent_again(moderator, employee, meeting):
    """Two changes that commit close together may publish the same newer state twice,
    or their states in the opposite order. Each is whole, so the client gets each
    sequence number once, in order, and never a step back."""
    cookie = session_cookie(employee)
    first, second, _ = items(meeting)
    layer = get_channel_layer()

    def older_state_message():
        state = selectors.meeting_state(meeting_id=meeting.pk, for_drivers=False)
        return {"type": "meeting.state", "seq": state["seq"], "text": events.state_text(state)}

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        snapshot = await socket.receive()
        # The state the snapshot already showed, published again.
        await layer.group_send(
            events.meeting_group(meeting.pk), await in_thread(older_state_message)()
        )
        assert await socket.nothing_more()

        await in_thread(services.meeting_start)(meeting=meeting, actor=moderator)
        started = await socket.receive()
        assert started["seq"] == snapshot["seq"] + 1
        late = await in_thread(older_state_message)()  # read now, published after the next change

        await in_thread(services.meeting_advance)(meeting=meeting, actor=moderator)
        advanced = await socket.receive()
        assert (advanced["seq"], advanced["current"]) == (started["seq"] + 1, second.pk)

        await layer.group_send(events.meeting_group(meeting.pk), late)
        await in_thread(events.publish_meeting_state)(meeting.pk)  # a repeat of the newest
        assert await socket.nothing_more()

        await in_thread(services.agenda_item_mark_discussed)(item=second, actor=moderator)
        discussed = await socket.receive()
        assert discussed["seq"] == advanced["seq"] + 1
        assert discussed["items"][1]["discussed"] is True
        await socket.close()

    run(scenario)
    assert fresh(meeting).current_item_id == second.pk


def test_every_client_gets_the_state_exactly_as_it_was_serialised_once(
    moderator, employee, meeting, monkeypatch
):
    """A change is serialised once per group, whatever the number of clients, and
    each consumer sends that text as it is."""
    cookies = [session_cookie(employee), session_cookie(factories.person())]
    driver_cookie = session_cookie(moderator)
    serialised = []
    real_state_text = events.state_text

    def counting_state_text(state, **kwargs):
        text = real_state_text(state, **kwargs)
        serialised.append(text)
        return text

    monkeypatch.setattr(events, "state_text", counting_state_text)

    async def scenario():
        audience = [Socket(meeting.pk, cookie=cookie) for cookie in cookies]
        driver = Socket(meeting.pk, cookie=driver_cookie)
        for socket in (*audience, driver):
            await socket.open()
            await socket.receive_text()
        serialised.clear()
        await in_thread(services.meeting_start)(meeting=meeting, actor=moderator)
        received = [await socket.receive_text() for socket in (*audience, driver)]
        for socket in (*audience, driver):
            await socket.close()
        return received

    received = []

    async def collect():
        received.extend(await scenario())

    run(collect)
    audience_text, drivers_text = serialised
    assert received == [audience_text, audience_text, drivers_text]
    assert json.loads(audience_text)["status"] == "live"


def test_a_state_message_reaches_the_client_without_a_database_round_trip(
    moderator, employee, meeting, monkeypatch
):
    """channels closes stale database connections, in a worker thread, before every
    message it hands a consumer. A state message reads nothing, so it skips that; a
    client's own request (a snapshot) still gets it."""
    cookie = session_cookie(employee)
    import channels.consumer

    cleanups = []
    real_cleanup = channels.consumer.aclose_old_connections

    async def counting_cleanup():
        cleanups.append(1)
        await real_cleanup()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting_cleanup)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        await socket.receive()
        cleanups.clear()
        await in_thread(services.meeting_start)(meeting=meeting, actor=moderator)
        await in_thread(services.meeting_advance)(meeting=meeting, actor=moderator)
        for _ in range(2):
            assert (await socket.receive())["type"] == "state"
        states_cleanups = len(cleanups)
        await socket.send({"action": "snapshot"})
        assert (await socket.receive())["type"] == "snapshot"
        await socket.close()
        return states_cleanups, len(cleanups)

    counts = []

    async def collect():
        counts.extend(await scenario())

    run(collect)
    assert counts[0] == 0
    assert counts[1] >= 1


# Driving over the socket -----------------------------------------------------------------


def test_an_employee_cannot_drive_the_meeting_over_the_socket(moderator, employee, meeting):
    cookie = session_cookie(employee)
    services.meeting_start(meeting=meeting, actor=moderator)
    before = fresh(meeting)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        await socket.receive()
        for action in ("advance", "discussed", "end", "start"):
            await socket.send({"action": action})
            error = await socket.receive()
            assert error == {
                "type": "error",
                "message": "Only moderators and hosts can run the meeting.",
            }
        assert await socket.nothing_more()
        await socket.close()

    run(scenario)
    after = fresh(meeting)
    assert (after.status, after.current_item_id, after.sequence) == (
        before.status,
        before.current_item_id,
        before.sequence,
    )
    assert not AgendaItem.objects.filter(discussed_at__isnull=False).exists()


@pytest.mark.parametrize("who", ["moderator", "host"])
def test_a_moderator_or_host_drives_the_meeting_over_the_socket(moderator, meeting, who):
    driver = moderator
    if who == "host":
        driver = factories.person()
        meeting.hosts.add(driver)
    cookie = session_cookie(driver)
    first, second, third = items(meeting)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        seq = (await socket.receive())["seq"]
        expectations = [
            ({"action": "start"}, lambda s: s["status"] == "live" and s["current"] == first.pk),
            ({"action": "discussed"}, lambda s: s["items"][0]["discussed"]),
            ({"action": "advance"}, lambda s: s["current"] == second.pk),
            ({"action": "advance", "item": third.pk}, lambda s: s["current"] == third.pk),
            ({"action": "end"}, lambda s: s["status"] == "ended"),
        ]
        for message, expected in expectations:
            await socket.send(message)
            state = await socket.receive()
            assert state["type"] == "state", (message, state)
            assert state["seq"] == seq + 1
            assert expected(state), (message, state)
            seq = state["seq"]
        await socket.close()

    run(scenario)
    assert fresh(meeting).status == MeetingStatus.ENDED


def test_an_illegal_move_over_the_socket_gets_an_error_and_changes_nothing(moderator, meeting):
    cookie = session_cookie(moderator)
    services.meeting_start(meeting=meeting, actor=moderator)
    services.meeting_advance(meeting=meeting, actor=moderator, item=items(meeting)[-1])
    before = fresh(meeting)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        await socket.receive()
        await socket.send({"action": "advance"})
        assert await socket.receive() == {
            "type": "error",
            "message": "This is the last item on the agenda.",
        }
        await socket.send({"action": "start"})
        assert (await socket.receive())["type"] == "error"
        await socket.close()

    run(scenario)
    assert fresh(meeting).sequence == before.sequence


def test_marking_discussed_with_no_current_item_gets_an_error_and_the_socket_stays_usable(
    moderator, meeting
):
    """Before the start there is no current item: the socket must answer with an
    error, not crash the connection."""
    cookie = session_cookie(moderator)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        await socket.receive()
        await socket.send({"action": "discussed"})
        reply = await socket.receive()
        assert reply["type"] == "error"
        await socket.send({"action": "snapshot"})
        assert (await socket.receive())["type"] == "snapshot"
        await socket.close()

    run(scenario)
    assert not AgendaItem.objects.filter(discussed_at__isnull=False).exists()


def test_going_to_an_item_of_another_meeting_over_the_socket_is_refused(moderator, meeting):
    """The console refuses an item that is not on this agenda; the socket must too,
    rather than silently moving to the next item."""
    cookie = session_cookie(moderator)
    services.meeting_start(meeting=meeting, actor=moderator)
    other = services.meeting_create(
        organiser=moderator, title="Other", scheduled_start=timezone.now(), hosts=[]
    )
    elsewhere = services.agenda_item_add(meeting=other, moderator=moderator, topic="Elsewhere")
    before = fresh(meeting)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        await socket.receive()
        await socket.send({"action": "advance", "item": elsewhere.pk})
        reply = await socket.receive()
        assert reply["type"] == "error", reply
        await socket.close()

    run(scenario)
    after = fresh(meeting)
    assert (after.current_item_id, after.sequence) == (before.current_item_id, before.sequence)


@pytest.mark.parametrize(
    "payload",
    ["not json", "{", '"a string"', "[1, 2]", '{"action": "dance"}', '{"item": 1}'],
)
def test_a_malformed_message_gets_an_error_and_the_socket_stays_usable(employee, meeting, payload):
    cookie = session_cookie(employee)

    async def scenario():
        socket = Socket(meeting.pk, cookie=cookie)
        await socket.open()
        await socket.receive()
        await socket.send(payload)
        error = await socket.receive()
        assert error["type"] == "error"
        assert error["message"] in ("Messages are JSON objects.", "Unknown action.")
        await socket.send({"action": "snapshot"})
        assert (await socket.receive())["type"] == "snapshot"
        await socket.close()

    run(scenario)


# What the groups receive ------------------------------------------------------------------


def test_messages_about_an_anonymous_question_carry_no_persons_data(moderator, meeting):
    asker = factories.person(
        id=987_654, username="secret.asker", first_name="Zebedee", last_name="Quux"
    )
    asker_cookie = session_cookie(asker)
    driver_cookie = session_cookie(moderator)
    services.meeting_start(meeting=meeting, actor=moderator)
    traces = ["987654", "secret.asker", "Zebedee", "Quux", asker.email, "author", "asker"]

    async def scenario():
        audience = Socket(meeting.pk, cookie=asker_cookie)
        drivers = Socket(meeting.pk, cookie=driver_cookie)
        for socket in (audience, drivers):
            await socket.open()
            await socket.receive()
        question, _ = await in_thread(services.question_ask)(
            meeting=meeting, asker=asker, text="Are layoffs planned?", anonymous=True
        )
        await in_thread(services.question_approve)(question=question, actor=moderator)
        await in_thread(services.question_vote)(question=question, voter=asker)
        await in_thread(services.question_highlight)(question=question, actor=moderator)
        messages = []
        for socket in (audience, drivers):
            for _ in range(4):
                messages.append(await socket.receive())
            await socket.send({"action": "snapshot"})
            messages.append(await socket.receive())
            await socket.close()
        return messages

    messages = []

    async def collect():
        messages.extend(await scenario())

    run(collect)
    assert any(q["text"] == "Are layoffs planned?" for m in messages for q in m["questions"])
    for message in messages:
        text = json.dumps(message)
        for trace in traces:
            assert trace not in text, (trace, message)
        for question in message["questions"]:
            assert question["by"] is None


def test_the_audience_never_receives_pending_questions(moderator, employee, meeting):
    audience_cookie = session_cookie(employee)
    driver_cookie = session_cookie(moderator)
    services.meeting_start(meeting=meeting, actor=moderator)

    async def scenario():
        audience = Socket(meeting.pk, cookie=audience_cookie)
        drivers = Socket(meeting.pk, cookie=driver_cookie)
        for socket in (audience, drivers):
            await socket.open()
            await socket.receive()
        named, _ = await in_thread(services.question_ask)(
            meeting=meeting, asker=employee, text="Pending and named", anonymous=False
        )
        await in_thread(services.question_ask)(
            meeting=meeting, asker=employee, text="Pending and anonymous", anonymous=True
        )
        heard = {"audience": [], "drivers": []}
        for _ in range(2):
            heard["audience"].append(await audience.receive())
            heard["drivers"].append(await drivers.receive())
        await in_thread(services.question_approve)(question=named, actor=moderator)
        heard["audience"].append(await audience.receive())
        heard["drivers"].append(await drivers.receive())
        await audience.send({"action": "snapshot"})
        heard["audience"].append(await audience.receive())
        for socket in (audience, drivers):
            await socket.close()
        return heard

    heard = {}

    async def collect():
        heard.update(await scenario())

    run(collect)
    audience_texts = [[q["text"] for q in m["questions"]] for m in heard["audience"]]
    assert audience_texts == [[], [], ["Pending and named"], ["Pending and named"]]
    assert all(q["status"] == "approved" for m in heard["audience"] for q in m["questions"])
    driver_texts = [sorted(q["text"] for q in m["questions"]) for m in heard["drivers"]]
    assert driver_texts[1] == ["Pending and anonymous", "Pending and named"]
    assert [m["seq"] for m in heard["audience"][:3]] == [m["seq"] for m in heard["drivers"]]
    assert LiveQuestion.objects.count() == 2


# The Redis channel layer -------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize(
    "backend",
    ["channels_redis.pubsub.RedisPubSubChannelLayer", "channels_redis.core.RedisChannelLayer"],
)
def test_snapshot_state_and_reconnect_work_over_the_redis_channel_layer(
    settings, moderator, employee, meeting, backend
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": backend,
            "CONFIG": {
                "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": 30}],
                "prefix": "answerable-test-meetings",
            },
        }
    }
    assert type(get_channel_layer()).__name__ == backend.rsplit(".", 1)[1]
    cookie = session_cookie(employee)
    driver_cookie = session_cookie(moderator)
    first, second, _ = items(meeting)

    async def scenario():
        driver = Socket(meeting.pk, cookie=driver_cookie)
        tab = Socket(meeting.pk, cookie=cookie)
        for socket in (driver, tab):
            await socket.open()
        seq = (await driver.receive())["seq"]
        assert (await tab.receive())["seq"] == seq

        await driver.send({"action": "start"})
        for socket in (driver, tab):
            state = await socket.receive()
            assert (state["type"], state["seq"], state["current"]) == ("state", seq + 1, first.pk)

        await tab.close()
        await driver.send({"action": "discussed"})
        await driver.send({"action": "advance"})
        for expected in (seq + 2, seq + 3):
            assert (await driver.receive())["seq"] == expected

        tab = Socket(meeting.pk, cookie=cookie)
        await tab.open()
        snapshot = await tab.receive()
        assert (snapshot["type"], snapshot["seq"], snapshot["current"]) == (
            "snapshot",
            seq + 3,
            second.pk,
        )
        assert snapshot["items"][0]["discussed"] is True

        await in_thread(concern_services.vote_cast)(
            concern=second.concern, voter=await in_thread(factories.person)()
        )
        for socket in (driver, tab):
            state = await socket.receive()
            assert (state["seq"], state["items"][1]["votes"]) == (seq + 4, 1)
        for socket in (driver, tab):
            await socket.close()

    run(scenario)
