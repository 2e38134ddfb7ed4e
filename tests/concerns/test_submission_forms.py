"""Bad input on the forms that raise a concern and on the moderators' buttons: the person
gets a clear error and nothing is stored."""

import html
from types import SimpleNamespace

import pytest
from django.urls import reverse

from accounts.models import Organisation
from concerns import services, throttles
from concerns.models import Concern, Status
from tests import factories

pytestmark = pytest.mark.django_db

ACCESS_PHRASE = "the river runs uphill on tuesdays"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def valid_named(**overrides) -> dict:
    data = {"title": "Selling face matching to police", "body": "Why?", "identity": "named"}
    return data | overrides


def valid_public(**overrides) -> dict:
    return {
        "access_phrase": ACCESS_PHRASE,
        "title": "Selling face matching to police",
        "body": "Why?",
    } | overrides


@pytest.fixture
def signed_in(client):
    client.force_login(factories.person())
    return client


@pytest.fixture
def public_form_open():
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()
    return organisation


@pytest.fixture
def fixed_clock(monkeypatch):
    """Holds the rate limiter's clock still, so a test never straddles two windows."""
    monkeypatch.setattr(throttles, "time", SimpleNamespace(time=lambda: 1_700_000_000.0))


def _bad_inputs():
    return [
        pytest.param({"title": ""}, "This field is required.", id="empty title"),
        pytest.param({"title": "   "}, "This field is required.", id="blank title"),
        pytest.param(
            {"title": "x" * 141},
            "Ensure this value has at most 140 characters (it has 141).",
            id="title of 141 characters",
        ),
        pytest.param({"body": ""}, "This field is required.", id="empty body"),
        pytest.param(
            {"tags": ["987654"]},
            "Select a valid choice. 987654 is not one of the available choices.",
            id="unknown tag",
        ),
        pytest.param(
            {"department": "987654"},
            "Select a valid choice. That choice is not one of the available choices.",
            id="unknown department",
        ),
    ]


@pytest.mark.parametrize(("change", "error"), _bad_inputs())
def test_the_signed_in_form_refuses_bad_input_and_stores_nothing(signed_in, change, error):
    factories.tag("Ethics")

    response = signed_in.post(reverse("concerns:new"), valid_named(**change))

    assert response.status_code == 400
    assert error in page_text(response)
    assert Concern.objects.count() == 0


def test_a_title_of_140_characters_is_accepted(signed_in):
    response = signed_in.post(reverse("concerns:new"), valid_named(title="x" * 140))

    assert response.status_code == 302
    assert Concern.objects.get().title == "x" * 140


def test_the_signed_in_form_requires_a_choice_of_named_or_anonymous(signed_in):
    data = valid_named()
    del data["identity"]

    response = signed_in.post(reverse("concerns:new"), data)

    assert response.status_code == 400
    text = page_text(response)
    assert "Raise it as" in text
    assert "This field is required." in text
    assert Concern.objects.count() == 0


def test_the_signed_in_form_refuses_an_unknown_identity_choice(signed_in):
    response = signed_in.post(reverse("concerns:new"), valid_named(identity="pseudonymous"))

    assert response.status_code == 400
    assert "Select a valid choice. pseudonymous is not one of the available choices." in (
        page_text(response)
    )
    assert Concern.objects.count() == 0


def test_an_anonymous_concern_cannot_name_a_department_of_fewer_than_five(signed_in):
    small = factories.department("Legal", size=4)

    response = signed_in.post(
        reverse("concerns:new"), valid_named(identity="anonymous", department=str(small.pk))
    )

    assert response.status_code == 400
    assert (
        "Legal has fewer than 5 people, so naming it could identify you. "
        "Leave the department empty." in page_text(response)
    )
    assert Concern.objects.count() == 0


def test_inactive_accounts_do_not_count_towards_a_departments_size(signed_in):
    department = factories.department("Legal", size=5)
    department.members.filter(pk=department.members.first().pk).update(is_active=False)

    response = signed_in.post(
        reverse("concerns:new"),
        valid_named(identity="anonymous", department=str(department.pk)),
    )

    assert response.status_code == 400
    assert "Legal has fewer than 5 people" in page_text(response)
    assert Concern.objects.count() == 0


def test_an_anonymous_concern_may_name_a_department_of_five(signed_in):
    department = factories.department("Platform", size=5)

    response = signed_in.post(
        reverse("concerns:new"),
        valid_named(identity="anonymous", department=str(department.pk)),
    )

    assert response.status_code == 200
    assert Concern.objects.get().department == department


def test_a_named_concern_may_name_a_small_department(signed_in):
    small = factories.department("Legal", size=1)

    response = signed_in.post(reverse("concerns:new"), valid_named(department=str(small.pk)))

    assert response.status_code == 302
    assert Concern.objects.get().department == small


def test_the_form_keeps_what_was_typed_after_an_error(signed_in):
    response = signed_in.post(
        reverse("concerns:new"), valid_named(title="", body="My careful description")
    )

    assert response.status_code == 400
    assert "My careful description" in page_text(response)


def test_the_signed_in_form_needs_a_signed_in_person(client):
    response = client.post(reverse("concerns:new"), valid_named())

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))
    assert Concern.objects.count() == 0


# The public form ---------------------------------------------------------------------


@pytest.mark.parametrize(("change", "error"), _bad_inputs())
def test_the_public_form_refuses_bad_input_and_stores_nothing(
    client, public_form_open, change, error
):
    factories.tag("Ethics")

    response = client.post(reverse("concerns:new-public"), valid_public(**change))

    assert response.status_code == 400
    assert error in page_text(response)
    assert Concern.objects.count() == 0


