"""The one place meeting changes are published to the channel layer, after commit.

Clients join one of two groups: the audience, which sees approved questions only, and
the drivers (moderators and hosts), who also see the queue of pending questions.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def meeting_group(meeting_id) -> str:
    return f"meeting-{meeting_id}"


def drivers_group(meeting_id) -> str:
    return f"meeting-{meeting_id}-drivers"


def meeting_changed(meeting_id) -> None:
    transaction.on_commit(lambda: publish_meeting_state(meeting_id))


def publish_meeting_state(meeting_id) -> None:
    from meetings.selectors import meeting_state

    layer = get_channel_layer()
    if layer is None:
        return
    for group, for_drivers in (
        (meeting_group(meeting_id), False),
        (drivers_group(meeting_id), True),
    ):
        state = meeting_state(meeting_id=meeting_id, for_drivers=for_drivers)
        if state is not None:
            async_to_sync(layer.group_send)(group, {"type": "meeting.state", "state": state})


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
