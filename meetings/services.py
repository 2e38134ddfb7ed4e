"""Services for meetings: agendas, the live meeting, live questions and the
written-answer debt a meeting leaves behind.

Every change a live client can see bumps the meeting's sequence number and publishes
the new state after commit (meetings.events), from this one place.
"""

from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from accounts.models import Organisation, User
from concerns import services as concern_services
from concerns.anonymity import coarse_today, keyed_hash, receipt_hash, receipt_new
from concerns.errors import IllegalTransition, InvalidInput, NotAllowed
from concerns.models import Concern, Status
from concerns.rendering import render_markdown
from meetings import events
from meetings.models import (
    AgendaItem,
    ItemSource,
    LiveQuestion,
    LiveQuestionVote,
    Meeting,
    MeetingStatus,
    QuestionStatus,
)
from webhooks.models import EventType

QUESTION_MAX = 500
NOTES_MAX = 20_000
UNANSWERED = (Status.OPEN, Status.RESPONSE_DUE)


def can_drive(meeting: Meeting, person: User) -> bool:
    if not person.is_authenticated:
        return False
    return person.can_moderate or meeting.hosts.filter(pk=person.pk).exists()


def _require_driver(meeting: Meeting, person: User) -> None:
    if not can_drive(meeting, person):
        raise NotAllowed("Only moderators and the meeting's hosts can run it.")


def _require_moderator(person: User) -> None:
    if not person.can_moderate:
        raise NotAllowed("Only moderators can plan meetings and agendas.")


def _locked(meeting_id) -> Meeting:
    return Meeting.objects.select_for_update().get(pk=meeting_id)


def _changed(meeting: Meeting) -> None:
    """Numbers the change and publishes the new state once the transaction commits.
    Any change may start or end a meeting or change its agenda, so the cached map of
    concerns shown live is forgotten too (now, and again once the change commits)."""
    _live_concerns_forget()
    transaction.on_commit(_live_concerns_forget)
    _sequence_and_publish(meeting.pk)


def _sequence_and_publish(meeting_id) -> None:
    Meeting.objects.filter(pk=meeting_id).update(sequence=F("sequence") + 1)
    events.meeting_changed(meeting_id)


@transaction.atomic
def meeting_create(*, organiser: User, title: str, scheduled_start: datetime, hosts=()) -> Meeting:
    _require_moderator(organiser)
    title = (title or "").strip()
    if not title:
        raise InvalidInput("Give the meeting a title.")
    meeting = Meeting.objects.create(title=title[:140], scheduled_start=scheduled_start)
    meeting.hosts.set(list(hosts))
    return meeting


def _next_position(meeting: Meeting) -> int:
    return (meeting.items.aggregate(m=Max("position"))["m"] or 0) + 1


def _require_editable(meeting: Meeting) -> None:
    if meeting.status == MeetingStatus.ENDED:
        raise IllegalTransition("The meeting has ended; its agenda is part of the record.")


@transaction.atomic
def agenda_propose(*, meeting: Meeting, moderator: User) -> int:
    """Adds, in order of priority, concerns past the agenda threshold that still lack
    a written response, overdue concerns, and concerns escalated as not answered.
    Concerns already on the agenda are left where they are."""
    _require_moderator(moderator)
    meeting = _locked(meeting.pk)
    _require_editable(meeting)
    threshold = Organisation.current().agenda_vote_threshold
    today = timezone.localdate()
    already = set(meeting.items.exclude(concern=None).values_list("concern_id", flat=True))
    unanswered = Concern.objects.filter(status__in=UNANSWERED).exclude(pk__in=already)
    candidates = [
        (
            ItemSource.SUPPORT,
            unanswered.filter(vote_count__gte=threshold, response__versions__isnull=True)
            .distinct()
            .order_by("-vote_count", "pk"),
        ),
        (
            ItemSource.OVERDUE,
            unanswered.filter(status=Status.RESPONSE_DUE, response_due_on__lt=today).order_by(
                "response_due_on", "pk"
            ),
        ),
        (
            ItemSource.ESCALATED,
            unanswered.filter(status=Status.RESPONSE_DUE, escalated_on__isnull=False).order_by(
                "escalated_on", "pk"
            ),
        ),
    ]
    position = _next_position(meeting)
    added = 0
    for source, concerns in candidates:
        for concern in concerns:
            if concern.pk in already:
                continue
            AgendaItem.objects.create(
                meeting=meeting, position=position, concern=concern, source=source
            )
            already.add(concern.pk)
            position += 1
            added += 1
    if added:
        _changed(meeting)
    return added


