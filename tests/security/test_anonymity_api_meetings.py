"""The anonymity audit of test_anonymity_audit_more.py, for the anonymous paths the
API gained with the meeting operations and the form without an account: an
anonymous live question asked through the API (with its rate limit), a vote on a
question, and the anonymous form used through the API with no credential at all.

Each is done by a known person from a known address and browser; then everything
the system kept, every task sent and every webhook delivered is searched for the
person, the receipt and the token, and for stored times of day."""

import pytest

from accounts.models import Organisation
from concerns.models import Concern
from meetings import services as meeting_services
from meetings.models import LiveQuestion, LiveQuestionVote
from tests import factories
from tests.security.test_anonymity_audit_more import (  # noqa: F401 - fixtures
    BODY,
    QUESTION,
    TITLE,
    Audit,
    Outcome,
    Scene,
    _judged,
    _live_meeting,
    audited,
    receiver,
    scene,
    tasks,
)

pytestmark = pytest.mark.django_db

PHRASE = "a lantern for every harbour"


def api_live_question(stage: Scene) -> Outcome:
    meeting = _live_meeting(stage)
    token = stage.api_token()
    browser = stage.browser(signed_in=False)
    with audited(stage) as outcome:
        response = browser.api(
            "post",
            f"/api/v1/meetings/{meeting.pk}/questions/",
            {"text": QUESTION, "anonymous": True},
            token=token,
        )
        outcome.responses.append(response)
    assert response.status_code == 201, response.content
    outcome.receipt = response.json()["receipt"]
    question = LiveQuestion.objects.get(meeting=meeting)
    assert question.is_anonymous and question.author_id is None
    assert response.json()["question"]["by"] is None
    return outcome


def api_question_vote(stage: Scene) -> Outcome:
    meeting = _live_meeting(stage)
    question, _ = meeting_services.question_ask(
        meeting=meeting, asker=factories.person(), text=QUESTION, anonymous=False
    )
    meeting_services.question_approve(question=question, actor=stage.moderator)
    token = stage.api_token()
    browser = stage.browser(signed_in=False)
    path = f"/api/v1/meetings/{meeting.pk}/questions/{question.pk}/vote/"
    with audited(stage) as outcome:
        outcome.responses += [browser.api("post", path, token=token) for _ in range(2)]
    assert [r.status_code for r in outcome.responses] == [200, 200]
    assert LiveQuestionVote.objects.filter(question=question).count() == 1
    return outcome


def api_form_without_an_account(stage: Scene) -> Outcome:
    """The person's signed-in browser sends the anonymous form through the API: the
    session cookie travels along, and must be neither read nor touched."""
    organisation = Organisation.current()
    organisation.public_form_enabled = True
    organisation.set_access_phrase(PHRASE)
    organisation.save()
    browser = stage.browser()
    with audited(stage) as outcome:
        response = browser.api(
            "post",
            "/api/v1/concerns/anonymous/",
            {"access_phrase": PHRASE, "title": TITLE, "body": BODY},
        )
        outcome.responses.append(response)
    assert response.status_code == 201, response.content
    outcome.receipt = response.json()["receipt"]
    concern = Concern.objects.get(title=TITLE)
    assert concern.is_anonymous and concern.author_id is None
    return outcome


AUDITS = [Audit(api_live_question), Audit(api_question_vote), Audit(api_form_without_an_account)]


@pytest.mark.parametrize("audit", AUDITS, ids=[a.action.__name__ for a in AUDITS])
def test_an_anonymous_api_action_leaves_no_link_no_django_trace_and_no_time(request, audit):
    # The `scene` fixture comes from test_anonymity_audit_more.py.
    _judged(audit, request.getfixturevalue("scene"))
