"""Concerns through the API: the site's list with cursor pages, named and anonymous
submission, details, votes, moderation and messages, role by role."""

import datetime
import re
import uuid

import pytest
from django.utils import timezone

from concerns import services
from concerns.models import Concern, Status, Vote
from tests import factories
from tests.api.conftest import Api, assert_problem


def _ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def _every_page(client: Api, params: dict) -> list[str]:
    """Follows `next` from the first page to the last, as an integration would."""
    answer = client.get("concerns/", params)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    ids = _ids(body["results"])
    pages = 1
    while body["next"]:
        answer = client.client.get(body["next"], headers=client.headers)
        assert answer.status_code == 200, answer.content
        body = answer.json()
        ids += _ids(body["results"])
        pages += 1
        assert pages < 20, "the cursor never ends"
    return ids


def _site_list(person, params: dict) -> list[str]:
    """The concern ids, in order, on the first page of the site's list."""
    page = Api(person, session=True).client.get("/", params)
    assert page.status_code == 200
    return re.findall(r'<h2><a href="/concerns/([0-9a-f-]{36})/">', page.content.decode())


@pytest.fixture
def sixty(people, monkeypatch):
    """Sixty open concerns with many ties: vote counts 0-3, and publication times
    shared by groups of four."""
    start = timezone.now() - datetime.timedelta(days=3)
    voters = [factories.person() for _ in range(3)]
    concerns = []
    with monkeypatch.context() as clock:
        for i in range(60):
            moment = start + datetime.timedelta(minutes=i // 4)
            clock.setattr(timezone, "now", lambda moment=moment: moment)
            concern = factories.open_concern(
                title=f"Concern number {i}", moderated_by=people.moderator
            )
            for voter in voters[: i % 4]:
                services.vote_cast(concern=concern, voter=voter)
            concerns.append(concern)
    return concerns


@pytest.mark.parametrize("sort", ["top", "new", "trending"])
def test_following_next_through_sixty_concerns_lists_each_once_in_the_sites_order(
    api, people, sixty, sort
):
    ids = _every_page(api("employee"), {"sort": sort})

    assert len(ids) == len(set(ids)) == 60
    assert set(ids) == {str(c.pk) for c in sixty}
    assert ids[:25] == _site_list(people.employee, {"sort": sort})
    rows = {str(c.pk): c for c in Concern.objects.all()}
    if sort == "top":
        counts = [rows[i].vote_count for i in ids]
        assert counts == sorted(counts, reverse=True)
    if sort == "new":
        moments = [rows[i].published_at for i in ids]
        assert moments == sorted(moments, reverse=True)


@pytest.mark.postgres
def test_following_next_through_search_results_sorted_by_relevance_lists_each_once(api, people):
    for i in range(40):
        factories.open_concern(
            title=f"Parking {'parking ' * (i % 5)}problem {i}",
            body="parking " * (i % 7) + "at the depot",
            moderated_by=people.moderator,
        )
    factories.open_concern(title="Canteen prices", moderated_by=people.moderator)

    ids = _every_page(api("employee"), {"q": "parking", "sort": "relevant"})

    assert len(ids) == len(set(ids)) == 40


@pytest.fixture
def mixed(people):
    """Concerns in every listed status, with tags, plus some that are not listed."""
    rules = factories.tag("Rules")
    pay = factories.tag("Pay")
    moderator = people.moderator
    made = {
        "open_pay": factories.open_concern(
            title="Overtime pay", tags=[pay], moderated_by=moderator
        ),
        "open_rules": factories.open_concern(
            title="Dress code rules", tags=[rules], moderated_by=moderator
        ),
        "due": factories.open_concern(title="Night bus pay", tags=[pay], moderated_by=moderator),
        "closed_later": factories.open_concern(title="Heating", moderated_by=moderator),
        "submitted": factories.submission(title="Secret pay plan").concern,
        "rejected": factories.submission(title="Rejected pay thing").concern,
    }
    services.concern_require_response(concern=made["due"], actor=moderator, note="Due.")
    services.concern_reject(concern=made["rejected"], moderator=moderator, reason="Off topic.")
    for voter in [factories.person() for _ in range(2)]:
        services.vote_cast(concern=made["open_rules"], voter=voter)
    return made


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sort": "new"},
        {"sort": "trending"},
        {"status": "open"},
        {"status": "response_due"},
        {"tag": "pay"},
        {"tag": "pay", "status": "open"},
        {"q": "pay"},
        {"q": "pay", "sort": "new"},
        {"q": "nothing matches this"},
    ],
)
def test_the_list_filters_searches_and_sorts_like_the_site(api, people, mixed, params):
    listed = api("employee").get("concerns/", params).json()["results"]

    assert _ids(listed) == _site_list(people.employee, params)
    names = {str(c.pk): name for name, c in mixed.items()}
    assert not {names[i] for i in _ids(listed)} & {"submitted", "rejected"}