def test_the_public_form_refuses_a_department_of_fewer_than_five(client, public_form_open):
    small = factories.department("Legal", size=4)

    response = client.post(reverse("concerns:new-public"), valid_public(department=str(small.pk)))

    assert response.status_code == 400
    assert "Legal has fewer than 5 people" in page_text(response)
    assert Concern.objects.count() == 0


def test_the_public_form_refuses_a_wrong_access_phrase(client, public_form_open):
    response = client.post(
        reverse("concerns:new-public"), valid_public(access_phrase="open sesame")
    )

    assert response.status_code == 400
    assert "That is not the organisation's access phrase." in page_text(response)
    assert Concern.objects.count() == 0


def test_the_public_form_requires_the_access_phrase(client, public_form_open):
    data = valid_public()
    del data["access_phrase"]

    response = client.post(reverse("concerns:new-public"), data)

    assert response.status_code == 400
    assert "This field is required." in page_text(response)
    assert Concern.objects.count() == 0


def test_the_public_form_does_not_echo_the_access_phrase(client, public_form_open):
    response = client.post(reverse("concerns:new-public"), valid_public(title=""))

    assert response.status_code == 400
    assert ACCESS_PHRASE not in page_text(response)


def test_the_public_form_accepts_a_concern_with_the_right_phrase(client, public_form_open):
    response = client.post(reverse("concerns:new-public"), valid_public())

    assert response.status_code == 200
    concern = Concern.objects.get()
    assert concern.is_anonymous
    assert concern.author is None
    assert concern.status == Status.SUBMITTED


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_public_form_is_not_found_while_disabled(client, method):
    organisation = Organisation.current()
    organisation.set_access_phrase(ACCESS_PHRASE)
    organisation.save()

    response = getattr(client, method)(reverse("concerns:new-public"), valid_public())

    assert response.status_code == 404
    assert Concern.objects.count() == 0


def test_the_public_form_is_rate_limited_per_hour(client, public_form_open, settings, fixed_clock):
    settings.PUBLIC_SUBMISSIONS_PER_HOUR = 2
    url = reverse("concerns:new-public")

    accepted = [client.post(url, valid_public(title=f"Concern {n}")) for n in range(2)]
    refused = client.post(url, valid_public(title="One too many"))

    assert [r.status_code for r in accepted] == [200, 200]
    assert refused.status_code == 429
    assert (
        "Too many concerns sent from this network in the last hour. Please try again later."
        in page_text(refused)
    )
    assert Concern.objects.filter(title="One too many").count() == 0
    assert Concern.objects.count() == 2


# The moderators' buttons -------------------------------------------------------------


@pytest.fixture
def moderating(client):
    moderator = factories.moderator()
    client.force_login(moderator)
    return client


def test_rejecting_without_a_reason_explains_and_changes_nothing(moderating):
    concern = factories.submission().concern

    response = moderating.post(
        reverse("concerns:moderate", args=[concern.pk, "reject"]), {"reason": "  "}, follow=True
    )

    assert response.status_code == 200
    assert "Give the submitter a reason for the rejection." in page_text(response)
    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED
    assert concern.rejection_reason == ""
    assert concern.events.count() == 1


def test_merging_without_a_target_explains_and_changes_nothing(moderating):
    concern = factories.submission().concern

    response = moderating.post(
        reverse("concerns:moderate", args=[concern.pk, "merge"]), {"into": ""}, follow=True
    )

    assert response.status_code == 200
    assert "Choose an open concern to merge into." in page_text(response)
    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED
    assert concern.merged_into is None
    assert concern.events.count() == 1


def test_merging_into_a_concern_that_is_not_open_explains_and_changes_nothing(moderating):
    concern = factories.submission().concern
    unpublished = factories.submission().concern

    response = moderating.post(
        reverse("concerns:moderate", args=[concern.pk, "merge"]),
        {"into": str(unpublished.pk)},
        follow=True,
    )

    assert "Choose an open concern to merge into." in page_text(response)
    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED


def test_merging_a_concern_into_itself_explains_and_changes_nothing(moderating):
    concern = factories.open_concern()

    response = moderating.post(
        reverse("concerns:moderate", args=[concern.pk, "merge"]),
        {"into": str(concern.pk)},
        follow=True,
    )

    assert "A concern cannot be merged into itself." in page_text(response)
    concern.refresh_from_db()
    assert concern.status == Status.OPEN


def test_approving_an_open_concern_again_explains_and_changes_nothing(moderating):
    concern = factories.open_concern()
    published_at = concern.published_at

    response = moderating.post(
        reverse("concerns:moderate", args=[concern.pk, "approve"]), follow=True
    )

    assert "A concern that is open cannot become open." in page_text(response)
    concern.refresh_from_db()
    assert concern.published_at == published_at


def test_an_unknown_moderation_action_is_not_found(moderating):
    concern = factories.submission().concern

    response = moderating.post(reverse("concerns:moderate", args=[concern.pk, "delete"]))

    assert response.status_code == 404
    assert Concern.objects.get(pk=concern.pk).status == Status.SUBMITTED


def test_a_message_without_text_explains_and_stores_nothing(moderating):
    concern = factories.submission(anonymous=True).concern

    response = moderating.post(
        reverse("concerns:message", args=[concern.pk]), {"body": ""}, follow=True
    )

    assert "Write a message first (at most 5,000 characters)." in page_text(response)
    assert concern.messages.count() == 0


def test_the_reject_service_refuses_an_empty_reason():
    concern = factories.submission().concern

    with pytest.raises(services.InvalidInput, match="The reason cannot be empty."):
        services.concern_reject(concern=concern, moderator=factories.moderator(), reason=" ")

    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED
