"""The one place meeting changes are published to the channel layer, after commit.

Clients join one of two groups: the audience, which sees approved questions only, and
the drivers (moderators and hosts), who also see the queue of pending questions.

A state is whole: the one numbered N shows every change up to N. It is read after
the change commits, so two changes that commit close together may both publish the
newer state, or publish in the opposite order; consumers therefore pass on only a
state newer than the one their client shows, and every client sees the same states.
Each state is serialised once per group here, not once per client.
"""

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def meeting_group(meeting_id) -> str:
    return f"meeting-{meeting_id}"


def drivers_group(meeting_id) -> str:
    return f"meeting-{meeting_id}-drivers"


def meeting_changed(meeting_id) -> None:
    transaction.on_commit(lambda: publish_meeting_state(meeting_id))


def state_text(state: dict, *, kind: str = "state") -> str:
    """The WebSocket frame a client receives: the state as compact JSON."""
    return json.dumps({"type": kind, **state}, separators=(",", ":"))


def publish_meeting_state(meeting_id) -> None:
    from meetings.selectors import meeting_state

    layer = get_channel_layer()
    if layer is None:
        return
    messages = []
    for group, for_drivers in (
        (meeting_group(meeting_id), False),
        (drivers_group(meeting_id), True),
    ):
        state = meeting_state(meeting_id=meeting_id, for_drivers=for_drivers)
        if state is not None:
            message = {"type": "meeting.state", "seq": state["seq"], "text": state_text(state)}
            messages.append((group, message))
    if messages:
        async_to_sync(_group_send_all)(layer, messages)


async def _group_send_all(layer, messages) -> None:
    # One hop onto the event loop for both groups.
    for group, message in messages:
        await layer.group_send(group, message)


def meeting_webhook(meeting, event_type: str, **extra) -> None:
    from webhooks.services import webhook_emit

    webhook_emit(
        type=event_type,
        payload={
            "id": meeting.pk,
            "title": meeting.title,
            "status": meeting.status,
            "url": meeting.get_absolute_url(),
            **extra,
        },
    )
