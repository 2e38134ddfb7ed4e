"""The lifecycle of a concern: which status changes are allowed, who may make them, what
each one records, and who can see a concern on the way."""

import html
from collections.abc import Callable

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from concerns import services
from concerns.errors import IllegalTransition, NotAllowed
from concerns.models import Concern, Status
from responses import services as response_services
from responses.models import Position
from tests import factories

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def _closed(concern: Concern, *, actor: User) -> Concern:
    """Closes a concern. No service closes concerns yet, so this takes the one
    transition function every service shares, along a legal step."""
    with transaction.atomic():
        locked = Concern.objects.select_for_update().get(pk=concern.pk)
        services._transition(locked, Status.CLOSED, actor=actor)
    concern.refresh_from_db()
    return concern


def _answered(concern: Concern, *, leader: User) -> Concern:
    """A leader writes and publishes a response, which marks the concern answered."""
    response_services.response_draft_save(
        concern=concern,
        leader=leader,
        position=Position.INVESTIGATING,
        summary="We are looking into the contracts.",
        details="We will report back at the next all-hands.",
    )
    response_services.response_publish(concern=concern, leader=leader)
    return Concern.objects.get(pk=concern.pk)


def concern_in(status: str, *, moderator: User, author: User | None = None) -> Concern:
    """A concern brought to `status` the way the product gets it there."""
    author = author or factories.person()
    concern = factories.submission(author=author).concern
    if status == Status.SUBMITTED:
        return concern
    if status == Status.WITHDRAWN:
        return services.concern_withdraw(concern=concern, author=author)
    services.concern_review_start(concern=concern, moderator=moderator)
    if status == Status.IN_REVIEW:
        return Concern.objects.get(pk=concern.pk)
    if status == Status.REJECTED:
        return services.concern_reject(concern=concern, moderator=moderator, reason="Off topic.")
    if status == Status.MERGED:
        target = factories.open_concern(moderated_by=moderator)
        return services.concern_merge(concern=concern, into=target, moderator=moderator)
    concern = services.concern_approve(concern=concern, moderator=moderator)
    if status == Status.OPEN:
        return concern
    if status == Status.CLOSED:
        return _closed(concern, actor=moderator)
    concern = services.concern_require_response(
        concern=concern, actor=moderator, note="Discussed at the all-hands."
    )
    if status == Status.RESPONSE_DUE:
        return concern
    if status == Status.ANSWERED:
        return _answered(concern, leader=factories.leader())
    raise AssertionError(f"no way to reach {status}")


# How each legal step is taken, returning the concern and who should be recorded as
# having taken it.
Step = Callable[[Concern, User], tuple[Concern, User]]


def _review(concern: Concern, moderator: User):
    return services.concern_review_start(concern=concern, moderator=moderator), moderator


def _approve(concern: Concern, moderator: User):
    return services.concern_approve(concern=concern, moderator=moderator), moderator


def _reject(concern: Concern, moderator: User):
    reason = "Not a concern about work."
    return services.concern_reject(concern=concern, moderator=moderator, reason=reason), moderator


def _merge(concern: Concern, moderator: User):
    target = factories.open_concern(moderated_by=moderator)
    return services.concern_merge(concern=concern, into=target, moderator=moderator), moderator


def _withdraw(concern: Concern, moderator: User):
    return services.concern_withdraw(concern=concern, author=concern.author), concern.author


def _require_response(concern: Concern, moderator: User):
    due = services.concern_require_response(
        concern=concern, actor=moderator, note="Discussed at the all-hands."
    )
    return due, moderator


def _answer(concern: Concern, moderator: User):
    leader = factories.leader()
    return _answered(concern, leader=leader), leader


def _close(concern: Concern, moderator: User):
    return _closed(concern, actor=moderator), moderator


