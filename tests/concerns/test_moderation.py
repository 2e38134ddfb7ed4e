"""The moderation queue and the moderators' decisions, as moderators and others see them."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from concerns import services
from concerns.models import Concern, Status
from tests import factories

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def queue_rows(response) -> list[str]:
    """The queue's rows as plain text, in page order."""
    body = re.search(r"<tbody>(.*)</tbody>", response.content.decode(), re.S)
    if body is None:
        return []
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in rows]


def submitted_days_ago(days: int, **extra) -> Concern:
    concern = factories.submission(**extra).concern
    Concern.objects.filter(pk=concern.pk).update(
        submitted_on=timezone.localdate() - timedelta(days=days)
    )
    return concern


@pytest.fixture
def moderator():
    return factories.moderator()


@pytest.fixture
def moderating(client, moderator):
    client.force_login(moderator)
    return client


# The queue ---------------------------------------------------------------------------


def test_the_queue_lists_waiting_concerns_oldest_first_with_their_age(moderating, moderator):
    submitted_days_ago(0, title="Raised today")
    in_review = submitted_days_ago(3, title="Raised three days ago")
    services.concern_review_start(concern=in_review, moderator=moderator)
    submitted_days_ago(1, title="Raised yesterday")
    submitted_days_ago(12, title="Raised long ago")

    response = moderating.get(reverse("concerns:moderation"))

    assert response.status_code == 200
    assert queue_rows(response) == [
        "Raised long ago Submitted 12 days named",
        "Raised three days ago In review 3 days named",
        "Raised yesterday Submitted 1 day named",
        "Raised today Submitted today named",
    ]


def test_the_queue_leaves_out_concerns_that_were_decided(moderating, moderator):
    factories.open_concern(title="Already open")
    rejected = factories.submission(title="Already rejected").concern
    services.concern_reject(concern=rejected, moderator=moderator, reason="Spam.")
    author = factories.person()
    withdrawn = factories.submission(author=author, title="Already withdrawn").concern
    services.concern_withdraw(concern=withdrawn, author=author)
    factories.submission(title="Still waiting")

    response = moderating.get(reverse("concerns:moderation"))

    assert [row.split(" Submitted")[0] for row in queue_rows(response)] == ["Still waiting"]


def test_an_empty_queue_says_so(moderating):
    response = moderating.get(reverse("concerns:moderation"))

    assert response.status_code == 200
    assert "Nothing is waiting." in page_text(response)


@pytest.mark.parametrize("role", ["employee", "leader"])
def test_the_queue_is_forbidden_to_employees_and_leaders(client, role):
    factories.submission(title="A waiting concern")
    client.force_login(factories.person(role=role))

    response = client.get(reverse("concerns:moderation"))

    assert response.status_code == 403
    assert "Your role does not allow this page." in page_text(response)
    assert "A waiting concern" not in page_text(response)


def test_the_queue_sends_visitors_to_sign_in(client):
    response = client.get(reverse("concerns:moderation"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))


def test_only_moderators_see_the_moderation_link(client):
    client.force_login(factories.person())
    assert "Moderation</a>" not in page_text(client.get(reverse("concerns:list")))

    client.force_login(factories.moderator())
    assert "Moderation</a>" in page_text(client.get(reverse("concerns:list")))


@pytest.mark.parametrize("action", ["review", "approve", "reject", "merge"])
@pytest.mark.parametrize("role", ["employee", "leader"])
def test_moderation_buttons_are_forbidden_to_employees_and_leaders(client, role, action):
    concern = factories.submission().concern
    target = factories.open_concern()
    client.force_login(factories.person(role=role))

    response = client.post(
        reverse("concerns:moderate", args=[concern.pk, action]),
        {"reason": "No.", "into": str(target.pk)},
    )

    assert response.status_code == 403
    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED
    assert concern.events.count() == 1


def test_moderation_buttons_need_a_post(moderating):
    concern = factories.submission().concern

    response = moderating.get(reverse("concerns:moderate", args=[concern.pk, "approve"]))

    assert response.status_code == 405
    assert Concern.objects.get(pk=concern.pk).status == Status.SUBMITTED


# Decisions ---------------------------------------------------------------------------


def test_approving_publishes_the_concern_for_everyone(client, moderating, moderator):
    concern = factories.submission(title="Face matching for police").concern
    before = timezone.now()

    response = moderating.post(reverse("concerns:moderate", args=[concern.pk, "approve"]))

    assert response.status_code == 302
    assert response["Location"] == reverse("concerns:moderation")
    concern.refresh_from_db()
    assert concern.status == Status.OPEN
    assert before <= concern.published_at <= timezone.now()
    assert concern.events.get(to_status=Status.OPEN).actor == moderator

    client.force_login(factories.person())
    listing = client.get(reverse("concerns:list"))
    assert "Face matching for police" in page_text(listing)
    assert client.get(reverse("concerns:detail", args=[concern.pk])).status_code == 200


