"""Questions asked during a live meeting: named or anonymous under the same rules as
concerns, voted on once per person, and turned into concerns when approved."""

import html
import re
from datetime import timedelta

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from concerns import services as concern_services
from concerns.anonymity import keyed_hash, receipt_hash
from concerns.errors import IllegalTransition, NotAllowed
from concerns.models import Status
from meetings import selectors, services
from meetings.models import LiveQuestion, LiveQuestionVote, Meeting, QuestionStatus
from tests import factories

pytestmark = pytest.mark.django_db

RECEIPT = re.compile(r'<p class="receipt" id="receipt-code">([0-9A-Z-]+)</p>')


def visible_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def moderator():
    return factories.moderator()


@pytest.fixture
def meeting(moderator):
    meeting = services.meeting_create(
        organiser=moderator,
        title="Spring all-hands",
        scheduled_start=timezone.now(),
        hosts=[moderator],
    )
    services.agenda_item_add(meeting=meeting, moderator=moderator, topic="Open floor")
    services.meeting_start(meeting=meeting, actor=moderator)
    return Meeting.objects.get(pk=meeting.pk)


@pytest.fixture
def asker():
    return factories.person(first_name="Quinn", last_name="Asker", username="quinn")


def ask(client, meeting, text, *, anonymous=False):
    data = {"text": text}
    if anonymous:
        data["anonymous"] = "on"
    return client.post(reverse("meetings:ask", args=[meeting.pk]), data)


def approved(question, moderator) -> LiveQuestion:
    services.question_approve(question=question, actor=moderator)
    return LiveQuestion.objects.get(pk=question.pk)


# Asking -------------------------------------------------------------------------------


def test_a_named_question_keeps_its_author_and_waits_for_a_moderator(client, meeting, asker):
    client.force_login(asker)

    response = ask(client, meeting, "Will the canteen stay open on Fridays?")

    assert response.status_code == 302
    followed = client.get(response["Location"])
    assert "Your question is waiting for a moderator." in visible_text(followed)
    question = LiveQuestion.objects.get()
    assert (question.author, question.is_anonymous, question.status) == (
        asker,
        False,
        QuestionStatus.PENDING,
    )
    assert question.asked_on == timezone.localdate()


def test_an_anonymous_question_shows_its_receipt_once_and_stores_only_its_hash(
    client, meeting, asker
):
    client.force_login(asker)

    response = ask(client, meeting, "Are layoffs planned?", anonymous=True)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert "This receipt is shown only this once" in visible_text(response)
    receipt = RECEIPT.search(response.content.decode()).group(1)
    question = LiveQuestion.objects.get()
    assert question.is_anonymous
    assert question.author is None
    assert question.receipt_hash == receipt_hash(receipt)
    stored = " ".join(str(value) for value in model_to_dict(question).values())
    assert receipt not in stored
    assert receipt.replace("-", "") not in stored
    assert receipt not in client.get(meeting.get_absolute_url()).content.decode()


def test_an_anonymous_question_keeps_the_date_only(meeting, asker):
    question, receipt = services.question_ask(
        meeting=meeting, asker=asker, text="Are layoffs planned?", anonymous=True
    )

    date_and_time_fields = [
        f.name
        for f in LiveQuestion._meta.get_fields()
        if f.get_internal_type() in ("DateTimeField", "TimeField")
    ]
    assert date_and_time_fields == []
    assert question.asked_on == timezone.localdate()
    assert receipt


@pytest.mark.parametrize(
    ("text", "message"),
    [("   ", "Write a question of at most 500 characters."), ("x" * 501, "at most 500")],
)
def test_an_empty_or_overlong_question_is_refused(client, meeting, asker, text, message):
    client.force_login(asker)

    response = ask(client, meeting, text)

    assert message in visible_text(client.get(response["Location"]))
    assert not LiveQuestion.objects.exists()


def test_questions_can_only_be_asked_while_the_meeting_is_live(client, moderator, asker):
    planned = services.meeting_create(
        organiser=moderator,
        title="Later",
        scheduled_start=timezone.now() + timedelta(days=1),
        hosts=[moderator],
    )
    client.force_login(asker)

    response = ask(client, planned, "Hello?", anonymous=True)

    assert "The meeting is not live." in visible_text(client.get(response["Location"]))
    assert not LiveQuestion.objects.exists()


def test_asking_needs_a_signed_in_person(client, meeting):
    response = ask(client, meeting, "Who am I?")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign-in"))
    assert not LiveQuestion.objects.exists()


# Who sees which questions --------------------------------------------------------------