def test_the_list_names_what_each_filter_leaves(api, mixed):
    employee = api("employee")

    def names(params):
        ids = _ids(employee.get("concerns/", params).json()["results"])
        return {name for name, c in mixed.items() if str(c.pk) in ids}

    assert names({}) == {"open_pay", "open_rules", "due", "closed_later"}
    assert names({"tag": "pay"}) == {"open_pay", "due"}
    assert names({"status": "response_due"}) == {"due"}
    assert names({"q": "pay"}) == {"open_pay", "due"}
    assert employee.get("concerns/").json()["results"][0]["title"] == "Dress code rules"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "oldest"}, "sort"),
        ({"status": "submitted"}, "status"),
        ({"status": "rejected"}, "status"),
        ({"tag": "not a slug!"}, "tag"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_unknown_filters_are_field_errors(api, params, field):
    assert_problem(api("employee").get("concerns/", params), 400, fields=(field,))


def test_a_garbled_cursor_is_a_404_problem(api, mixed):
    assert_problem(api("employee").get("concerns/", {"cursor": "bz1hYmM="}), 404)


def test_the_list_marks_what_the_caller_voted_for(api, people, mixed):
    services.vote_cast(concern=mixed["open_pay"], voter=people.employee)

    rows = {r["id"]: r for r in api("employee").get("concerns/").json()["results"]}

    assert rows[str(mixed["open_pay"].pk)]["viewer_has_voted"] is True
    assert rows[str(mixed["open_rules"].pk)]["viewer_has_voted"] is False
    other = {r["id"]: r for r in api("leader").get("concerns/").json()["results"]}
    assert other[str(mixed["open_pay"].pk)]["viewer_has_voted"] is False


# Submitting ----------------------------------------------------------------------


def test_a_named_concern_is_created_with_its_author_and_no_receipt(api, people):
    tag = factories.tag("Safety")

    made = api("employee").post(
        "concerns/", {"title": "Broken ladder", "body": "In the *depot*.", "tags": ["safety"]}
    )

    assert made.status_code == 201
    assert "no-store" in made["Cache-Control"]
    body = made.json()
    assert body["receipt"] is None
    assert body["concern"]["status"] == Status.SUBMITTED
    assert body["concern"]["anonymous"] is False
    assert body["concern"]["tags"] == [{"name": "Safety", "slug": "safety"}]
    concern = Concern.objects.get(pk=body["concern"]["id"])
    assert concern.author == people.employee and list(concern.tags.all()) == [tag]
    detail = api("employee").get(f"concerns/{concern.pk}/").json()
    assert detail["author"] == people.employee.display_name
    assert detail["body_html"] == "<p>In the <em>depot</em>.</p>"


def test_an_anonymous_concern_carries_its_receipt_once_and_no_author(api, people):
    made = api("employee").post(
        "concerns/", {"title": "My manager shouts", "body": "Every day.", "anonymous": True}
    )

    assert made.status_code == 201
    assert "no-store" in made["Cache-Control"]
    body = made.json()
    receipt = body["receipt"]
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){6}", receipt)
    assert "author" not in body["concern"] and body["concern"]["anonymous"] is True
    concern = Concern.objects.get(pk=body["concern"]["id"])
    assert concern.author_id is None and concern.is_anonymous
    # The submitter is not linked to it, so cannot find it again except by receipt.
    assert_problem(api("employee").get(f"concerns/{concern.pk}/"), 404)
    seen = api("moderator").get(f"concerns/{concern.pk}/")
    assert seen.json()["author"] is None
    for text in (receipt, people.employee.username, people.employee.last_name):
        assert text not in seen.content.decode()
        assert text not in api("moderator").get("moderation/queue/").content.decode()
    status = Api().post("receipts/status/", {"receipt": receipt})
    assert status.json()["id"] == str(concern.pk)