LEGAL_STEPS: dict[tuple[str, str], Step] = {
    (Status.SUBMITTED, Status.IN_REVIEW): _review,
    (Status.SUBMITTED, Status.WITHDRAWN): _withdraw,
    (Status.IN_REVIEW, Status.OPEN): _approve,
    (Status.IN_REVIEW, Status.REJECTED): _reject,
    (Status.IN_REVIEW, Status.MERGED): _merge,
    (Status.IN_REVIEW, Status.WITHDRAWN): _withdraw,
    (Status.OPEN, Status.RESPONSE_DUE): _require_response,
    # Leaders may answer before the votes make it due: publishing allows open concerns.
    (Status.OPEN, Status.ANSWERED): _answer,
    (Status.OPEN, Status.MERGED): _merge,
    (Status.OPEN, Status.CLOSED): _close,
    (Status.OPEN, Status.WITHDRAWN): _withdraw,
    (Status.RESPONSE_DUE, Status.ANSWERED): _answer,
    (Status.ANSWERED, Status.CLOSED): _close,
    (Status.ANSWERED, Status.RESPONSE_DUE): _require_response,
}
ILLEGAL_STEPS = [
    (from_status, to_status)
    for from_status in Status
    for to_status in Status
    if (from_status, to_status) not in LEGAL_STEPS
]


def test_the_tested_transitions_are_exactly_the_allowed_ones():
    allowed = {(f, t) for f, targets in services.ALLOWED_TRANSITIONS.items() for t in targets}
    assert allowed == set(LEGAL_STEPS)


@pytest.mark.parametrize(("from_status", "to_status"), list(LEGAL_STEPS))
def test_every_legal_transition_records_an_event_with_its_time_and_actor(from_status, to_status):
    moderator = factories.moderator()
    concern = concern_in(from_status, moderator=moderator)
    events_before = concern.events.count()
    before = timezone.now()

    changed, actor = LEGAL_STEPS[(from_status, to_status)](concern, moderator)

    changed.refresh_from_db()
    assert changed.status == to_status
    event = changed.events.order_by("-sequence").first()
    assert event.sequence == events_before + 1
    assert (event.from_status, event.to_status) == (from_status, to_status)
    assert event.actor == actor
    assert before <= event.occurred_at <= timezone.now()
    assert event.occurred_on == timezone.localdate(event.occurred_at)


@pytest.mark.parametrize(("from_status", "to_status"), ILLEGAL_STEPS)
def test_every_illegal_transition_is_refused_with_a_clear_message(from_status, to_status):
    moderator = factories.moderator()
    concern = concern_in(from_status, moderator=moderator)
    events_before = list(concern.events.values_list("pk", flat=True))

    with pytest.raises(IllegalTransition) as refused, transaction.atomic():
        locked = Concern.objects.select_for_update().get(pk=concern.pk)
        services._transition(locked, to_status, actor=moderator)

    assert str(refused.value) == (
        f"A concern that is {Status(from_status).label.lower()} cannot become "
        f"{Status(to_status).label.lower()}."
    )
    concern.refresh_from_db()
    assert concern.status == from_status
    assert list(concern.events.values_list("pk", flat=True)) == events_before


@pytest.mark.parametrize(
    ("from_status", "act", "message"),
    [
        (
            Status.OPEN,
            lambda c, m: services.concern_approve(concern=c, moderator=m),
            "A concern that is open cannot become open.",
        ),
        (
            Status.REJECTED,
            lambda c, m: services.concern_approve(concern=c, moderator=m),
            "A concern that is rejected cannot become open.",
        ),
        (
            Status.OPEN,
            lambda c, m: services.concern_reject(concern=c, moderator=m, reason="Too late."),
            "A concern that is open cannot become rejected.",
        ),
        (
            Status.IN_REVIEW,
            lambda c, m: services.concern_review_start(concern=c, moderator=m),
            "A concern that is in review cannot become in review.",
        ),
        (
            Status.WITHDRAWN,
            lambda c, m: services.concern_merge(
                concern=c, into=factories.open_concern(moderated_by=m), moderator=m
            ),
            "A concern that is withdrawn cannot become merged.",
        ),
        (
            Status.REJECTED,
            lambda c, m: services.concern_withdraw(concern=c, author=c.author),
            "A concern that is rejected cannot become withdrawn.",
        ),
        (
            Status.CLOSED,
            lambda c, m: services.concern_withdraw(concern=c, author=c.author),
            "A concern that is closed cannot become withdrawn.",
        ),
    ],
)
def test_a_service_asked_for_an_illegal_step_changes_nothing(from_status, act, message):
    moderator = factories.moderator()
    concern = concern_in(from_status, moderator=moderator)
    stored_before = Concern.objects.values().get(pk=concern.pk)
    events_before = list(concern.events.values_list("pk", flat=True))

    with pytest.raises(IllegalTransition, match=message):
        act(concern, moderator)

    assert Concern.objects.values().get(pk=concern.pk) == stored_before
    assert list(concern.events.values_list("pk", flat=True)) == events_before