@transaction.atomic
def agenda_item_add(
    *,
    meeting: Meeting,
    moderator: User,
    concern: Concern | None = None,
    topic: str = "",
    time_box_minutes: int | None = None,
) -> AgendaItem:
    _require_moderator(moderator)
    meeting = _locked(meeting.pk)
    _require_editable(meeting)
    topic = (topic or "").strip()
    if concern is None and not topic:
        raise InvalidInput("Choose a concern or write a topic.")
    if concern is not None:
        concern = Concern.objects.get(pk=concern.pk)
        if not concern.is_public:
            raise InvalidInput("Only public concerns can go on an agenda.")
        if meeting.items.filter(concern=concern).exists():
            raise InvalidInput("That concern is already on the agenda.")
    if time_box_minutes is not None and not 1 <= time_box_minutes <= 240:
        raise InvalidInput("A time box is between 1 and 240 minutes.")
    item = AgendaItem.objects.create(
        meeting=meeting,
        position=_next_position(meeting),
        concern=concern,
        topic="" if concern else topic[:140],
        source=ItemSource.MODERATOR,
        time_box_minutes=time_box_minutes,
    )
    _changed(meeting)
    return item


@transaction.atomic
def agenda_item_remove(*, item: AgendaItem, moderator: User) -> None:
    _require_moderator(moderator)
    meeting = _locked(item.meeting_id)
    _require_editable(meeting)
    item = AgendaItem.objects.get(pk=item.pk)
    if item.discussed_at is not None:
        raise IllegalTransition("A discussed item stays on the record.")
    if meeting.current_item_id == item.pk:
        raise IllegalTransition("Move to another item before removing the current one.")
    item.delete()
    _renumber(meeting)
    _changed(meeting)


def _renumber(meeting: Meeting) -> None:
    for position, item in enumerate(meeting.items.order_by("position", "pk"), start=1):
        if item.position != position:
            AgendaItem.objects.filter(pk=item.pk).update(position=position)


@transaction.atomic
def agenda_item_move(*, item: AgendaItem, moderator: User, direction: str) -> None:
    _require_moderator(moderator)
    meeting = _locked(item.meeting_id)
    _require_editable(meeting)
    if direction not in ("up", "down"):
        raise InvalidInput("Move an item up or down.")
    items = list(meeting.items.order_by("position", "pk"))
    index = next(i for i, it in enumerate(items) if it.pk == item.pk)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(items):
        return
    items[index], items[other] = items[other], items[index]
    for position, it in enumerate(items, start=1):
        AgendaItem.objects.filter(pk=it.pk).update(position=position)
    _changed(meeting)


@transaction.atomic
def agenda_item_notes(*, item: AgendaItem, author: User, notes: str) -> AgendaItem:
    meeting = _locked(item.meeting_id)
    _require_driver(meeting, author)
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX:
        raise InvalidInput(f"Notes must be at most {NOTES_MAX:,} characters.")
    item = AgendaItem.objects.get(pk=item.pk)
    item.notes = notes
    item.notes_html = render_markdown(notes) if notes else ""
    item.save(update_fields=["notes", "notes_html"])
    return item


# The live meeting ------------------------------------------------------------------


@transaction.atomic
def meeting_start(*, meeting: Meeting, actor: User) -> Meeting:
    meeting = _locked(meeting.pk)
    _require_driver(meeting, actor)
    if meeting.status == MeetingStatus.LIVE:
        raise IllegalTransition("The meeting has already started.")
    if meeting.status == MeetingStatus.ENDED:
        raise IllegalTransition("The meeting has ended.")
    meeting.status = MeetingStatus.LIVE
    meeting.started_at = timezone.now()
    meeting.current_item = meeting.items.order_by("position").first()
    meeting.save(update_fields=["status", "started_at", "current_item"])
    _changed(meeting)
    events.meeting_webhook(meeting, EventType.MEETING_STARTED)
    return meeting