def test_the_audience_sees_only_approved_questions_and_drivers_see_pending_too(
    client, moderator, meeting, asker
):
    waiting, _ = services.question_ask(
        meeting=meeting, asker=asker, text="Still waiting for a moderator", anonymous=False
    )
    taken, _ = services.question_ask(
        meeting=meeting, asker=asker, text="Approved for the room", anonymous=True
    )
    set_aside, _ = services.question_ask(
        meeting=meeting, asker=asker, text="Set aside by a moderator", anonymous=False
    )
    services.question_approve(question=taken, actor=moderator)
    services.question_reject(question=set_aside, actor=moderator)
    client.force_login(factories.person())

    audience = visible_text(client.get(meeting.get_absolute_url()))
    presenter = visible_text(client.get(reverse("meetings:presenter", args=[meeting.pk])))
    client.force_login(moderator)
    console = visible_text(client.get(reverse("meetings:console", args=[meeting.pk])))

    for page in (audience, presenter):
        assert "Approved for the room" in page
        assert "Still waiting for a moderator" not in page
        assert "Set aside by a moderator" not in page
    assert "Still waiting for a moderator" in console
    assert "Waiting for a moderator" in console
    assert "Approved for the room" in console
    state = selectors.meeting_state(meeting_id=meeting.pk, for_drivers=False)
    assert [q["text"] for q in state["questions"]] == ["Approved for the room"]
    drivers = selectors.meeting_state(meeting_id=meeting.pk, for_drivers=True)
    assert {q["status"] for q in drivers["questions"]} == {"pending", "approved", "rejected"}


def test_the_audience_sees_who_asked_a_named_question_and_nothing_for_an_anonymous_one(
    client, moderator, meeting, asker
):
    named, _ = services.question_ask(meeting=meeting, asker=asker, text="Named", anonymous=False)
    unnamed, _ = services.question_ask(meeting=meeting, asker=asker, text="Unnamed", anonymous=True)
    services.question_approve(question=named, actor=moderator)
    services.question_approve(question=unnamed, actor=moderator)
    client.force_login(factories.person())

    page = visible_text(client.get(meeting.get_absolute_url()))

    assert "Named Quinn Asker" in page
    assert "Unnamed anonymous" in page
    assert page.count("Quinn Asker") == 1


# Votes ----------------------------------------------------------------------------------


def test_each_person_votes_once_on_a_question_and_the_vote_keeps_no_person(
    client, moderator, meeting, asker
):
    question = approved(
        services.question_ask(meeting=meeting, asker=asker, text="Why?", anonymous=False)[0],
        moderator,
    )
    voter = factories.person()
    client.force_login(voter)

    for _ in range(2):
        client.post(reverse("meetings:vote", args=[meeting.pk]), {"question": question.pk})
    services.question_vote(question=question, voter=factories.person())

    assert LiveQuestion.objects.get(pk=question.pk).vote_count == 2
    assert LiveQuestionVote.objects.filter(
        voter_hash=keyed_hash("question-vote", f"{voter.pk}:{question.pk}")
    ).exists()
    assert [f.name for f in LiveQuestionVote._meta.concrete_fields] == [
        "id",
        "question",
        "voter_hash",
    ]
    assert services.question_vote(question=question, voter=voter) is False


def test_a_pending_question_cannot_be_voted_on(client, meeting, asker):
    question, _ = services.question_ask(meeting=meeting, asker=asker, text="Why?", anonymous=False)
    client.force_login(factories.person())

    response = client.post(reverse("meetings:vote", args=[meeting.pk]), {"question": question.pk})

    assert "Only approved questions can be voted on." in visible_text(
        client.get(response["Location"])
    )
    assert LiveQuestion.objects.get(pk=question.pk).vote_count == 0


# Approve, reject, highlight --------------------------------------------------------------


def test_approving_a_named_question_opens_a_concern_by_the_same_author(
    client, moderator, meeting, asker
):
    question, _ = services.question_ask(
        meeting=meeting, asker=asker, text="Will the canteen stay open?", anonymous=False
    )
    client.force_login(moderator)

    page = client.post(
        reverse("meetings:act", args=[meeting.pk, "approve"]),
        {"question": question.pk},
        follow=True,
    )

    assert "Approved. It is now an open concern: “Will the canteen stay open?”." in (
        visible_text(page)
    )
    concern = LiveQuestion.objects.get(pk=question.pk).concern
    assert concern.status == Status.OPEN
    assert (concern.author, concern.is_anonymous) == (asker, False)
    assert "Asked live at “Spring all-hands”." in concern.body
    assert concern.get_absolute_url() in page.content.decode()


def test_approving_an_anonymous_question_opens_an_anonymous_concern_the_same_receipt_follows(
    moderator, meeting, asker
):
    question, receipt = services.question_ask(
        meeting=meeting, asker=asker, text="Are layoffs planned?", anonymous=True
    )

    concern = services.question_approve(question=question, actor=moderator)

    assert concern.status == Status.OPEN
    assert concern.is_anonymous and concern.author is None
    assert concern_services.receipt_concern(receipt=receipt) == concern
    assert LiveQuestion.objects.get(pk=question.pk).receipt_hash is None