def test_approving_a_submitted_concern_records_the_review_and_the_publication():
    moderator = factories.moderator()
    concern = factories.submission().concern

    services.concern_approve(concern=concern, moderator=moderator)

    steps = list(concern.events.order_by("sequence").values_list("to_status", "actor"))
    assert steps == [
        (Status.SUBMITTED, concern.author_id),
        (Status.IN_REVIEW, moderator.pk),
        (Status.OPEN, moderator.pk),
    ]


def test_merging_into_a_concern_that_is_not_open_is_refused_and_changes_nothing():
    moderator = factories.moderator()
    duplicate = concern_in(Status.IN_REVIEW, moderator=moderator)
    closed = concern_in(Status.CLOSED, moderator=moderator)

    with pytest.raises(IllegalTransition, match="can only be merged into an open one"):
        services.concern_merge(concern=duplicate, into=closed, moderator=moderator)

    duplicate.refresh_from_db()
    assert duplicate.status == Status.IN_REVIEW
    assert duplicate.merged_into is None


def test_only_moderators_can_review_approve_or_reject():
    employee = factories.person()
    leader = factories.leader()
    concern = factories.submission().concern

    for person in (employee, leader):
        with pytest.raises(NotAllowed, match="Only moderators can review concerns."):
            services.concern_review_start(concern=concern, moderator=person)
        with pytest.raises(NotAllowed):
            services.concern_approve(concern=concern, moderator=person)
        with pytest.raises(NotAllowed):
            services.concern_reject(concern=concern, moderator=person, reason="No.")

    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED
    assert concern.events.count() == 1


# The anonymous submitter's own actions ------------------------------------------------


def test_an_anonymous_submission_records_the_date_only_and_no_actor(client):
    submitter = factories.person()
    client.force_login(submitter)

    client.post(
        reverse("concerns:new"),
        {"title": "Contracts with border agencies", "body": "Why?", "identity": "anonymous"},
    )

    concern = Concern.objects.get(title="Contracts with border agencies")
    assert concern.author is None
    event = concern.events.get()
    assert event.to_status == Status.SUBMITTED
    assert event.occurred_on == timezone.localdate()
    assert event.occurred_at is None
    assert event.actor is None


def test_withdrawing_by_receipt_records_the_date_only_and_no_actor():
    submission = factories.submission(anonymous=True)

    services.concern_withdraw_by_receipt(receipt=submission.receipt)

    concern = Concern.objects.get(pk=submission.concern.pk)
    assert concern.status == Status.WITHDRAWN
    event = concern.events.order_by("-sequence").first()
    assert (event.from_status, event.to_status) == (Status.SUBMITTED, Status.WITHDRAWN)
    assert event.occurred_on == timezone.localdate()
    assert event.occurred_at is None
    assert event.actor is None


def test_moderator_steps_on_an_anonymous_concern_still_name_the_moderator():
    moderator = factories.moderator()
    concern = factories.submission(anonymous=True).concern

    services.concern_approve(concern=concern, moderator=moderator)
    services.publication_batch()

    approved, published = concern.events.filter(sequence__gt=2).order_by("sequence")
    assert (approved.actor, published.actor) == (moderator, moderator)
    assert published.to_status == Status.OPEN
    # Both are the moderator's times (the approval, then the batch), not the submitter's.
    assert approved.occurred_at is not None and published.occurred_at is not None


# Withdrawing by name -----------------------------------------------------------------


def test_a_named_author_can_withdraw_their_own_concern(client):
    author = factories.person()
    concern = factories.open_concern(author=author)
    client.force_login(author)

    response = client.post(reverse("concerns:withdraw", args=[concern.pk]), follow=True)

    assert response.status_code == 200
    assert "Your concern was withdrawn." in page_text(response)
    concern.refresh_from_db()
    assert concern.status == Status.WITHDRAWN
    event = concern.events.order_by("-sequence").first()
    assert event.actor == author
    assert event.occurred_at is not None


@pytest.mark.parametrize("role", ["employee", "moderator", "leader"])
def test_nobody_else_can_withdraw_a_named_concern(client, role):
    concern = factories.open_concern()
    other = factories.person(role=role)
    client.force_login(other)

    response = client.post(reverse("concerns:withdraw", args=[concern.pk]), follow=True)

    assert "Only the person who raised a concern can withdraw it." in page_text(response)
    concern.refresh_from_db()
    assert concern.status == Status.OPEN
    assert not concern.events.filter(to_status=Status.WITHDRAWN).exists()


