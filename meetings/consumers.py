"""The live meeting over WebSockets. Signed-in staff watch; moderators and hosts may
also drive it. Every message carries the meeting's sequence number, and a client
that connects or asks gets a full snapshot.

Fan-out is the hot path: one published state goes to every watching socket. Sockets
do not join the meeting's group themselves: the process's relay (meetings.relay) does,
once, and hands each state, already serialised (meetings.events), to every local
socket."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from concerns.errors import ConcernError, IllegalTransition, InvalidInput
from meetings import relay, selectors, services
from meetings.events import drivers_group, meeting_group, state_text
from meetings.models import AgendaItem, Meeting

DRIVER_ACTIONS = {"start", "advance", "discussed", "end"}


def _access(meeting_id, user) -> tuple[bool, bool]:
    meeting = Meeting.objects.filter(pk=meeting_id).first()
    if meeting is None:
        return False, False
    return True, services.can_drive(meeting, user)


def _drive(meeting_id, user, action: str, item_id) -> None:
    meeting = Meeting.objects.get(pk=meeting_id)
    item = None
    if item_id is not None:
        if not isinstance(item_id, int) or isinstance(item_id, bool):
            raise InvalidInput("Choose an item on this meeting's agenda.")
        item = AgendaItem.objects.filter(pk=item_id, meeting=meeting).first()
        if item is None:
            raise InvalidInput("Choose an item on this meeting's agenda.")
    if action == "start":
        services.meeting_start(meeting=meeting, actor=user)
    elif action == "advance":
        services.meeting_advance(meeting=meeting, actor=user, item=item)
    elif action == "discussed":
        target = item or meeting.current_item
        if target is None:
            raise IllegalTransition("There is no current item to mark as discussed.")
        services.agenda_item_mark_discussed(item=target, actor=user)
    elif action == "end":
        services.meeting_end(meeting=meeting, actor=user)


class MeetingConsumer(AsyncJsonWebsocketConsumer):
    # The newest sequence number this socket's client was sent; older or repeated
    # states are not sent again.
    shown_seq = -1

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.meeting_id = int(self.scope["url_route"]["kwargs"]["meeting_id"])
        exists, self.is_driver = await database_sync_to_async(_access)(self.meeting_id, user)
        if not exists:
            await self.close(code=4404)
            return
        self.group = (drivers_group if self.is_driver else meeting_group)(self.meeting_id)
        await relay.join(self.channel_layer, self.group, self)
        await self.accept()
        await self.send_snapshot()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await relay.leave(self.group, self)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:
            await self.send_json({"type": "error", "message": "Messages are JSON objects."})

    async def send_snapshot(self):
        state = await database_sync_to_async(selectors.meeting_state)(
            meeting_id=self.meeting_id, for_drivers=self.is_driver
        )
        if state is None:  # deleted while watched
            await self.close(code=4404)
            return
        self.shown_seq = max(self.shown_seq, state["seq"])
        await self.send(text_data=state_text(state, kind="snapshot"))

    async def receive_json(self, content, **kwargs):
        action = content.get("action") if isinstance(content, dict) else None
        if action == "snapshot":
            await self.send_snapshot()
        elif action in DRIVER_ACTIONS:
            if not self.is_driver:
                await self.send_json(
                    {"type": "error", "message": "Only moderators and hosts can run the meeting."}
                )
                return
            try:
                await database_sync_to_async(_drive)(
                    self.meeting_id, self.scope["user"], action, content.get("item")
                )
            except ConcernError as error:
                await self.send_json({"type": "error", "message": str(error)})
        else:
            await self.send_json({"type": "error", "message": "Unknown action."})

    async def deliver_state(self, seq: int, text: str) -> None:
        """Called by the relay. A state is whole, so one not newer than what the client
        shows adds nothing: a publisher that read its state later, or a repeat."""
        if seq <= self.shown_seq:
            return
        self.shown_seq = seq
        await self.send(text_data=text)
