"""Read paths for meetings, and the live state sent to clients."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch
from django.utils import timezone

from accounts.models import User
from meetings.models import AgendaItem, LiveQuestion, Meeting, MeetingStatus, QuestionStatus
from responses.models import ResponseVersion


@dataclass
class MeetingPage:
    meeting: Meeting
    items: list[AgendaItem]
    questions: list[LiveQuestion]
    discussed_total: int
    discussed_answered: int


def _items():
    answered = ResponseVersion.objects.filter(response__concern=OuterRef("concern"))
    return (
        AgendaItem.objects.select_related("concern")
        .annotate(answered_in_writing=Exists(answered))
        .order_by("position")
    )


def meeting_lists() -> dict[str, list[Meeting]]:
    meetings = list(Meeting.objects.order_by("scheduled_start"))
    return {
        "live": [m for m in meetings if m.status == MeetingStatus.LIVE],
        "upcoming": [m for m in meetings if m.status == MeetingStatus.PLANNED],
        "past": [m for m in reversed(meetings) if m.status == MeetingStatus.ENDED],
    }


def meeting_page(*, meeting_id, for_drivers: bool) -> MeetingPage | None:
    meeting = (
        Meeting.objects.prefetch_related(
            Prefetch("hosts", queryset=User.objects.order_by("last_name"))
        )
        .filter(pk=meeting_id)
        .first()
    )
    if meeting is None:
        return None
    items = list(_items().filter(meeting=meeting))
    questions = LiveQuestion.objects.filter(meeting=meeting).select_related("author")
    if not for_drivers:
        questions = questions.filter(status=QuestionStatus.APPROVED)
    questions = list(questions.order_by("-highlighted", "-vote_count", "text"))
    discussed = [it for it in items if it.discussed_at and it.concern_id]
    return MeetingPage(
        meeting=meeting,
        items=items,
        questions=questions,
        discussed_total=len(discussed),
        discussed_answered=sum(1 for it in discussed if it.answered_in_writing),
    )


def _question_state(question: LiveQuestion) -> dict:
    return {
        "id": str(question.pk),
        "text": question.text,
        "votes": question.vote_count,
        "status": question.status,
        "highlighted": question.highlighted,
        # Never a person for an anonymous question.
        "by": None
        if question.is_anonymous or question.author is None
        else question.author.display_name,
    }


def meeting_state(*, meeting_id, for_drivers: bool) -> dict | None:
    """Everything a live client shows, as plain JSON. Sent whole with every change,
    so a client that missed a message is whole again with the next one."""
    page = meeting_page(meeting_id=meeting_id, for_drivers=for_drivers)
    if page is None:
        return None
    meeting = page.meeting
    return {
        "meeting": meeting.pk,
        "seq": meeting.sequence,
        "status": meeting.status,
        "title": meeting.title,
        "current": meeting.current_item_id,
        "items": [
            {
                "id": item.pk,
                "position": item.position,
                "title": item.title,
                "url": item.concern.get_absolute_url() if item.concern_id else None,
                "votes": item.concern.vote_count if item.concern_id else None,
                "time_box": item.time_box_minutes,
                "discussed": item.discussed_at is not None,
                "answered_in_writing": item.answered_in_writing,
            }
            for item in page.items
        ],
        "questions": [_question_state(q) for q in page.questions],
        "debt": {"answered": page.discussed_answered, "total": page.discussed_total},
        "at": timezone.now().isoformat(),
    }