def test_the_page_offers_withdrawal_only_to_the_author(client):
    author = factories.person()
    concern = factories.open_concern(author=author)
    url = reverse("concerns:detail", args=[concern.pk])

    client.force_login(author)
    assert "Withdraw my concern" in page_text(client.get(url))
    client.force_login(factories.person())
    assert "Withdraw my concern" not in page_text(client.get(url))


def test_a_signed_in_anonymous_submitter_cannot_withdraw_by_name(client):
    submitter = factories.person()
    client.force_login(submitter)
    client.post(
        reverse("concerns:new"),
        {"title": "Quiet worry", "body": "Details.", "identity": "anonymous"},
    )
    concern = Concern.objects.get(title="Quiet worry")

    client.post(reverse("concerns:withdraw", args=[concern.pk]))

    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED


# Who sees a concern before it is public ----------------------------------------------


@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.IN_REVIEW])
@pytest.mark.parametrize("role", ["employee", "leader"])
def test_a_concern_awaiting_moderation_is_not_found_for_other_staff(client, status, role):
    concern = concern_in(status, moderator=factories.moderator())
    client.force_login(factories.person(role=role))

    response = client.get(reverse("concerns:detail", args=[concern.pk]))

    assert response.status_code == 404
    assert concern.title not in page_text(response)


@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.IN_REVIEW])
def test_a_concern_awaiting_moderation_is_visible_to_moderators_and_its_named_author(
    client, status
):
    author = factories.person()
    concern = concern_in(status, moderator=factories.moderator(), author=author)
    url = reverse("concerns:detail", args=[concern.pk])

    for viewer in (factories.moderator(), author):
        client.force_login(viewer)
        response = client.get(url)
        assert response.status_code == 200
        assert concern.title in page_text(response)


def test_an_anonymous_submitter_cannot_open_their_own_unpublished_concern_by_account(client):
    submitter = factories.person()
    client.force_login(submitter)
    client.post(
        reverse("concerns:new"),
        {"title": "Unlinked worry", "body": "Details.", "identity": "anonymous"},
    )
    concern = Concern.objects.get(title="Unlinked worry")

    response = client.get(reverse("concerns:detail", args=[concern.pk]))

    assert response.status_code == 404


def test_an_open_concern_is_visible_to_every_employee(client):
    concern = factories.open_concern()
    client.force_login(factories.person())

    response = client.get(reverse("concerns:detail", args=[concern.pk]))

    assert response.status_code == 200
    assert concern.title in page_text(response)


def test_a_withdrawn_concern_is_not_found_for_other_staff(client):
    author = factories.person()
    concern = factories.open_concern(author=author)
    services.concern_withdraw(concern=concern, author=author)
    client.force_login(factories.person())

    assert client.get(reverse("concerns:detail", args=[concern.pk])).status_code == 404


# Rejection reasons -------------------------------------------------------------------


def test_a_rejected_concern_shows_the_reason_to_its_named_author(client):
    author = factories.person()
    concern = factories.submission(author=author).concern
    services.concern_reject(
        concern=concern, moderator=factories.moderator(), reason="This names a colleague."
    )
    client.force_login(author)

    detail = client.get(reverse("concerns:detail", args=[concern.pk]))
    mine = client.get(reverse("concerns:mine"))

    assert detail.status_code == 200
    assert "Rejected by the moderators: This names a colleague." in page_text(detail)
    assert "This names a colleague." in page_text(mine)


def test_a_rejected_concern_is_not_found_for_other_employees(client):
    concern = factories.submission().concern
    services.concern_reject(concern=concern, moderator=factories.moderator(), reason="Spam.")
    client.force_login(factories.person())

    assert client.get(reverse("concerns:detail", args=[concern.pk])).status_code == 404


def test_a_rejected_anonymous_concern_shows_the_reason_on_the_receipt_page(client):
    submission = factories.submission(anonymous=True)
    services.concern_reject(
        concern=submission.concern,
        moderator=factories.moderator(),
        reason="Please raise pay questions with HR.",
    )

    response = client.post(reverse("concerns:receipt"), {"receipt": submission.receipt})

    assert response.status_code == 200
    text = page_text(response)
    assert "Rejected" in text
    assert "The moderators rejected it: Please raise pay questions with HR." in text