def test_an_anonymous_concern_may_not_name_a_small_department(api):
    small = factories.department("Legal", size=2)
    large = factories.department("Warehouse", size=5)
    employee = api("employee")

    refused = employee.post(
        "concerns/", {"title": "T", "body": "B", "anonymous": True, "department": small.pk}
    )
    accepted = employee.post(
        "concerns/", {"title": "T", "body": "B", "anonymous": True, "department": large.pk}
    )

    assert "fewer than 5 people" in assert_problem(refused, 400)["detail"]
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"body": "No title"}, "title"),
        ({"title": "No body"}, "body"),
        ({"title": "   ", "body": "B"}, "title"),
        ({"title": "x" * 141, "body": "B"}, "title"),
        ({"title": "T", "body": "x" * 20_001}, "body"),
        ({"title": "T", "body": "B", "tags": ["no-such-tag"]}, "tags"),
        ({"title": "T", "body": "B", "department": 999_999}, "department"),
        ({"title": "T", "body": "B", "anonymous": "perhaps"}, "anonymous"),
    ],
)
def test_an_invalid_concern_is_refused_with_field_errors(api, data, field):
    assert_problem(api("employee").post("concerns/", data), 400, fields=(field,))
    assert not Concern.objects.exists()


# Detail ----------------------------------------------------------------------------


def test_the_conversation_is_shown_to_its_author_and_staff_but_not_other_employees(api, people):
    concern = factories.open_concern(author=people.employee, moderated_by=people.moderator)
    services.message_ask(concern=concern, author=people.moderator, body="Which depot?")
    services.message_reply_by_author(concern=concern, author=people.employee, body="North.")
    stranger = Api(factories.person())

    for who in (api("employee"), api("moderator"), api("leader"), api("admin")):
        conversation = who.get(f"concerns/{concern.pk}/").json()["conversation"]
        assert [m["body_html"] for m in conversation] == ["<p>Which depot?</p>", "<p>North.</p>"]
        assert [m["by"] for m in conversation] == [people.moderator.display_name, None]
    hidden = stranger.get(f"concerns/{concern.pk}/")
    assert hidden.status_code == 200
    assert "conversation" not in hidden.json()
    assert "Which depot" not in hidden.content.decode()


def test_an_unpublished_concern_is_seen_only_by_its_named_author_and_moderators(api, people):
    concern = factories.submission(author=people.employee).concern

    assert api("employee").get(f"concerns/{concern.pk}/").status_code == 200
    assert api("moderator").get(f"concerns/{concern.pk}/").status_code == 200
    assert api("admin").get(f"concerns/{concern.pk}/").status_code == 200
    assert_problem(api("leader").get(f"concerns/{concern.pk}/"), 404)
    assert_problem(Api(factories.person()).get(f"concerns/{concern.pk}/"), 404)
    assert_problem(api("employee").get(f"concerns/{uuid.uuid4()}/"), 404)


def test_the_detail_tells_the_history_and_the_merge(api, people):
    target = factories.open_concern(title="Target", moderated_by=people.moderator)
    duplicate = factories.open_concern(title="Duplicate", moderated_by=people.moderator)
    services.concern_merge(concern=duplicate, into=target, moderator=people.moderator)

    body = api("employee").get(f"concerns/{duplicate.pk}/").json()

    assert body["status"] == Status.MERGED and body["merged_into"] == str(target.pk)
    assert [e["to_status"] for e in body["history"]][-1] == Status.MERGED
    assert api("employee").get(f"concerns/{target.pk}/").json()["merged_from"] == [
        str(duplicate.pk)
    ]


# Votes -----------------------------------------------------------------------------


def test_voting_and_retracting_are_idempotent_and_counted_exactly(api, people):
    concern = factories.open_concern(moderated_by=people.moderator)
    employee, leader = api("employee"), api("leader")
    path = f"concerns/{concern.pk}/vote/"

    assert employee.post(path).json() == {
        "changed": True,
        "vote_count": 1,
        "viewer_has_voted": True,
    }
    assert employee.post(path).json() == {
        "changed": False,
        "vote_count": 1,
        "viewer_has_voted": True,
    }
    assert leader.post(path).json()["vote_count"] == 2
    assert employee.delete(path).json() == {
        "changed": True,
        "vote_count": 1,
        "viewer_has_voted": False,
    }
    assert employee.delete(path).json() == {
        "changed": False,
        "vote_count": 1,
        "viewer_has_voted": False,
    }
    concern.refresh_from_db()
    assert concern.vote_count == Vote.objects.filter(concern=concern).count() == 1
    detail = employee.get(f"concerns/{concern.pk}/").json()
    assert detail["viewer_has_voted"] is False and detail["vote_count"] == 1


