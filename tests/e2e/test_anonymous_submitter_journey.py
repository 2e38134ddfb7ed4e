"""An employee raises a concern anonymously and keeps only the receipt. A moderator
approves it, it goes public with the next publication batch, colleagues support it
until a written response is due, a leader publishes one with a commitment and asks
the submitter a question, the submitter (signed out, holding only the receipt) reads
where it stands and answers, and colleagues rate the response. All in Chromium."""

import datetime
import io
import re

import pytest
from django.core.management import call_command

from concerns.models import Concern, Message, Status
from responses.models import Commitment, Rating, ResponseVersion
from tests.e2e import site as demo
from tests.e2e.browsing import Tab, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

TITLE = "Stop licensing face recognition to police and immigration agencies"
BODY = (
    "An outside test matched 28 members of Congress to mugshots. We should not sell "
    "this to agencies that can detain people."
)
QUESTION = "Does ending the two police contracts answer your concern, or did you mean more?"
ANSWER = "It does, if immigration agencies are covered by the outside review too."
SUMMARY = "We will not renew the two police contracts and will sell to no new agency."


def test_an_anonymous_concern_goes_from_receipt_to_a_rated_written_response(
    asgi_live_server, chromium, clock, screenshots
):
    from playwright.sync_api import expect

    clock(demo.DAY_ONE, 9)
    # The admin's setting, lowered so that three colleagues make a response due.
    demo.organisation_settings(vote_threshold=3)
    team = demo.people()
    demo.tags()
    colleagues = team.colleagues[:3]
    base = asgi_live_server

    with chromium() as browser:

        def signed_in(person) -> Tab:
            # Signed in when they arrive: the clock moves on by days in this story.
            with chromium.django():
                cookie = session_cookie(person)
            return Tab(browser, base, cookie)

        # The employee raises it anonymously and keeps the receipt.
        employee = signed_in(team.employee).page
        employee.goto("/concerns/new/")
        employee.get_by_label("Title").fill(TITLE)
        employee.get_by_label("Description").fill(BODY)
        employee.get_by_label("Ethics").check()
        employee.get_by_label("Anonymous: nothing links the concern to me").check()
        employee.get_by_role("button", name="Send to moderators").click()
        expect(employee.get_by_role("heading", level=1)).to_have_text(
            "Your concern was sent anonymously"
        )
        receipt = employee.locator("#receipt-code").inner_text().strip()
        assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){6}", receipt)
        employee.screenshot(
            path=screenshots / "receipt-issued.png",
            full_page=True,
            # A receipt is never published, not even a test's: it is blacked out.
            mask=[employee.locator("#receipt-code")],
            mask_color="#1d2430",
        )
        employee.goto("/concerns/mine/")
        expect(employee.locator("main")).not_to_contain_text(TITLE)

        # A moderator, who cannot see who sent it, approves it.
        moderator = signed_in(team.moderator).page
        moderator.goto("/moderation/")
        queue_row = moderator.get_by_role("row", name=TITLE)
        expect(queue_row).to_contain_text("anonymously")
        queue_row.get_by_role("link", name=TITLE).click()
        expect(moderator.locator(".concern header")).to_contain_text("Anonymous")
        expect(moderator.locator("main")).not_to_contain_text("Erin")
        moderator.get_by_role("button", name="Approve for the next batch").click()
        expect(moderator.locator(".messages")).to_contain_text(
            f"“{TITLE}” is approved. Anonymous concerns are published together at fixed "
            "times, in a shuffled order: this one goes out at 13:00 on 2 Mar."
        )

        # Nobody sees it before the batch; the batch runs on the hour, as beat runs it.
        colleague = signed_in(colleagues[0]).page
        colleague.goto("/")
        expect(colleague.get_by_role("link", name=TITLE)).to_have_count(0)
        with chromium.django():
            clock(demo.DAY_ONE, 13)
            call_command("publish_batch", stdout=io.StringIO())

        # Colleagues find it and support it, past the response threshold.
        for n, person in enumerate(colleagues, start=1):
            page = signed_in(person).page
            page.goto("/")
            page.get_by_role("link", name=TITLE).click()
            page.get_by_role("button", name="Support this concern").click()
            expect(page.locator(".messages")).to_contain_text("Your vote was counted.")
            expect(page.locator(".vote-box .votes")).to_have_text(f"{n} vote{'s' if n > 1 else ''}")
        expect(page.locator(".concern header .status")).to_have_text("Response due")
        expect(page.locator("#response .duty")).to_contain_text(
            "A written response was due by 16 Mar 2026; no leader is assigned yet."
        )

        moderator.goto("/")
        moderator.get_by_role("link", name=TITLE).click()
        moderator.get_by_label("Accountable leader").select_option(label="daniel")
        moderator.get_by_role("button", name="Assign").click()
        expect(moderator.locator(".messages")).to_contain_text(
            "The accountable leader was assigned."
        )

        # The leader answers in writing, with a commitment, and asks a follow-up.
        with chromium.django():
            clock(demo.days(3), 15)
        leader = signed_in(team.leader).page
        leader.goto("/")
        leader.get_by_role("link", name=TITLE).click()
        expect(leader.locator("#response .duty")).to_contain_text("from Daniel Reyes")
        leader.get_by_role("link", name="Write the response").click()
        leader.get_by_label("We will act", exact=True).check()
        leader.get_by_label("Summary").fill(SUMMARY)
        leader.get_by_label("Details").fill(
            "The board decided on Thursday.\n\n- Both contracts end on 30 June.\n"
            "- An outside review of every public-sector sale follows."
        )
        leader.screenshot(path=screenshots / "response-editor.png", full_page=True)
        leader.get_by_role("button", name="Publish version 1").click()
        expect(leader.locator(".messages")).to_contain_text(
            "Version 1 is published and on the ledger."
        )
        expect(leader.locator("#response .signature")).to_contain_text(
            "Signed Daniel Reyes, 5 Mar 2026, 15:00 · version 1"
        )
        expect(leader.locator("#response .proof.ok")).to_have_text("✓ matches its recorded hash")
        leader.get_by_text("Add a commitment").click()
        leader.get_by_label("What will be done").fill("End both police contracts")
        leader.get_by_label("Owner").select_option(label="daniel")
        leader.get_by_label("Due on").fill("2026-06-30")
        leader.get_by_role("button", name="Add commitment").click()
        expect(leader.locator(".messages")).to_contain_text(
            "Commitment added and recorded on the ledger."
        )
        expect(leader.locator(".commitment")).to_contain_text("Planned End both police contracts")
        concern_url = leader.url.split("#")[0]
        leader.get_by_label("Ask the submitter a question").fill(QUESTION)
        leader.get_by_role("button", name="Send", exact=True).click()
        expect(leader.locator(".messages")).to_contain_text("Your message was sent.")

        # The submitter, signed out, holds only the receipt.
        with chromium.django():
            clock(demo.days(4), 19)
        submitter = Tab(browser, base).page
        submitter.goto("/receipt/")
        submitter.get_by_label("Receipt").fill(receipt.lower().replace("-", " "))
        submitter.get_by_role("button", name="Show my concern").click()
        expect(submitter.get_by_role("heading", level=1)).to_have_text(TITLE)
        expect(submitter.locator(".concern header .status")).to_have_text("Answered")
        expect(submitter.locator(".history")).to_contain_text("Answered by Daniel Reyes")
        expect(submitter.locator(".messages-list .from-staff")).to_contain_text(QUESTION)
        submitter.get_by_label("Answer the moderators anonymously").fill(ANSWER)
        submitter.get_by_role("button", name="Send anonymously").click()
        expect(submitter.locator(".messages-list .from-submitter")).to_contain_text(ANSWER)
        expect(submitter.locator(".messages-list .from-submitter .meta")).to_have_text(
            re.compile(r"Submitter\s+·\s+6 Mar 2026")  # the date only, never the time
        )
        submitter.screenshot(path=screenshots / "receipt-status.png", full_page=True)

        # Colleagues rate the response; the leader reads the answer to the question.
        for person, rating in zip(
            colleagues[:2], ("It answered the concern", "It partly answered it"), strict=True
        ):
            page = signed_in(person).page
            page.goto("/")
            page.get_by_role("link", name=TITLE).click()
            page.get_by_label(rating, exact=True).check()
            page.get_by_role("button", name="Rate").click()
            expect(page.locator(".messages")).to_contain_text(
                "Thank you. Your rating is counted without your name."
            )
        expect(page.locator(".ratings")).to_contain_text("It answered the concern: 1")
        expect(page.locator(".ratings")).to_contain_text("It partly answered it: 1")
        expect(page.locator(".ratings")).to_contain_text("(2 ratings of version 1)")
        leader = signed_in(team.leader).page
        leader.goto(concern_url)
        expect(leader.locator(".messages-list .from-submitter")).to_contain_text(ANSWER)

    concern = Concern.objects.get(title=TITLE)
    assert concern.status == Status.ANSWERED
    assert concern.is_anonymous and concern.author_id is None
    assert concern.vote_count == 3
    version = ResponseVersion.objects.get(response__concern=concern)
    assert (version.number, version.summary, version.signed_as) == (1, SUMMARY, "Daniel Reyes")
    assert list(
        Commitment.objects.filter(response__concern=concern).values_list(
            "description", "owner__username", "due_on"
        )
    ) == [("End both police contracts", "daniel", datetime.date(2026, 6, 30))]
    assert Rating.objects.filter(version=version).count() == 2
    replies = Message.objects.filter(concern=concern).order_by("sequence")
    assert [(m.from_submitter, m.body, m.sent_at) for m in replies] == [
        (False, QUESTION, replies[0].sent_at),
        (True, ANSWER, None),
    ]
