"""Planning and running a meeting, and live questions, through the API: the same
services as the console and the audience page, role by role, with the refusals a
person meets on the site."""

import datetime
import json
import re

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from accounts.models import Organisation
from concerns import services as concern_services
from concerns.anonymity import receipt_hash
from concerns.models import Concern, Status
from meetings import services as meeting_services
from meetings.models import AgendaItem, LiveQuestion, Meeting, MeetingStatus, QuestionStatus
from tests import factories
from tests.api.conftest import Api, assert_problem


def _cache_keys(containing: str) -> list[str]:
    """The keys of the default cache (local memory or Redis) that contain the text."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(None)
        return [key.decode() for key in client.scan_iter(match=f"*{containing}*")]
    return [key for key in backend._cache if containing in key]


def _tomorrow_at_ten() -> str:
    return f"{timezone.localdate() + datetime.timedelta(days=1)}T10:00:00Z"


@pytest.fixture
def setting(people):
    """A planned meeting hosted by an employee (not a moderator), two public
    concerns to discuss, and a client for the host."""
    host = factories.person(first_name="Hana", last_name="Host")
    first = factories.open_concern(title="Canteen prices", moderated_by=people.moderator)
    second = factories.open_concern(title="Night buses", moderated_by=people.moderator)
    meeting = meeting_services.meeting_create(
        organiser=people.moderator,
        title="All hands",
        scheduled_start=timezone.now(),
        hosts=[host],
    )
    return type(
        "Setting",
        (),
        {"host": host, "first": first, "second": second, "meeting": meeting, "api": Api(host)},
    )


def _live(meeting: Meeting, moderator, *concerns: Concern) -> Meeting:
    for concern in concerns:
        meeting_services.agenda_item_add(meeting=meeting, moderator=moderator, concern=concern)
    meeting_services.meeting_start(meeting=meeting, actor=moderator)
    return Meeting.objects.get(pk=meeting.pk)


# Planning ----------------------------------------------------------------------------


def test_a_moderator_plans_a_meeting_and_hosts_it(api, people):
    answer = api("moderator").post(
        "meetings/", {"title": "Q4 all-hands", "scheduled_start": _tomorrow_at_ten()}
    )

    assert answer.status_code == 201, answer.content
    body = answer.json()
    meeting = Meeting.objects.get(pk=body["id"])
    assert body["title"] == "Q4 all-hands" and body["status"] == "planned"
    assert body["url"] == f"/meetings/{meeting.pk}/"
    assert list(meeting.hosts.all()) == [people.moderator]


@pytest.mark.parametrize("role", ["employee", "leader"])
def test_only_moderators_plan_meetings(api, role):
    answer = api(role).post(
        "meetings/", {"title": "Q4 all-hands", "scheduled_start": _tomorrow_at_ten()}
    )

    assert_problem(answer, 403)
    assert not Meeting.objects.exists()


def test_a_meeting_needs_a_title_and_a_start(api):
    answer = api("moderator").post("meetings/", {"title": "", "scheduled_start": "soon"})

    assert_problem(answer, 400, fields=("title", "scheduled_start"))
    assert not Meeting.objects.exists()


# Running a meeting ---------------------------------------------------------------------


def test_a_moderator_runs_a_whole_meeting_and_the_discussed_concern_owes_a_written_answer(
    api, people, setting
):
    client, meeting = api("moderator"), setting.meeting
    organisation = Organisation.current()
    organisation.agenda_vote_threshold = 2
    organisation.save()
    for voter in (people.employee, people.leader, people.admin):
        concern_services.vote_cast(concern=setting.first, voter=voter)
    for voter in (people.employee, people.leader):
        concern_services.vote_cast(concern=setting.second, voter=voter)
    base = f"meetings/{meeting.pk}/"

    proposed = client.post(base + "agenda/propose/").json()
    topic = client.post(base + "agenda/", {"topic": "Office move", "time_box_minutes": 10})
    moved = client.post(base + f"agenda/{topic.json()['item']['id']}/move/", {"direction": "up"})
    started = client.post(base + "start/").json()
    noted = client.put(
        base + f"agenda/{started['current']}/notes/", {"notes": "Asked *facilities*."}
    )
    discussed = client.post(base + f"agenda/{started['current']}/discussed/").json()
    advanced = client.post(base + "advance/", {}).json()
    jumped = client.post(base + "advance/", {"item": started["current"]}).json()
    ended = client.post(base + "end/")

    assert proposed["added"] == 2
    assert [i["title"] for i in proposed["meeting"]["items"]] == ["Canteen prices", "Night buses"]
    assert topic.status_code == 201
    assert topic.json()["item"] == {
        "id": topic.json()["item"]["id"],
        "position": 3,
        "title": "Office move",
        "url": None,
        "votes": None,
        "time_box": 10,
        "discussed": False,
        "answered_in_writing": False,
    }
    assert [i["title"] for i in moved.json()["items"]] == [
        "Canteen prices",
        "Office move",
        "Night buses",
    ]
    assert started["status"] == "live"
    assert started["current"] == proposed["meeting"]["items"][0]["id"]
    assert noted.status_code == 200
    assert noted.json()["notes_html"] == "<p>Asked <em>facilities</em>.</p>"
    assert [i["discussed"] for i in discussed["items"]] == [True, False, False]
    assert advanced["current"] == moved.json()["items"][1]["id"]
    assert jumped["current"] == started["current"]
    assert ended.status_code == 200
    assert ended.json()["owed_in_writing"] == 1
    assert ended.json()["meeting"]["status"] == "ended"
    assert ended.json()["meeting"]["debt"] == {"answered": 0, "total": 1}
    assert Concern.objects.get(pk=setting.first.pk).status == Status.RESPONSE_DUE
    seqs = [proposed["meeting"]["seq"], moved.json()["seq"], started["seq"], discussed["seq"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_a_host_runs_the_meeting_but_only_moderators_change_the_agenda(people, setting):
    meeting = _live(setting.meeting, people.moderator, setting.first, setting.second)
    client, base = setting.api, f"meetings/{meeting.pk}/"
    first, second = meeting.items.order_by("position")

    refusals = {
        "propose": client.post(base + "agenda/propose/"),
        "add": client.post(base + "agenda/", {"topic": "Parking"}),
        "move": client.post(base + f"agenda/{second.pk}/move/", {"direction": "up"}),
        "remove": client.delete(base + f"agenda/{second.pk}/"),
    }
    notes = client.put(base + f"agenda/{first.pk}/notes/", {"notes": "Noted by the host."})
    discussed = client.post(base + f"agenda/{first.pk}/discussed/")
    advanced = client.post(base + "advance/")
    ended = client.post(base + "end/")

    for name, answer in refusals.items():
        body = assert_problem(answer, 403)
        assert body["detail"] == "Only moderators can plan meetings and agendas.", name
    assert [i.pk for i in meeting.items.order_by("position")] == [first.pk, second.pk]
    assert notes.status_code == 200 and discussed.status_code == 200
    assert advanced.json()["current"] == second.pk
    assert ended.json()["meeting"]["status"] == "ended"


@pytest.mark.parametrize("role", ["employee", "leader"])
def test_someone_who_neither_moderates_nor_hosts_cannot_run_the_meeting(api, people, setting, role):
    meeting = _live(setting.meeting, people.moderator, setting.first)
    client, base = api(role), f"meetings/{meeting.pk}/"
    item = meeting.items.get()
    seq = meeting.sequence

    answers = [
        client.post(base + "advance/"),
        client.post(base + "end/"),
        client.post(base + f"agenda/{item.pk}/discussed/"),
        client.put(base + f"agenda/{item.pk}/notes/", {"notes": "Mine now."}),
        client.post(base + "agenda/", {"topic": "Parking"}),
        client.delete(base + f"agenda/{item.pk}/"),
    ]

    for answer in answers:
        body = assert_problem(answer, 403)
        assert body["detail"] == "Only moderators and the meeting's hosts can run it."
    meeting.refresh_from_db()
    assert meeting.status == MeetingStatus.LIVE and meeting.sequence == seq
    assert AgendaItem.objects.get(pk=item.pk).notes == ""


def test_starting_ending_and_advancing_out_of_turn_are_conflicts(api, people, setting):
    client, base = api("moderator"), f"meetings/{setting.meeting.pk}/"
    client.post(base + "agenda/", {"concern": str(setting.first.pk)})

    not_live = [client.post(base + "advance/"), client.post(base + "end/")]
    client.post(base + "start/")
    again = client.post(base + "start/")
    past_the_end = client.post(base + "advance/")

    for answer in not_live:
        assert assert_problem(answer, 409)["detail"] == "The meeting is not live."
    assert assert_problem(again, 409)["detail"] == "The meeting has already started."
    assert assert_problem(past_the_end, 409)["detail"] == "This is the last item on the agenda."


def test_the_agenda_keeps_what_the_record_needs(api, people, setting):
    meeting = _live(setting.meeting, people.moderator, setting.first, setting.second)
    client, base = api("moderator"), f"meetings/{meeting.pk}/"
    first, second = meeting.items.order_by("position")

    current = client.delete(base + f"agenda/{first.pk}/")
    client.post(base + f"agenda/{first.pk}/discussed/")
    client.post(base + "advance/")
    discussed = client.delete(base + f"agenda/{first.pk}/")
    twice = client.post(base + "agenda/", {"concern": str(setting.second.pk)})
    client.post(base + "end/")
    after_the_end = client.post(base + "agenda/", {"topic": "Anything else"})
    removed_after = client.delete(base + f"agenda/{second.pk}/")

    assert "current one" in assert_problem(current, 409)["detail"]
    assert assert_problem(discussed, 409)["detail"] == "A discussed item stays on the record."
    assert assert_problem(twice, 400)["detail"] == "That concern is already on the agenda."
    assert "part of the record" in assert_problem(after_the_end, 409)["detail"]
    assert assert_problem(removed_after, 409)
    assert meeting.items.count() == 2


def test_agenda_input_is_checked_field_by_field(api, people, setting):
    submitted = factories.submission(title="Not public yet").concern
    client, base = api("moderator"), f"meetings/{setting.meeting.pk}/"

    answers = {
        "unknown concern": client.post(base + "agenda/", {"concern": str(submitted.pk)}),
        "no uuid": client.post(base + "agenda/", {"concern": "lights"}),
        "long time box": client.post(base + "agenda/", {"topic": "X", "time_box_minutes": 241}),
        "bad direction": None,
        "nothing": client.post(base + "agenda/", {}),
    }
    item = meeting_services.agenda_item_add(
        meeting=setting.meeting, moderator=people.moderator, topic="Parking"
    )
    answers["bad direction"] = client.post(
        base + f"agenda/{item.pk}/move/", {"direction": "sideways"}
    )
    answers["long notes"] = client.put(base + f"agenda/{item.pk}/notes/", {"notes": "x" * 20_001})

    assert_problem(answers["unknown concern"], 400, fields=("concern",))
    assert_problem(answers["no uuid"], 400, fields=("concern",))
    assert_problem(answers["long time box"], 400, fields=("time_box_minutes",))
    assert_problem(answers["bad direction"], 400, fields=("direction",))
    assert_problem(answers["long notes"], 400, fields=("notes",))
    assert assert_problem(answers["nothing"], 400)["detail"] == "Choose a concern or write a topic."
    assert list(setting.meeting.items.all()) == [item]


def test_items_and_questions_of_another_meeting_are_not_found(api, people, setting):
    other = _live(
        meeting_services.meeting_create(
            organiser=people.moderator, title="Other", scheduled_start=timezone.now()
        ),
        people.moderator,
        setting.second,
    )
    question, _ = meeting_services.question_ask(
        meeting=other, asker=people.employee, text="Elsewhere?", anonymous=False
    )
    meeting = _live(setting.meeting, people.moderator, setting.first)
    client, base = api("moderator"), f"meetings/{meeting.pk}/"
    foreign = other.items.get()

    answers = [
        client.delete(base + f"agenda/{foreign.pk}/"),
        client.post(base + f"agenda/{foreign.pk}/discussed/"),
        client.put(base + f"agenda/{foreign.pk}/notes/", {"notes": "No."}),
        client.post(base + f"questions/{question.pk}/approve/"),
        api("employee").post(base + f"questions/{question.pk}/vote/"),
    ]
    advance = client.post(base + "advance/", {"item": foreign.pk})

    for answer in answers:
        assert_problem(answer, 404)
    assert_problem(advance, 400, fields=("item",))
    assert LiveQuestion.objects.get(pk=question.pk).status == QuestionStatus.PENDING
    assert not AgendaItem.objects.get(pk=foreign.pk).discussed_at


def test_an_unknown_meeting_is_not_found_for_every_operation(api):
    client = api("moderator")

    answers = [
        client.post("meetings/999999/start/"),
        client.post("meetings/999999/questions/", {"text": "Hello?"}),
        client.post("meetings/999999/agenda/propose/"),
    ]

    for answer in answers:
        assert_problem(answer, 404)


# What the detail shows ---------------------------------------------------------------


def test_notes_are_for_drivers_until_the_meeting_ends(api, people, setting):
    meeting = _live(setting.meeting, people.moderator, setting.first)
    item = meeting.items.get()
    api("moderator").put(f"meetings/{meeting.pk}/agenda/{item.pk}/notes/", {"notes": "**Yes**"})

    during = api("employee").get(f"meetings/{meeting.pk}/").json()["items"][0]
    for_host = setting.api.get(f"meetings/{meeting.pk}/").json()
    meeting_services.meeting_end(meeting=meeting, actor=people.moderator)
    after = api("employee").get(f"meetings/{meeting.pk}/").json()

    assert during["notes_html"] is None and during["notes"] is None
    assert for_host["can_drive"] is True
    assert for_host["items"][0]["notes"] == "**Yes**"
    assert for_host["items"][0]["notes_html"] == "<p><strong>Yes</strong></p>"
    assert for_host["items"][0]["source"] == "moderator"
    assert after["items"][0]["notes_html"] == "<p><strong>Yes</strong></p>"
    assert after["items"][0]["notes"] is None and after["can_drive"] is False


@pytest.mark.parametrize("questions", [1, 12])
def test_the_meeting_detail_takes_the_same_number_of_queries_however_many_questions(
    api, people, setting, questions, django_assert_num_queries
):
    meeting = _live(setting.meeting, people.moderator, setting.first, setting.second)
    for n in range(questions):
        meeting_services.question_ask(
            meeting=meeting, asker=people.employee, text=f"Question {n}", anonymous=n % 2 == 0
        )
    client = api("moderator", session=True)
    client.get(f"meetings/{meeting.pk}/")  # the session's first request touches it

    with django_assert_num_queries(8):
        answer = client.get(f"meetings/{meeting.pk}/")

    assert len(answer.json()["questions"]) == questions


# Live questions --------------------------------------------------------------------------


def test_a_named_question_waits_for_a_moderator_and_then_the_room_sees_it(api, people, setting):
    meeting = _live(setting.meeting, people.moderator, setting.first)
    base = f"meetings/{meeting.pk}/"

    asked = api("employee").post(base + "questions/", {"text": "  Who pays?  "})
    before = api("leader").get(base).json()["questions"]
    question_id = asked.json()["question"]["id"]
    approved = api("moderator").post(base + f"questions/{question_id}/approve/")
    after = api("leader").get(base).json()["questions"]

    assert asked.status_code == 201
    assert asked.json() == {
        "question": {
            "id": question_id,
            "text": "Who pays?",
            "status": "pending",
            "anonymous": False,
            "votes": 0,
            "highlighted": False,
            "by": people.employee.display_name,
            "concern": None,
        },
        "receipt": None,
    }
    assert before == []
    assert approved.status_code == 200
    concern = Concern.objects.get(pk=approved.json()["concern"]["id"])
    assert approved.json()["question"]["concern"] == str(concern.pk)
    assert concern.author == people.employee and concern.status == Status.OPEN
    assert [(q["text"], q["by"]) for q in after] == [("Who pays?", people.employee.display_name)]


def test_an_anonymous_question_carries_its_receipt_once_and_names_nobody(api, people, setting):
    meeting = _live(setting.meeting, people.moderator, setting.first)
    base = f"meetings/{meeting.pk}/"
    employee = people.employee

    asked = api("employee").post(base + "questions/", {"text": "Is it safe?", "anonymous": True})
    receipt = asked.json()["receipt"]
    question = LiveQuestion.objects.get(pk=asked.json()["question"]["id"])
    seen_by_driver = api("moderator").get(base).json()["questions"]
    approved = api("moderator").post(base + f"questions/{question.pk}/approve/")
    concern = Concern.objects.get(pk=approved.json()["concern"]["id"])
    status = Api().post("receipts/status/", {"receipt": receipt})

    assert asked.status_code == 201 and asked["Cache-Control"] == "no-store"
    assert len(receipt) >= 26
    assert asked.json()["question"]["by"] is None
    assert asked.json()["question"]["anonymous"] is True
    assert question.author is None and question.is_anonymous
    assert question.receipt_hash == receipt_hash(receipt)
    assert [q["by"] for q in seen_by_driver] == [None]
    assert concern.is_anonymous and concern.author is None
    assert approved.json()["concern"]["anonymous"] is True
    assert status.status_code == 200 and status.json()["id"] == str(concern.pk)
    everything = (asked.content + approved.content + json.dumps(seen_by_driver).encode()).decode()
    for trace in (employee.username, employee.display_name, employee.email, str(employee.pk)):
        assert f'"{trace}"' not in everything
    again = api("moderator").get(base).content.decode()
    assert receipt not in again


def test_asking_outside_a_live_meeting_or_with_bad_text_is_refused(api, setting):
    base = f"meetings/{setting.meeting.pk}/"

    planned = api("employee").post(base + "questions/", {"text": "Early?"})
    long = api("employee").post(base + "questions/", {"text": "x" * 501})
    blank = api("employee").post(base + "questions/", {"text": "   "})

    assert assert_problem(planned, 409)["detail"] == "The meeting is not live."
    assert_problem(long, 400, fields=("text",))
    assert_problem(blank, 400, fields=("text",))
    assert not LiveQuestion.objects.exists()


def test_questions_are_rate_limited_per_person_with_a_429_problem(api, people, setting, settings):
    settings.LIVE_QUESTIONS_PER_HOUR = 2
    meeting = _live(setting.meeting, people.moderator, setting.first)
    base = f"meetings/{meeting.pk}/"
    employee = api("employee")

    answers = [
        employee.post(base + "questions/", {"text": f"Question {n}", "anonymous": n == 1})
        for n in range(3)
    ]
    someone_else = api("leader").post(base + "questions/", {"text": "Mine?"})

    assert [a.status_code for a in answers] == [201, 201, 429]
    body = assert_problem(answers[2], 429)
    assert body["detail"] == (
        "Too many questions in the last hour. Please wait before asking another."
    )
    assert someone_else.status_code == 201
    assert LiveQuestion.objects.count() == 3
    # The counters are keyed hashes of (hour, person): no id, name or address.
    keys = _cache_keys("limit:question:")
    assert len(keys) == 2
    assert all(re.fullmatch(r".*:\d+:limit:question:[0-9a-f]{24}:\d+", key) for key in keys)


def test_each_person_supports_an_approved_question_once(api, people, setting):
    meeting = _live(setting.meeting, people.moderator, setting.first)
    question, _ = meeting_services.question_ask(
        meeting=meeting, asker=people.leader, text="Raise?", anonymous=False
    )
    pending, _ = meeting_services.question_ask(
        meeting=meeting, asker=people.leader, text="Later?", anonymous=False
    )
    meeting_services.question_approve(question=question, actor=people.moderator)
    path = f"meetings/{meeting.pk}/questions/{question.pk}/vote/"

    first = api("employee").post(path)
    again = api("employee").post(path)
    other = api("admin").post(path)
    unapproved = api("employee").post(f"meetings/{meeting.pk}/questions/{pending.pk}/vote/")

    assert first.json()["changed"] is True and first.json()["question"]["votes"] == 1
    assert again.json()["changed"] is False and again.json()["question"]["votes"] == 1
    assert other.json()["question"]["votes"] == 2
    assert_problem(unapproved, 409)
    assert LiveQuestion.objects.get(pk=question.pk).vote_count == 2


def test_drivers_set_aside_and_highlight_questions_and_hosts_cannot_approve(api, people, setting):
    meeting = _live(setting.meeting, people.moderator, setting.first)
    base = f"meetings/{meeting.pk}/questions/"
    asked = [
        meeting_services.question_ask(
            meeting=meeting, asker=people.employee, text=text, anonymous=False
        )[0]
        for text in ("One?", "Two?", "Three?")
    ]

    by_host = setting.api.post(base + f"{asked[0].pk}/approve/")
    approved = api("moderator").post(base + f"{asked[0].pk}/approve/")
    rejected = setting.api.post(base + f"{asked[1].pk}/reject/")
    rejected_twice = setting.api.post(base + f"{asked[1].pk}/reject/")
    early_highlight = setting.api.post(base + f"{asked[2].pk}/highlight/")
    highlighted = setting.api.post(base + f"{asked[0].pk}/highlight/")
    employee_highlight = api("employee").post(base + f"{asked[0].pk}/highlight/")
    unhighlighted = setting.api.post(base + f"{asked[0].pk}/highlight/")

    assert "Only moderators can approve" in assert_problem(by_host, 403)["detail"]
    assert approved.json()["question"]["status"] == "approved"
    assert rejected.json()["status"] == "rejected"
    assert assert_problem(rejected_twice, 409)["detail"] == "This question was already decided."
    assert_problem(early_highlight, 409)
    assert highlighted.json()["highlighted"] is True
    assert_problem(employee_highlight, 403)
    assert unhighlighted.json()["highlighted"] is False
    statuses = {q.text: q.status for q in LiveQuestion.objects.all()}
    assert statuses == {"One?": "approved", "Two?": "rejected", "Three?": "pending"}


def test_the_page_and_the_api_share_one_question_limit(api, people, setting, settings):
    settings.LIVE_QUESTIONS_PER_HOUR = 2
    meeting = _live(setting.meeting, people.moderator, setting.first)
    page = Api(people.employee, session=True).client
    cache.clear()

    on_the_page = page.post(f"/meetings/{meeting.pk}/ask/", {"text": "From the page"})
    through_the_api = api("employee").post(f"meetings/{meeting.pk}/questions/", {"text": "API"})
    refused_page = page.post(f"/meetings/{meeting.pk}/ask/", {"text": "One more"})
    refused_api = api("employee").post(f"meetings/{meeting.pk}/questions/", {"text": "Again"})

    assert on_the_page.status_code == 302 and through_the_api.status_code == 201
    assert refused_page.status_code == 429
    assert "Too many questions in the last hour" in refused_page.content.decode()
    assert_problem(refused_api, 429)
    assert sorted(LiveQuestion.objects.values_list("text", flat=True)) == ["API", "From the page"]