def test_votes_on_a_concern_that_is_not_open_are_refused(api, people):
    rejected = factories.submission().concern
    services.concern_reject(concern=rejected, moderator=people.moderator, reason="No.")

    assert_problem(api("employee").post(f"concerns/{rejected.pk}/vote/"), 409)
    assert_problem(api("employee").post(f"concerns/{uuid.uuid4()}/vote/"), 404)
    assert not Vote.objects.exists()


# Moderation ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["employee", "leader", "signed_out"])
def test_only_moderators_moderate(api, role):
    concern = factories.submission().concern

    for action in ({"action": "review"}, {"action": "approve"}):
        answer = api(role).post(f"concerns/{concern.pk}/moderation/", action)
        assert_problem(answer, 401 if role == "signed_out" else 403)
    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED
    assert_problem(api(role).get("moderation/queue/"), 401 if role == "signed_out" else 403)


@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_moderators_review_approve_and_reject_with_a_reason(api, role):
    first, second = factories.submission().concern, factories.submission().concern
    moderator = api(role)

    queue = _ids(moderator.get("moderation/queue/").json())
    assert set(queue) == {str(first.pk), str(second.pk)}
    reviewed = moderator.post(f"concerns/{first.pk}/moderation/", {"action": "review"})
    assert reviewed.json()["status"] == Status.IN_REVIEW
    approved = moderator.post(f"concerns/{first.pk}/moderation/", {"action": "approve"})
    assert approved.status_code == 200 and approved.json()["status"] == Status.OPEN
    assert approved.json()["published_at"] is not None
    no_reason = moderator.post(f"concerns/{second.pk}/moderation/", {"action": "reject"})
    assert_problem(no_reason, 400)
    rejected = moderator.post(
        f"concerns/{second.pk}/moderation/", {"action": "reject", "reason": "Not a concern."}
    )
    assert rejected.json()["status"] == Status.REJECTED
    assert Concern.objects.get(pk=second.pk).rejection_reason == "Not a concern."
    assert moderator.get("moderation/queue/").json() == []
    again = moderator.post(f"concerns/{second.pk}/moderation/", {"action": "approve"})
    assert_problem(again, 409)


def test_moderators_merge_a_duplicate_into_an_open_concern(api, people):
    target = factories.open_concern(moderated_by=people.moderator)
    duplicate = factories.submission().concern
    moderator = api("moderator")
    path = f"concerns/{duplicate.pk}/moderation/"

    assert_problem(moderator.post(path, {"action": "merge"}), 400, fields=("into",))
    assert_problem(
        moderator.post(path, {"action": "merge", "into": str(uuid.uuid4())}), 400, fields=("into",)
    )
    assert_problem(moderator.post(path, {"action": "merge", "into": "nope"}), 400, fields=("into",))
    merged = moderator.post(path, {"action": "merge", "into": str(target.pk)})

    assert merged.status_code == 200 and merged.json()["status"] == Status.MERGED
    assert Concern.objects.get(pk=duplicate.pk).merged_into == target


def test_moderators_assign_an_accountable_leader_and_require_a_response(api, people):
    concern = factories.open_concern(moderated_by=people.moderator)
    moderator = api("moderator")
    path = f"concerns/{concern.pk}/moderation/"

    assert_problem(moderator.post(path, {"action": "assign"}), 400, fields=("leader",))
    assert_problem(moderator.post(path, {"action": "assign", "leader": people.employee.pk}), 400)
    assigned = moderator.post(path, {"action": "assign", "leader": people.leader.pk})
    due = moderator.post(path, {"action": "require_response"})

    assert assigned.status_code == 200
    assert due.json()["status"] == Status.RESPONSE_DUE and due.json()["response_due_on"]
    concern.refresh_from_db()
    assert concern.accountable_leader == people.leader
    detail = api("employee").get(f"concerns/{concern.pk}/").json()
    assert detail["accountable_leader"] == people.leader.display_name


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "action"),
        ({"action": "delete"}, "action"),
        ({"action": None}, "action"),
        ({"action": "reject", "reason": "x" * 5001}, "reason"),
        ({"action": "assign", "leader": "Leo"}, "leader"),
    ],
)
def test_a_moderation_request_is_checked_field_by_field(api, data, field):
    concern = factories.submission().concern

    answer = api("moderator").post(f"concerns/{concern.pk}/moderation/", data)

    assert_problem(answer, 400, fields=(field,))
    concern.refresh_from_db()
    assert concern.status == Status.SUBMITTED