def test_the_receipt_of_an_approved_question_opens_its_concern_on_the_receipt_page(
    client, moderator, meeting, asker
):
    question, receipt = services.question_ask(
        meeting=meeting, asker=asker, text="Are layoffs planned?", anonymous=True
    )
    services.question_approve(question=question, actor=moderator)

    page = client.post(reverse("concerns:receipt"), {"receipt": receipt})

    assert "Are layoffs planned?" in visible_text(page)


def test_a_long_question_becomes_a_concern_with_a_shortened_title(moderator, meeting, asker):
    text = "Why " + "really " * 40 + "?"
    question, _ = services.question_ask(meeting=meeting, asker=asker, text=text, anonymous=False)

    concern = services.question_approve(question=question, actor=moderator)

    assert len(concern.title) == 138 and concern.title.endswith("…")
    assert text in concern.body


def test_a_question_is_decided_once(moderator, meeting, asker):
    question, _ = services.question_ask(meeting=meeting, asker=asker, text="Why?", anonymous=False)
    services.question_approve(question=question, actor=moderator)

    with pytest.raises(IllegalTransition, match="This question was already decided."):
        services.question_approve(question=question, actor=moderator)
    with pytest.raises(IllegalTransition, match="This question was already decided."):
        services.question_reject(question=question, actor=moderator)


def test_a_rejected_question_becomes_no_concern(client, moderator, meeting, asker):
    question, _ = services.question_ask(meeting=meeting, asker=asker, text="Why?", anonymous=True)
    client.force_login(moderator)

    page = client.post(
        reverse("meetings:act", args=[meeting.pk, "reject"]), {"question": question.pk}, follow=True
    )

    assert "Question set aside." in visible_text(page)
    question = LiveQuestion.objects.get(pk=question.pk)
    assert (question.status, question.concern) == (QuestionStatus.REJECTED, None)


def test_only_one_question_is_highlighted_at_a_time(client, moderator, meeting, asker):
    first, second = (
        approved(
            services.question_ask(meeting=meeting, asker=asker, text=t, anonymous=False)[0],
            moderator,
        )
        for t in ("First", "Second")
    )
    client.force_login(moderator)
    url = reverse("meetings:act", args=[meeting.pk, "highlight"])

    client.post(url, {"question": first.pk})
    client.post(url, {"question": second.pk})

    assert list(LiveQuestion.objects.filter(highlighted=True)) == [second]
    client.post(url, {"question": second.pk})  # pressing again removes the highlight
    assert not LiveQuestion.objects.filter(highlighted=True).exists()


def test_a_highlighted_question_leads_the_audiences_list(client, moderator, meeting, asker):
    popular, quiet = (
        approved(
            services.question_ask(meeting=meeting, asker=asker, text=t, anonymous=False)[0],
            moderator,
        )
        for t in ("Popular question", "Quiet question")
    )
    services.question_vote(question=popular, voter=factories.person())
    services.question_highlight(question=quiet, actor=moderator)
    client.force_login(factories.person())

    page = client.get(meeting.get_absolute_url()).content.decode()

    assert page.index("Quiet question") < page.index("Popular question")
    assert re.search(r'class="highlighted[^"]*">\s*<span class="q-votes">0</span>', page)


def test_a_pending_question_cannot_be_highlighted(moderator, meeting, asker):
    question, _ = services.question_ask(meeting=meeting, asker=asker, text="Why?", anonymous=False)

    with pytest.raises(IllegalTransition, match="Approve the question before highlighting it."):
        services.question_highlight(question=question, actor=moderator)


@pytest.mark.parametrize("action", ["approve", "reject", "highlight"])
def test_an_employee_cannot_decide_questions(client, moderator, meeting, asker, action):
    question, _ = services.question_ask(meeting=meeting, asker=asker, text="Why?", anonymous=False)
    if action == "highlight":
        question = approved(question, moderator)
    before = model_to_dict(LiveQuestion.objects.get(pk=question.pk))
    client.force_login(asker)

    client.post(reverse("meetings:act", args=[meeting.pk, action]), {"question": question.pk})

    assert model_to_dict(LiveQuestion.objects.get(pk=question.pk)) == before
    with pytest.raises(NotAllowed):
        services.question_reject(question=question, actor=asker)


def test_a_host_offered_the_approve_button_can_use_it(client, meeting, asker):
    """Hosts run the console. Whether they may approve questions is a product choice;
    offering them a button that always fails is not."""
    host = factories.leader(first_name="Hana", last_name="Host")
    meeting.hosts.add(host)
    question, _ = services.question_ask(meeting=meeting, asker=asker, text="Why?", anonymous=False)
    client.force_login(host)
    console = client.get(reverse("meetings:console", args=[meeting.pk])).content.decode()
    offered = reverse("meetings:act", args=[meeting.pk, "approve"]) in console

    page = client.post(
        reverse("meetings:act", args=[meeting.pk, "approve"]),
        {"question": question.pk},
        follow=True,
    )

    approved_now = LiveQuestion.objects.get(pk=question.pk).status == QuestionStatus.APPROVED
    assert approved_now or not offered, visible_text(page)