def _require_live(meeting: Meeting) -> None:
    if meeting.status != MeetingStatus.LIVE:
        raise IllegalTransition("The meeting is not live.")


@transaction.atomic
def meeting_advance(*, meeting: Meeting, actor: User, item: AgendaItem | None = None) -> Meeting:
    """Moves to the given item, or to the next one on the agenda."""
    meeting = _locked(meeting.pk)
    _require_driver(meeting, actor)
    _require_live(meeting)
    items = list(meeting.items.order_by("position"))
    if item is not None:
        target = next((it for it in items if it.pk == item.pk), None)
        if target is None:
            raise InvalidInput("That item is not on this meeting's agenda.")
    else:
        ids = [it.pk for it in items]
        index = ids.index(meeting.current_item_id) if meeting.current_item_id in ids else -1
        if index + 1 >= len(items):
            raise IllegalTransition("This is the last item on the agenda.")
        target = items[index + 1]
    meeting.current_item = target
    meeting.save(update_fields=["current_item"])
    _changed(meeting)
    return meeting


@transaction.atomic
def agenda_item_mark_discussed(*, item: AgendaItem, actor: User) -> AgendaItem:
    meeting = _locked(item.meeting_id)
    _require_driver(meeting, actor)
    _require_live(meeting)
    item = AgendaItem.objects.get(pk=item.pk)
    if item.discussed_at is None:
        item.discussed_at = timezone.now()
        item.save(update_fields=["discussed_at"])
        _changed(meeting)
    return item


@transaction.atomic
def meeting_end(*, meeting: Meeting, actor: User) -> int:
    """Ends the meeting. Every discussed concern without a published response now
    owes one in writing, with a deadline: a spoken answer is not an answer of record.
    Returns how many concerns became due."""
    meeting = _locked(meeting.pk)
    _require_driver(meeting, actor)
    _require_live(meeting)
    meeting.status = MeetingStatus.ENDED
    meeting.ended_at = timezone.now()
    meeting.current_item = None
    meeting.save(update_fields=["status", "ended_at", "current_item"])
    discussed = meeting.items.filter(discussed_at__isnull=False, concern__isnull=False)
    owed = discussed.filter(concern__response__versions__isnull=True).select_related("concern")
    became_due = 0
    for item in owed.distinct():
        if item.concern.status in (Status.OPEN, Status.ANSWERED):
            concern_services.concern_require_response(
                concern=item.concern,
                actor=actor,
                note=f"Discussed at “{meeting.title}” on "
                f"{timezone.localdate(meeting.ended_at):%-d %b %Y}: "
                "a spoken answer is not an answer of record.",
            )
            became_due += 1
    _changed(meeting)
    events.meeting_webhook(meeting, EventType.MEETING_ENDED, owed_in_writing=became_due)
    return became_due


LIVE_CONCERNS_CACHE_KEY = "meetings:live-concerns"
LIVE_CONCERNS_CACHE_SECONDS = 60


def _live_concerns_forget() -> None:
    cache.delete(LIVE_CONCERNS_CACHE_KEY)


def _live_concerns() -> dict[str, list[int]]:
    """Which live meetings show which concern, as {concern id: [meeting ids]}.

    Every vote asks this, and almost always no meeting is live, so it is kept in the
    cache: one cache read per vote instead of a join. Every meeting change forgets it
    (see _changed); the expiry bounds what a change made outside the services (the
    admin deleting an item) can leave stale."""
    live = cache.get(LIVE_CONCERNS_CACHE_KEY)
    if live is None:
        live = {}
        rows = AgendaItem.objects.filter(meeting__status=MeetingStatus.LIVE).values_list(
            "concern_id", "meeting_id"
        )
        for concern_id, meeting_id in rows:
            live.setdefault(str(concern_id), []).append(meeting_id)
        cache.set(LIVE_CONCERNS_CACHE_KEY, live, timeout=LIVE_CONCERNS_CACHE_SECONDS)
    return live


def meetings_refresh_for_concern(*, concern_id) -> None:
    """A concern's support changed: live meetings showing it publish new counts."""
    for meeting_id in sorted(set(_live_concerns().get(str(concern_id), ()))):
        _sequence_and_publish(meeting_id)


# Live questions --------------------------------------------------------------------


def _question_voter_hash(person_id: int, question_id) -> str:
    return keyed_hash("question-vote", f"{person_id}:{question_id}")