def test_an_approval_is_confirmed_to_the_moderator(moderating):
    concern = factories.submission(title="Face matching for police").concern

    response = moderating.post(
        reverse("concerns:moderate", args=[concern.pk, "approve"]), follow=True
    )

    assert "“Face matching for police” is now open to everyone." in page_text(response)


def test_unpublished_concerns_are_not_listed(client):
    factories.submission(title="Not yet reviewed")
    client.force_login(factories.person())

    assert "Not yet reviewed" not in page_text(client.get(reverse("concerns:list")))


def test_rejecting_with_a_reason_records_it_for_the_submitter(moderating, moderator):
    author = factories.person()
    concern = factories.submission(author=author).concern

    response = moderating.post(
        reverse("concerns:moderate", args=[concern.pk, "reject"]),
        {"reason": "It names a colleague."},
        follow=True,
    )

    assert "The concern was rejected; the submitter can read why." in page_text(response)
    concern.refresh_from_db()
    assert concern.status == Status.REJECTED
    assert concern.rejection_reason == "It names a colleague."
    assert concern.published_at is None
    event = concern.events.get(to_status=Status.REJECTED)
    assert event.actor == moderator
    assert event.note == "It names a colleague."


def test_starting_a_review_marks_the_concern_in_review(moderating, moderator):
    concern = factories.submission().concern

    response = moderating.post(reverse("concerns:moderate", args=[concern.pk, "review"]))

    assert response.status_code == 302
    assert response["Location"] == concern.get_absolute_url()
    concern.refresh_from_db()
    assert concern.status == Status.IN_REVIEW
    assert concern.events.get(to_status=Status.IN_REVIEW).actor == moderator
    page = moderating.get(concern.get_absolute_url())
    assert "You are reviewing this concern." in page_text(page)
    assert "Start review" not in page_text(page)
    assert "Approve and publish" in page_text(page)


def test_merging_a_duplicate_carries_its_votes_over(moderating, moderator):
    target = factories.open_concern(title="Face matching for police")
    duplicate = factories.open_concern(title="Police face matching again")
    both, only_duplicate = factories.person(), factories.person()
    for voter in (both, only_duplicate):
        services.vote_cast(concern=duplicate, voter=voter)
    services.vote_cast(concern=target, voter=both)

    response = moderating.post(
        reverse("concerns:moderate", args=[duplicate.pk, "merge"]),
        {"into": str(target.pk)},
        follow=True,
    )

    assert "Merged. Its votes were carried over." in page_text(response)
    duplicate.refresh_from_db()
    target.refresh_from_db()
    assert duplicate.status == Status.MERGED
    assert duplicate.merged_into == target
    assert target.vote_count == 2
    assert target.votes.count() == 2


def test_merging_a_submitted_duplicate_reviews_and_merges_it(moderating, moderator):
    target = factories.open_concern()
    duplicate = factories.submission().concern

    moderating.post(
        reverse("concerns:moderate", args=[duplicate.pk, "merge"]), {"into": str(target.pk)}
    )

    duplicate.refresh_from_db()
    assert duplicate.status == Status.MERGED
    steps = list(duplicate.events.order_by("sequence").values_list("to_status", flat=True))
    assert steps == [Status.SUBMITTED, Status.IN_REVIEW, Status.MERGED]


# Anonymity ---------------------------------------------------------------------------


def test_the_moderator_sees_no_author_for_an_anonymous_concern(client, moderating):
    submitter = factories.person(
        username="quentin.whistle", first_name="Quentin", last_name="Whistle"
    )
    client.force_login(submitter)
    client.post(
        reverse("concerns:new"),
        {"title": "Border contracts", "body": "Why?", "identity": "anonymous"},
    )
    concern = Concern.objects.get(title="Border contracts")
    moderating.force_login(factories.moderator())

    queue = moderating.get(reverse("concerns:moderation"))
    page = moderating.get(concern.get_absolute_url())

    assert queue_rows(queue) == ["Border contracts Submitted today anonymously"]
    text = page_text(page)
    assert page.status_code == 200
    assert "Anonymous" in text
    assert "anonymously" in text
    assert "Raised by" not in text
    for trace in ("Quentin", "Whistle", "quentin.whistle", submitter.email):
        assert trace not in page_text(queue)
        assert trace not in text


def test_the_moderator_sees_the_name_on_a_named_concern(moderating):
    author = factories.person(first_name="Nadia", last_name="Named")
    concern = factories.submission(author=author).concern

    page = moderating.get(concern.get_absolute_url())

    assert "Raised by Nadia Named" in page_text(page)
