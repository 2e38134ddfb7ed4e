"""Following a concern is an explicit choice: followers get one mail when it changes
status or a response or commitment update is published. Voting never follows, an
anonymous submission never follows on anyone's behalf, and an anonymous submitter's
own withdrawal sends nothing at that moment."""

import re

import pytest
from django.urls import reverse

from concerns import services as concern_services
from concerns.models import Concern, Status
from notifications import services
from notifications.models import Follow
from responses import services as response_services
from responses.models import CommitmentStatus
from tests import factories
from tests.notifications import outbox_recipients, outbox_to, text_of, visible
from tests.responses import due_concern, publish

pytestmark = pytest.mark.django_db


def follow_url(concern: Concern) -> str:
    return reverse("notifications:follow", args=[concern.pk])


@pytest.fixture
def moderator():
    return factories.moderator(first_name="Mo", last_name="Derator")


@pytest.fixture
def concern(moderator):
    return factories.open_concern(title="Lockers in the warehouse", moderated_by=moderator)


@pytest.fixture
def followers(concern):
    people = [factories.person(username=f"follower{n}") for n in range(2)]
    for person in people:
        services.follow(person=person, concern=concern)
    factories.person(username="bystander")
    return people


# Following and unfollowing -----------------------------------------------------------


def test_following_from_the_concern_page_and_stopping_again(client, concern):
    person = factories.person()
    client.force_login(person)
    page = client.get(concern.get_absolute_url())
    assert f'action="{follow_url(concern)}"' in page.content.decode()
    assert "Follow by mail" in visible(page.content.decode())

    followed = client.post(follow_url(concern), follow=True)

    assert followed.redirect_chain == [(concern.get_absolute_url(), 302)]
    assert "You will get a mail when this concern changes." in visible(followed.content.decode())
    assert "Following · stop" in visible(followed.content.decode())
    assert Follow.objects.filter(person=person, concern=concern).count() == 1

    client.post(follow_url(concern))  # twice is still one follow
    assert Follow.objects.filter(person=person, concern=concern).count() == 1

    stopped = client.post(follow_url(concern), {"action": "unfollow"}, follow=True)

    assert "You no longer follow this concern." in visible(stopped.content.decode())
    assert not Follow.objects.filter(person=person).exists()


def test_a_concern_awaiting_moderation_cannot_be_followed(client):
    person = factories.person()
    waiting = factories.submission(author=person).concern
    client.force_login(person)

    page = client.post(follow_url(waiting), follow=True)

    assert "Only public concerns can be followed." in visible(page.content.decode())
    assert not Follow.objects.exists()


def test_following_needs_signing_in_and_a_post(client, concern):
    assert client.post(follow_url(concern))["Location"].startswith(reverse("accounts:sign-in"))
    client.force_login(factories.person())
    assert client.get(follow_url(concern)).status_code == 405
    assert not Follow.objects.exists()


# What followers hear -----------------------------------------------------------------