# Messages --------------------------------------------------------------------------


def test_staff_ask_the_named_author_who_answers_and_nobody_else_can(api, people):
    concern = factories.open_concern(author=people.employee, moderated_by=people.moderator)
    path = f"concerns/{concern.pk}/messages/"

    asked = api("leader").post(path, {"body": "Since when?"})
    answered = api("employee").post(path, {"body": "Since *May*."})
    stranger = Api(factories.person()).post(path, {"body": "Me too"})

    assert asked.status_code == 201 and asked.json()["by"] == people.leader.display_name
    assert answered.status_code == 201 and answered.json()["from_submitter"] is True
    assert answered.json()["by"] is None
    assert answered.json()["body_html"] == "<p>Since <em>May</em>.</p>"
    assert_problem(stranger, 403)
    assert_problem(api("employee").post(path, {"body": ""}), 400, fields=("body",))
    assert_problem(api("employee").post(path, {"body": "x" * 5001}), 400, fields=("body",))
    assert concern.messages.count() == 2


def test_only_moderators_write_about_a_concern_that_is_not_public(api, people):
    concern = factories.submission(author=people.employee).concern
    path = f"concerns/{concern.pk}/messages/"

    assert_problem(api("leader").post(path, {"body": "Hello?"}), 403)
    assert api("moderator").post(path, {"body": "Which site?"}).status_code == 201
    assert api("employee").post(path, {"body": "Leeds."}).status_code == 201


def test_nobody_answers_as_the_author_of_an_anonymous_concern(api, people):
    concern = factories.open_concern(
        author=people.employee, anonymous=True, moderated_by=people.moderator
    )

    answer = api("employee").post(f"concerns/{concern.pk}/messages/", {"body": "It was me"})

    assert_problem(answer, 403)
    assert not concern.messages.exists()


def test_tags_are_listed_by_name(api):
    factories.tag("Safety")
    factories.tag("Pay")

    assert api("employee").get("tags/").json() == [
        {"name": "Pay", "slug": "pay"},
        {"name": "Safety", "slug": "safety"},
    ]


def test_a_list_row_says_exactly_what_its_declared_fields_say(api, people, mixed, settings):
    """The list writes its rows directly (ConcernRowOut.to_representation); DRF's own
    walk over the declared fields must give the same row, field for field, for an
    overdue concern, a named department, tags, a summer time and the caller's vote."""
    from rest_framework import serializers

    from concerns import selectors
    from concerns.apis import ConcernRowOut

    settings.TIME_ZONE = "Europe/London"
    large = factories.department("Warehouse", size=settings.ANONYMITY_MIN_GROUP_SIZE)
    Concern.objects.filter(pk=mixed["open_pay"].pk).update(
        department=large, published_at=datetime.datetime(2026, 7, 1, 12, 30, tzinfo=datetime.UTC)
    )
    Concern.objects.filter(pk=mixed["due"].pk).update(
        response_due_on=timezone.localdate() - datetime.timedelta(days=3)
    )
    services.vote_cast(concern=mixed["open_pay"], voter=people.employee)

    listed = api("employee").get("concerns/").json()["results"]
    rows = selectors.concern_list(
        viewer=people.employee, filters=selectors.ConcernFilters()
    ).object_list
    generic = [serializers.Serializer.to_representation(ConcernRowOut(), row) for row in rows]

    assert listed == generic
    by_title = {row["title"]: row for row in listed}
    assert by_title["Overtime pay"]["department"] == "Warehouse"
    assert by_title["Overtime pay"]["published_at"] == "2026-07-01T13:30:00+01:00"
    assert by_title["Overtime pay"]["viewer_has_voted"] is True
    assert by_title["Overtime pay"]["tags"] == [{"name": "Pay", "slug": "pay"}]
    assert by_title["Night bus pay"]["overdue"] is True
    assert by_title["Heating"]["response_due_on"] is None