@transaction.atomic
def question_ask(
    *, meeting: Meeting, asker: User, text: str, anonymous: bool, receipt: str | None = None
) -> tuple[LiveQuestion, str | None]:
    """Asks a question during a live meeting. An anonymous one keeps no link to the
    asker and gets a receipt, shown once, that later follows the concern it becomes."""
    meeting = _locked(meeting.pk)
    _require_live(meeting)
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Write your question first.")
    if len(text) > QUESTION_MAX:
        raise InvalidInput(f"A question must be at most {QUESTION_MAX} characters.")
    # `receipt` is for the demo seed only; everyone else gets a fresh random one.
    receipt = (receipt or receipt_new()) if anonymous else None
    question = LiveQuestion.objects.create(
        meeting=meeting,
        text=text,
        is_anonymous=anonymous,
        author=None if anonymous else asker,
        asked_on=coarse_today(),
        receipt_hash=receipt_hash(receipt) if receipt else None,
    )
    _changed(meeting)
    return question, receipt


@transaction.atomic
def question_vote(*, question: LiveQuestion, voter: User) -> bool:
    meeting = _locked(question.meeting_id)
    _require_live(meeting)
    question = LiveQuestion.objects.select_for_update().get(pk=question.pk)
    if question.status != QuestionStatus.APPROVED:
        raise IllegalTransition("Only approved questions can be voted on.")
    hashed = _question_voter_hash(voter.pk, question.pk)
    if LiveQuestionVote.objects.filter(question=question, voter_hash=hashed).exists():
        return False
    LiveQuestionVote.objects.create(question=question, voter_hash=hashed)
    LiveQuestion.objects.filter(pk=question.pk).update(vote_count=F("vote_count") + 1)
    _changed(meeting)
    return True


def _question_for_driver(question: LiveQuestion, actor: User) -> tuple[Meeting, LiveQuestion]:
    """Locks the meeting and the question for a moderator's or host's decision."""
    meeting = _locked(question.meeting_id)
    _require_driver(meeting, actor)
    return meeting, LiveQuestion.objects.select_for_update().get(pk=question.pk)


@transaction.atomic
def question_approve(*, question: LiveQuestion, actor: User) -> Concern:
    """Approves a live question for the room; it also becomes an open concern that
    enters the normal lifecycle, named or anonymous as it was asked."""
    # It becomes a published concern, which only moderators may publish.
    if not actor.can_moderate:
        raise NotAllowed("Only moderators can approve questions: they become concerns.")
    meeting, question = _question_for_driver(question, actor)
    if question.status != QuestionStatus.PENDING:
        raise IllegalTransition("This question was already decided.")
    held_receipt = question.receipt_hash
    question.status = QuestionStatus.APPROVED
    question.receipt_hash = None
    question.save(update_fields=["status", "receipt_hash"])
    title = question.text if len(question.text) <= 140 else question.text[:137] + "…"
    submission = concern_services.concern_submit(
        author=question.author,
        anonymous=question.is_anonymous,
        title=title,
        body=f"{question.text}\n\nAsked live at “{meeting.title}”.",
        receipt_hash_value=held_receipt,
    )
    concern = concern_services.concern_approve(
        concern=submission.concern, moderator=actor, at_once=True
    )
    question.concern = concern
    question.save(update_fields=["concern"])
    _changed(meeting)
    return concern


@transaction.atomic
def question_reject(*, question: LiveQuestion, actor: User) -> LiveQuestion:
    meeting, question = _question_for_driver(question, actor)
    if question.status != QuestionStatus.PENDING:
        raise IllegalTransition("This question was already decided.")
    question.status = QuestionStatus.REJECTED
    question.save(update_fields=["status"])
    _changed(meeting)
    return question


@transaction.atomic
def question_highlight(*, question: LiveQuestion, actor: User) -> LiveQuestion:
    meeting, question = _question_for_driver(question, actor)
    if question.status != QuestionStatus.APPROVED:
        raise IllegalTransition("Approve the question before highlighting it.")
    LiveQuestion.objects.filter(Q(meeting=meeting) & ~Q(pk=question.pk)).update(highlighted=False)
    question.highlighted = not question.highlighted
    question.save(update_fields=["highlighted"])
    _changed(meeting)
    return question