def test_followers_get_one_mail_when_a_moderator_changes_the_status(
    client, concern, followers, moderator, django_capture_on_commit_callbacks
):
    client.force_login(moderator)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("concerns:moderate", args=[concern.pk, "require-response"]))

    assert Concern.objects.get(pk=concern.pk).status == Status.RESPONSE_DUE
    assert outbox_recipients() == sorted(p.email for p in followers)
    [message] = outbox_to(followers[0].email)
    assert message.subject == "Update: Lockers in the warehouse"
    assert "This concern is now response due." in text_of(message)
    assert f"http://127.0.0.1:8000/concerns/{concern.pk}/" in text_of(message)
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_change_that_keeps_the_status_sends_no_mail(
    concern, followers, moderator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        concern_services.concern_assign_leader(
            concern=concern, moderator=moderator, leader=factories.leader()
        )

    assert outbox_recipients() == []


def test_followers_get_one_mail_when_a_response_version_is_published(
    moderator, django_capture_on_commit_callbacks
):
    leader = factories.leader(first_name="Lena", last_name="Leader")
    concern = due_concern(leader=leader, moderator=moderator, title="Lockers in the warehouse")
    follower = factories.person()
    services.follow(person=follower, concern=concern)

    with django_capture_on_commit_callbacks(execute=True):
        publish(concern, leader, summary="New lockers arrive in May.")

    mails = outbox_to(follower.email)
    assert len(mails) == 1, "publishing is one event: one mail, not a second for the status"
    [message] = mails
    assert "Lena Leader published version 1 of the written response" in text_of(message)
    assert "New lockers arrive in May." in text_of(message)


def test_followers_get_one_mail_for_a_revised_response(
    moderator, django_capture_on_commit_callbacks
):
    leader = factories.leader(first_name="Lena", last_name="Leader")
    concern = due_concern(leader=leader, moderator=moderator)
    publish(concern, leader)
    follower = factories.person()
    services.follow(person=follower, concern=concern)

    with django_capture_on_commit_callbacks(execute=True):
        publish(concern, leader, summary="Lockers arrive in June.", reason="Supplier delay.")

    [message] = outbox_to(follower.email)
    assert "Lena Leader published version 2 of the written response" in text_of(message)


def test_followers_get_one_mail_when_a_commitment_is_updated(
    moderator, django_capture_on_commit_callbacks
):
    leader = factories.leader()
    concern = due_concern(leader=leader, moderator=moderator)
    publish(concern, leader)
    commitment = response_services.commitment_add(
        concern=concern,
        leader=leader,
        description="Order forty lockers",
        owner=leader,
        due_on=concern.response_due_on,
    )
    follower = factories.person()
    services.follow(person=follower, concern=concern)

    with django_capture_on_commit_callbacks(execute=True):
        response_services.commitment_update(
            commitment=commitment,
            author=leader,
            to_status=CommitmentStatus.IN_PROGRESS,
            note="The order is placed.",
        )

    [message] = outbox_to(follower.email)
    assert outbox_recipients() == [follower.email]
    assert "Commitment “Order forty lockers” is now in progress. The order is placed." in (
        text_of(message)
    )


def test_after_unfollowing_no_more_mail_comes(
    client, concern, followers, moderator, django_capture_on_commit_callbacks
):
    client.force_login(followers[0])
    client.post(follow_url(concern), {"action": "unfollow"})
    client.force_login(moderator)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("concerns:moderate", args=[concern.pk, "require-response"]))

    assert outbox_recipients() == [followers[1].email]


# Nothing follows on anyone's behalf --------------------------------------------------


def test_voting_never_follows_a_concern(client, concern, django_capture_on_commit_callbacks):
    voter = factories.person()
    client.force_login(voter)

    client.post(reverse("concerns:vote", args=[concern.pk]))

    assert Concern.objects.get(pk=concern.pk).vote_count == 1
    assert not Follow.objects.exists()
    follower = factories.person()
    services.follow(person=follower, concern=concern)
    with django_capture_on_commit_callbacks(execute=True):
        concern_services.concern_require_response(concern=concern, actor=None, note="Due.")
        # Support made it due, so followers hear of it with the publication batch.
        concern_services.publication_batch()
    assert follower.email in outbox_recipients()
    assert voter.email not in outbox_recipients()


def test_an_anonymous_submission_never_follows_on_anyones_behalf(client, moderator):
    submitter = factories.person()
    client.force_login(submitter)
    data = {"title": "Contracts with border agencies", "body": "Why?", "identity": "anonymous"}

    client.post(reverse("concerns:new"), data)
    [concern] = Concern.objects.all()
    client.force_login(moderator)
    client.post(reverse("concerns:moderate", args=[concern.pk, "approve"]))
    concern_services.publication_batch()  # what publishes an approved anonymous concern

    assert Concern.objects.get(pk=concern.pk).status == Status.OPEN
    assert not Follow.objects.exists()


def test_a_named_submission_does_not_follow_either(client):
    submitter = factories.person()
    client.force_login(submitter)

    client.post(reverse("concerns:new"), {"title": "Parking", "body": "Why?", "identity": "named"})

    assert Concern.objects.filter(author=submitter).exists()
    assert not Follow.objects.exists()


def test_an_anonymous_submitters_own_withdrawal_sends_no_mail_at_that_moment(
    client, moderator, django_capture_on_commit_callbacks
):
    client.force_login(factories.person())
    issued = client.post(
        reverse("concerns:new"),
        {"title": "Contracts with border agencies", "body": "Why?", "identity": "anonymous"},
    )
    receipt = re.search(r'<p class="receipt"[^>]*>([^<]*)</p>', issued.content.decode())[1]
    client.logout()
    concern = Concern.objects.get()
    concern = factories.published(concern, moderator)
    services.follow(person=factories.person(), concern=concern)

    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(reverse("concerns:receipt-withdraw"), {"receipt": receipt.strip()})

    assert page.status_code in (200, 302)
    assert Concern.objects.get(pk=concern.pk).status == Status.WITHDRAWN
    assert outbox_recipients() == []
