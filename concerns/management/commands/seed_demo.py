"""Seeds the demo organisation, Northwind Technologies, with people in every role,
concerns in every state the services can reach, leaders' written responses with
their versions, commitments and ratings, and two all-hands meetings: one that ended
three weeks ago and left its written-answer debt, and one planned ten days ahead.

Every concern, vote, message, response, rating, agenda and live question is made by
the services, the way people make them, so the demo never shows a state the product
cannot reach. The services read the time from `django.utils.timezone.now()`; the
seed runs each step with that clock set back to the step's day, which gives the demo
weeks of history (so "Trending this week" differs from "Most supported") without
writing a date into any row itself.

Receipts of anonymous demo concerns and live questions are derived from
ANONYMITY_KEY, so they can be printed again on every run although only their hashes
are stored.
"""

import random
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial
from itertools import groupby
from unittest import mock

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Department, Organisation, Role, User
from concerns import services
from concerns.anonymity import (
    RECEIPT_ALPHABET,
    RECEIPT_LENGTH,
    keyed_hash,
    receipt_format,
)
from concerns.errors import ReceiptNotFound
from concerns.models import Concern, LeaderRoute, Status, Tag
from ledger.services import ledger_flush_deferred, ledger_head_publish
from meetings import selectors as meeting_selectors
from meetings import services as meeting_services
from meetings.models import AgendaItem, LiveQuestion, Meeting, MeetingStatus
from notifications import services as notification_services
from notifications.models import Frequency
from responses import services as response_services
from responses.models import Commitment, CommitmentStatus, Position, RatingValue

ORGANISATION_NAME = "Northwind Technologies"
DEMO_PASSWORD = "answerable-demo"  # noqa: S105 - published on purpose: demo only
ACCESS_PHRASE = "northwind open door"
EMAIL_DOMAIN = "northwind.example"

DEPARTMENTS = (
    "Engineering",
    "Customer Support",
    "Sales",
    "People Operations",
    "Finance",
    "Legal",  # three people: smaller than the anonymity group size, so never shown
)

TAGS = {
    "ethics": "Ethics",
    "pay": "Pay and benefits",
    "workload": "Workload and on-call",
    "remote": "Remote and office",
    "security": "Security and privacy",
    "leadership": "Leadership and strategy",
    "hiring": "Hiring and layoffs",
    "customers": "Customers and products",
}

# Who answers a concern once its support makes a written response due, by tag.
LEADER_ROUTES = {
    "ethics": "helen.fischer",
    "pay": "victor.ng",
    "workload": "marcus.webb",
    "remote": "kemi.adeyemi",
    "security": "marcus.webb",
    "leadership": "leader",
    "hiring": "kemi.adeyemi",
}

E, M, L, A = Role.EMPLOYEE, Role.MODERATOR, Role.LEADER, Role.ADMIN

# username, first name, last name, role, department
PEOPLE = (
    ("admin", "Robin", "Hale", A, "Engineering"),
    ("hana.sato", "Hana", "Sato", A, "People Operations"),
    ("moderator", "Sam", "Whitfield", M, "Customer Support"),
    ("ines.duarte", "Inês", "Duarte", M, "Engineering"),
    ("theo.grant", "Theo", "Grant", M, "People Operations"),
    ("leader", "Dana", "Cole", L, None),  # chief executive
    ("marcus.webb", "Marcus", "Webb", L, "Engineering"),
    ("elena.petrova", "Elena", "Petrova", L, "Sales"),
    ("kemi.adeyemi", "Kemi", "Adeyemi", L, "People Operations"),
    ("victor.ng", "Victor", "Ng", L, "Finance"),
    ("helen.fischer", "Helen", "Fischer", L, "Legal"),
    ("employee", "Jordan", "Lee", E, "Engineering"),
    ("priya.raman", "Priya", "Raman", E, "Engineering"),
    ("tomasz.nowak", "Tomasz", "Nowak", E, "Engineering"),
    ("aisha.bello", "Aisha", "Bello", E, "Engineering"),
    ("liam.oconnor", "Liam", "O'Connor", E, "Engineering"),
    ("mei.chen", "Mei", "Chen", E, "Engineering"),
    ("diego.fernandez", "Diego", "Fernández", E, "Engineering"),
    ("kwame.mensah", "Kwame", "Mensah", E, "Engineering"),
    ("sofia.rossi", "Sofia", "Rossi", E, "Engineering"),
    ("noah.williams", "Noah", "Williams", E, "Engineering"),
    ("yuki.tanaka", "Yuki", "Tanaka", E, "Engineering"),
    ("fatima.haddad", "Fatima", "Haddad", E, "Engineering"),
    ("ben.carter", "Ben", "Carter", E, "Engineering"),
    ("olga.ivanova", "Olga", "Ivanova", E, "Engineering"),
    ("raj.patel", "Raj", "Patel", E, "Engineering"),
    ("chloe.martin", "Chloé", "Martin", E, "Customer Support"),
    ("ahmed.karim", "Ahmed", "Karim", E, "Customer Support"),
    ("lucy.evans", "Lucy", "Evans", E, "Customer Support"),
    ("pedro.alves", "Pedro", "Alves", E, "Customer Support"),
    ("hannah.schmidt", "Hannah", "Schmidt", E, "Customer Support"),
    ("tariq.aziz", "Tariq", "Aziz", E, "Customer Support"),
    ("grace.kim", "Grace", "Kim", E, "Customer Support"),
    ("oliver.brown", "Oliver", "Brown", E, "Customer Support"),
    ("marta.silva", "Marta", "Silva", E, "Sales"),
    ("jack.thompson", "Jack", "Thompson", E, "Sales"),
    ("emma.dubois", "Emma", "Dubois", E, "Sales"),
    ("ravi.iyer", "Ravi", "Iyer", E, "Sales"),
    ("sarah.cohen", "Sarah", "Cohen", E, "Sales"),
    ("luca.bianchi", "Luca", "Bianchi", E, "Sales"),
    ("nina.larsen", "Nina", "Larsen", E, "Sales"),
    ("laura.jensen", "Laura", "Jensen", E, "People Operations"),
    ("david.mwangi", "David", "Mwangi", E, "People Operations"),
    ("zara.hussain", "Zara", "Hussain", E, "People Operations"),
    ("isabel.moreno", "Isabel", "Moreno", E, "Finance"),
    ("george.adams", "George", "Adams", E, "Finance"),
    ("ananya.rao", "Ananya", "Rao", E, "Finance"),
    ("peter.kowalski", "Peter", "Kowalski", E, "Finance"),
    ("ruth.okafor", "Ruth", "Okafor", E, "Finance"),
    ("omar.sayed", "Omar", "Sayed", E, "Legal"),
    ("julia.novak", "Julia", "Novak", E, "Legal"),
)

SUBMITTER = "submitter"  # a conversation line written by the concern's submitter

# Votes cast within this many days count as this week's ("Trending this week").
RECENT_DAYS = 7


@dataclass(frozen=True)
class DemoConcern:
    """One concern's story. Days are counted back from today; None means never."""

    key: str
    title: str
    body: str
    tags: tuple[str, ...]
    submitted: int
    # A username for a named concern; for an anonymous one, who typed it (the
    # service keeps no link to them) or None when it came through the public form.
    author: str | None
    anonymous: bool = False
    department: str | None = None
    moderator: str = "moderator"
    reviewed: int | None = None
    opened: int | None = None
    rejected: int | None = None
    reason: str = ""
    merged: int | None = None
    merged_into: str = ""
    withdrawn: int | None = None
    old_votes: int = 0  # cast more than RECENT_DAYS ago
    recent_votes: int = 0
    conversation: tuple[tuple[int, str, str], ...] = ()  # (day, username or SUBMITTER, text)


CONCERNS = (
    DemoConcern(
        key="facial-recognition",
        title="Stop selling facial recognition to police and immigration agencies",
        body=(
            "Northwind Vision is being sold to police forces and, since the spring, to an "
            "immigration enforcement agency.\n\n"
            "An independent test of a comparable system **matched 28 members of Congress "
            "to mugshots**, with error rates far higher for darker-skinned faces. We "
            "cannot control how a customer acts on a false match.\n\n"
            "I am asking leadership to:\n\n"
            "1. pause new sales to law enforcement and immigration agencies;\n"
            "2. publish the list of current government customers of the Vision API;\n"
            "3. put future sales of this kind before the ethics review board.\n\n"
            "The all-hands answer was that *we follow the law*. That is not an answer to "
            "whether we should do it."
        ),
        tags=("ethics", "customers"),
        author="priya.raman",
        department="Engineering",
        submitted=44,
        opened=43,
        old_votes=30,
        recent_votes=4,
        conversation=(
            (
                42,
                "marcus.webb",
                "Would you present this at the next ethics review board? I will make "
                "sure it is on their agenda.",
            ),
            (41, SUBMITTER, "Yes, gladly, with two colleagues from the Vision team."),
        ),
    ),
    DemoConcern(
        key="return-to-office",
        title="Share the evidence behind the three-days-in-office mandate",
        body=(
            "The return-to-office announcement said collaboration *suffers* remotely. "
            "Our team shipped more in the last two remote years than before.\n\n"
            "- What data was the decision based on?\n"
            "- Which teams were consulted?\n"
            "- Will exceptions be decided by a written policy or by each manager?"
        ),
        tags=("remote", "leadership"),
        author="aisha.bello",
        anonymous=True,
        department="Engineering",
        submitted=31,
        reviewed=31,
        opened=29,
        old_votes=21,
        recent_votes=4,
        conversation=(
            (
                31,
                "moderator",
                "Thank you. Could you say which kinds of teams are most affected, without "
                "saying anything that identifies you?",
            ),
            (
                30,
                SUBMITTER,
                "Mostly teams spread over several time zones: the office days do not "
                "overlap with colleagues abroad anyway.",
            ),
        ),
    ),
    DemoConcern(
        key="on-call-after-layoffs",
        title="On-call load has doubled since the March layoffs",
        body=(
            "Rotations that had eight people now have four. Each of us is on call every "
            "fourth week instead of every eighth, and pages overnight have not dropped.\n\n"
            "Nobody has said whether the rotations will be refilled or the services "
            "handed over. People are burning out **now**."
        ),
        tags=("workload", "hiring"),
        author="kwame.mensah",
        anonymous=True,
        department="Engineering",
        submitted=5,
        opened=4,
        recent_votes=24,
    ),
    DemoConcern(
        key="pay-bands",
        title="Publish salary bands for every role",
        body=(
            "New hires are joining on more than people who have done the same job for "
            "years. Publishing the band for every role and level would let us see "
            "whether pay is fair without anyone disclosing their own salary.\n\n"
            "Several of our competitors already do this; some states require it in job "
            "adverts."
        ),
        tags=("pay",),
        author="marta.silva",
        department="Sales",
        submitted=38,
        opened=36,
        old_votes=19,
        recent_votes=6,
    ),
    DemoConcern(
        key="layoff-criteria",
        title="What criteria decided who was laid off in March?",
        body=(
            "People with strong reviews were let go while others were kept. Without the "
            "criteria, everyone assumes the worst: that it was about who complained, "
            "who was on parental leave, or who was expensive.\n\n"
            "Please publish the criteria that were applied, even in summary."
        ),
        tags=("hiring", "leadership"),
        author=None,
        anonymous=True,
        submitted=26,
        opened=24,
        old_votes=17,
        recent_votes=2,
    ),
    DemoConcern(
        key="no-more-layoffs",
        title="Commit to no further layoffs this financial year, or say plainly you cannot",
        body=(
            "Rumours of a second round are everywhere. A clear written statement, either "
            "way, would be better than the silence."
        ),
        tags=("hiring", "leadership"),
        author="jack.thompson",
        anonymous=True,
        department="Sales",
        submitted=12,
        opened=11,
        old_votes=6,
        recent_votes=8,
    ),
    DemoConcern(
        key="paid-standby",
        title="Replace the unpaid evening rota in Customer Support with paid standby",
        body=(
            "Since January we cover evenings on a rota without standby pay. Engineering "
            "gets an on-call allowance for the same kind of duty.\n\n"
            "Please either pay standby or end the rota."
        ),
        tags=("workload", "pay"),
        author="chloe.martin",
        department="Customer Support",
        submitted=20,
        opened=19,
        old_votes=9,
        recent_votes=5,
    ),
    DemoConcern(
        key="bonus-pool",
        title="Explain why the bonus pool was cut while revenue grew",
        body=(
            "Revenue grew 14% according to the last results, yet the bonus pool was cut "
            "by a third. What changed, and who decided?"
        ),
        tags=("pay", "leadership"),
        author="ananya.rao",
        anonymous=True,
        department="Finance",
        submitted=16,
        opened=15,
        old_votes=10,
        recent_votes=7,
    ),
    DemoConcern(
        key="badge-tracking",
        title="Stop using badge swipes to rate individual performance",
        body=(
            "Managers have been shown reports of *individual* badge-in times. Attendance "
            "is not performance, and the data was collected for building security, not "
            "for appraisals."
        ),
        tags=("remote", "security"),
        author=None,
        anonymous=True,
        submitted=22,
        opened=21,
        old_votes=12,
        recent_votes=3,
    ),
    DemoConcern(
        key="contractor-security",
        title="Give contractors the same security training and laptop policy as staff",
        body=(
            "Contractors have production access from unmanaged laptops and never take "
            "the security training. One phished contractor account is all it takes."
        ),
        tags=("security",),
        author="ben.carter",
        department="Engineering",
        submitted=35,
        opened=34,
        old_votes=5,
    ),
    DemoConcern(
        key="pay-gap-by-level",
        title="Publish the gender pay gap by level, not only company-wide",
        body=(
            "The company-wide figure hides where the gap is. Please publish it by level "
            "and by department where the group is large enough to stay anonymous."
        ),
        tags=("pay",),
        author="sarah.cohen",
        department="Sales",
        submitted=9,
        opened=8,
        old_votes=3,
        recent_votes=9,
    ),
    DemoConcern(
        key="on-call-policy",
        title="Write down the on-call compensation policy; today it depends on your manager",
        body=(
            "Some teams get time off in lieu after a night of pages, others get nothing. "
            "A written policy would end the lottery."
        ),
        tags=("workload", "pay"),
        author="noah.williams",
        anonymous=True,
        department="Engineering",
        submitted=14,
        reviewed=14,
        opened=13,
        old_votes=8,
        recent_votes=3,
        conversation=(
            (
                14,
                "ines.duarte",
                "Do you mean on-call for production services only, or also the release rota?",
            ),
            (14, SUBMITTER, "Both, please: the release rota is the worse of the two."),
        ),
    ),
    DemoConcern(
        key="transcripts-chatbot",
        title="Do not train the sales chatbot on support transcripts without consent",
        body=(
            "Customers told us about outages, billing disputes and sometimes health "
            "problems. They did not agree to that being used to train a *sales* bot.\n\n"
            "Has Legal reviewed this use?"
        ),
        tags=("ethics", "security", "customers"),
        author="lucy.evans",
        department="Customer Support",
        submitted=18,
        opened=17,
        old_votes=11,
        recent_votes=2,
    ),
    DemoConcern(
        key="carers-hybrid",
        title="Let parents and carers keep the hybrid arrangements they were promised",
        body=(
            "Several of us accepted offers on the basis of written hybrid arrangements. "
            "The new mandate overrides them with no transition period."
        ),
        tags=("remote",),
        author="zara.hussain",
        anonymous=True,
        department="People Operations",
        submitted=28,
        opened=27,
        old_votes=14,
        recent_votes=1,
    ),
    DemoConcern(
        key="travel-expenses",
        title="Explain the new expense approval limits for travel to customer sites",
        body="Trips that were routine now need a vice president's approval. Why?",
        tags=("customers",),
        author="jack.thompson",
        department="Sales",
        submitted=40,
        opened=39,
        old_votes=2,
    ),
    DemoConcern(
        key="promotion-criteria",
        title="Publish the criteria for promotion to senior engineer",
        body=(
            "Promotion decisions come back with *not ready yet* and no criteria to work "
            "towards. Other engineering organisations publish a ladder; we should too."
        ),
        tags=("pay", "hiring"),
        author="mei.chen",
        department="Engineering",
        submitted=24,
        opened=23,
        old_votes=13,
        recent_votes=2,
    ),
    DemoConcern(
        key="teams-of-one",
        title="The hiring freeze is leaving teams of one on critical systems",
        body=(
            "Payments, identity and the build system each have one engineer left. When "
            "they are ill or on holiday, nobody can deploy a fix."
        ),
        tags=("hiring", "workload", "security"),
        author="olga.ivanova",
        anonymous=True,
        department="Engineering",
        submitted=7,
        opened=6,
        recent_votes=12,
    ),
    DemoConcern(
        key="surveillance-contract",
        title="Review the interior ministry contract for surveillance use",
        body=(
            "The renewal adds *real-time matching* against watch lists. Before we sign, "
            "please say what safeguards the contract contains and who approved them."
        ),
        tags=("ethics", "customers"),
        author="omar.sayed",
        department="Legal",  # a small department: the concern never names it
        submitted=10,
        opened=9,
        old_votes=4,
        recent_votes=10,
    ),
    DemoConcern(
        key="written-questions",
        title="Take all-hands questions in writing in advance",
        body=(
            "Live Q&A favours the confident and the senior. Written questions, answered "
            "in writing afterwards, would be fairer and leave a record."
        ),
        tags=("leadership",),
        author="employee",
        department="Engineering",
        submitted=33,
        opened=32,
        old_votes=12,
        recent_votes=1,
    ),
    DemoConcern(
        key="captions",
        title="Provide live captions at every all-hands",
        body="Deaf and hard-of-hearing colleagues miss most of the Q&A.",
        tags=("leadership",),
        author="hannah.schmidt",
        department="Customer Support",
        submitted=3,
        opened=2,
        recent_votes=5,
    ),
    DemoConcern(
        key="home-office-allowance",
        title="Restore the home-office equipment allowance cut in January",
        body=(
            "Support staff are fully remote by contract. Without the allowance we pay "
            "for chairs and headsets ourselves."
        ),
        tags=("remote", "pay"),
        author="tariq.aziz",
        anonymous=True,
        department="Customer Support",
        submitted=17,
        opened=16,
        old_votes=7,
        recent_votes=4,
    ),
    DemoConcern(
        key="relocations",
        title="Say whether the office consolidation means relocations",
        body="Finance has heard that the Leeds office will close. Is that true?",
        tags=("remote", "leadership"),
        author="ruth.okafor",
        department="Finance",
        submitted=2,
        opened=1,
        recent_votes=3,
    ),
    DemoConcern(
        key="pages-per-week",
        title="Set a maximum number of overnight pages per on-call week",
        body=(
            "Above a limit, the service should go back to its owning team for a "
            "reliability sprint instead of the on-call engineer absorbing it."
        ),
        tags=("workload",),
        author="kwame.mensah",
        department="Engineering",
        submitted=42,
        opened=41,
        old_votes=15,
    ),
    DemoConcern(
        key="upsell-on-complaints",
        title="Stop asking support staff to upsell during complaint calls",
        body=(
            "The new script asks us to offer upgrades to customers who are calling to "
            "complain about an outage. It damages trust and our scores."
        ),
        tags=("customers", "ethics"),
        author=None,
        anonymous=True,
        submitted=8,
        opened=7,
        recent_votes=7,
    ),
    DemoConcern(
        key="london-weighting",
        title="Pay London weighting to remote staff hired in London",
        body="Office-based staff in London get it; remote staff living there do not.",
        tags=("pay", "remote"),
        author="nina.larsen",
        department="Sales",
        submitted=13,
        opened=12,
        old_votes=4,
        recent_votes=2,
    ),
    # Merged duplicates: their supporters carry over, each counted once.
    DemoConcern(
        key="ice-line",
        title="Facial recognition for immigration enforcement is a line we should not cross",
        body="We build tools for retailers and airports. Deportations are different.",
        tags=("ethics",),
        author="diego.fernandez",
        anonymous=True,
        department="Engineering",
        submitted=43,
        opened=42,
        old_votes=8,
        merged=40,
        merged_into="facial-recognition",
    ),
    DemoConcern(
        key="why-office",
        title="Why are we returning to the office three days a week?",
        body="Nobody I work with sits in my office. What is the point?",
        tags=("remote",),
        author="tomasz.nowak",
        department="Engineering",
        submitted=30,
        reviewed=29,
        merged=29,
        merged_into="return-to-office",
    ),
    DemoConcern(
        key="salary-transparency",
        title="Salary transparency please",
        body="Just publish the pay ranges.",
        tags=("pay",),
        author=None,
        anonymous=True,
        submitted=37,
        merged=36,
        merged_into="pay-bands",
    ),
    # Rejected, each with a reason the submitter can read.
    DemoConcern(
        key="manager-behaviour",
        title="A manager in Finance shouts at people in one-to-ones",
        body="It happens every week and everyone is afraid to say anything.",
        tags=("leadership",),
        author=None,
        anonymous=True,
        submitted=21,
        moderator="theo.grant",
        rejected=20,
        reason=(
            "This is about one person's behaviour, which cannot be answered in public "
            "without identifying them. Please raise it with People Operations in "
            "confidence; the anonymous whistleblowing line also accepts it."
        ),
    ),
    DemoConcern(
        key="leak-board-deck",
        title="Someone should leak the board deck so we can see the real numbers",
        body="Leadership will never tell us the truth otherwise.",
        tags=("leadership",),
        author="george.adams",
        anonymous=True,
        submitted=19,
        rejected=18,
        reason=(
            "We cannot publish a call to share confidential documents. If you want "
            "leadership to disclose specific figures, please raise that as a question."
        ),
    ),
    DemoConcern(
        key="fire-vp",
        title="Fire the VP of Sales",
        body="The new targets are impossible and it is her fault.",
        tags=("leadership",),
        author="luca.bianchi",
        department="Sales",
        submitted=11,
        rejected=10,
        moderator="ines.duarte",
        reason=(
            "Concerns are about decisions, not demands against a named person. If the "
            "sales targets are the problem, please resubmit about how they were set."
        ),
    ),
    # Waiting for a moderator.
    DemoConcern(
        key="broken-lift",
        title="Fix the broken lift at the Leeds office before someone gets stuck",
        body="It has stopped between floors twice this month.",
        tags=(),
        author="grace.kim",
        department="Customer Support",
        submitted=1,
    ),
    DemoConcern(
        key="biometric-clocks",
        title="Are our biometric time clocks legal?",
        body="Fingerprints are taken at the warehouse entrance. Who stores them, and where?",
        tags=("security", "ethics"),
        author=None,
        anonymous=True,
        submitted=2,
        conversation=(
            (
                1,
                "theo.grant",
                "Which site has the fingerprint clocks? It decides which leader we ask.",
            ),
        ),
    ),
    DemoConcern(
        key="commission-clawbacks",
        title="Sales commission clawbacks are being applied retroactively",
        body="Deals closed last year are being clawed back under this year's plan.",
        tags=("pay",),
        author="ravi.iyer",
        anonymous=True,
        department="Sales",
        submitted=0,
    ),
    DemoConcern(
        key="gpu-carbon",
        title="Publish the carbon footprint of the new GPU cluster",
        body="Our sustainability report does not mention it.",
        tags=("ethics",),
        author="yuki.tanaka",
        department="Engineering",
        submitted=0,
    ),
    # In review.
    DemoConcern(
        key="location-data",
        title="Who approved sharing employee location data with the insurer?",
        body=(
            "The benefits renewal mentions *aggregated mobility data*. Aggregated from "
            "what? Our phones?"
        ),
        tags=("security", "ethics"),
        author="fatima.haddad",
        anonymous=True,
        submitted=4,
        reviewed=3,
        conversation=(
            (
                3,
                "moderator",
                "Where did you read this? A document title or date helps us ask the right leader.",
            ),
            (2, SUBMITTER, "The benefits renewal FAQ on the intranet, section 4."),
            (1, "ines.duarte", "Found it, thank you. We have asked Legal about the contract."),
        ),
    ),
    DemoConcern(
        key="singapore-meetings",
        title="Stop scheduling mandatory meetings at 5 pm for the Singapore team",
        body="A 9 am meeting in London is 5 pm in Singapore, every single week.",
        tags=("workload",),
        author="raj.patel",
        department="Engineering",
        submitted=3,
        reviewed=2,
    ),
    DemoConcern(
        key="ratings-and-layoffs",
        title="Will the new performance ratings be used for the next layoffs?",
        body="The forced distribution arrived one month after the layoffs.",
        tags=("hiring",),
        author=None,
        anonymous=True,
        submitted=6,
        reviewed=5,
    ),
    # Withdrawn by the submitter, from several states.
    DemoConcern(
        key="parking-permits",
        title="Parking permits are given to managers first",
        body="Shift workers who start at 6 am get none.",
        tags=(),
        author="pedro.alves",
        anonymous=True,
        department="Customer Support",
        submitted=23,
        withdrawn=22,
    ),
    DemoConcern(
        key="us-time",
        title="Move the all-hands to a time that suits the US offices",
        body="It is 7 am in Seattle.",
        tags=("leadership",),
        author="sofia.rossi",
        department="Engineering",
        submitted=29,
        opened=28,
        old_votes=3,
        withdrawn=20,
    ),
    DemoConcern(
        key="pension-switch",
        title="Question about the pension provider switch",
        body="Will our existing pots move automatically, and who pays the transfer fees?",
        tags=("pay",),
        author="peter.kowalski",
        anonymous=True,
        department="Finance",
        submitted=9,
        reviewed=8,
        conversation=(
            (8, "theo.grant", "Finance published an FAQ yesterday that covers both. Does it help?"),
            (7, SUBMITTER, "It does, thank you. I will withdraw this."),
        ),
        withdrawn=7,
    ),
)

ANONYMOUS_CONCERNS = tuple(c for c in CONCERNS if c.anonymous)


@dataclass(frozen=True)
class DemoVersion:
    published: int  # days ago
    position: str
    summary: str
    details: str
    change_reason: str = ""


@dataclass(frozen=True)
class DemoCommitment:
    description: str
    owner: str
    added: int  # days ago
    due_in: int  # days after it was added
    updates: tuple[tuple[int, str, str], ...] = ()  # (days ago, new status, note)


@dataclass(frozen=True)
class DemoResponse:
    leader: str
    versions: tuple[DemoVersion, ...]
    commitments: tuple[DemoCommitment, ...] = ()
    rated: int = 0  # days ago staff rated the latest version
    ratings: tuple[int, int, int] = (0, 0, 0)  # answered, partly, not answered


# Written responses, by the key of the concern they answer.
RESPONSES = {
    "facial-recognition": DemoResponse(
        leader="leader",
        versions=(
            DemoVersion(
                published=20,
                position=Position.PARTLY,
                summary=(
                    "We will sign no new Vision contracts with immigration enforcement and "
                    "will put every police sale before the ethics review board. We will "
                    "not name individual customers."
                ),
                details=(
                    "We were too slow to answer this, and the deadline passed. That is on "
                    "me.\n\n"
                    "**What changes now**\n\n"
                    "- No new contracts for Northwind Vision with immigration enforcement "
                    "agencies. Existing contracts will not be renewed.\n"
                    "- Every sale of Vision to a police force goes before the ethics review "
                    "board, which can refuse it.\n"
                    "- We will publish a report of government customers by category and "
                    "country.\n\n"
                    "**What does not change**\n\n"
                    "We will not publish customer names: several contracts forbid it, and "
                    "breaking them would expose us to claims we cannot justify to staff "
                    "either."
                ),
            ),
            DemoVersion(
                published=9,
                position=Position.PARTLY,
                summary=(
                    "We will sign no new Vision contracts with immigration enforcement and "
                    "will put every police sale before the ethics review board. We will "
                    "not name individual customers."
                ),
                details=(
                    "We were too slow to answer this, and the deadline passed. That is on "
                    "me.\n\n"
                    "**What changes now**\n\n"
                    "- No new contracts for Northwind Vision with immigration enforcement "
                    "agencies. Existing contracts will not be renewed.\n"
                    "- Every sale of Vision to a police force goes before the ethics review "
                    "board, which can refuse it. Its first decision will be published here.\n"
                    "- We will publish a report of government customers by category and "
                    "country. It is late: Finance now expects it within the month.\n\n"
                    "**What does not change**\n\n"
                    "We will not publish customer names: several contracts forbid it, and "
                    "breaking them would expose us to claims we cannot justify to staff "
                    "either."
                ),
                change_reason=(
                    "The customer report missed its date; this version says so and when it "
                    "is now expected, and promises to publish the board's first decision."
                ),
            ),
        ),
        commitments=(
            DemoCommitment(
                description="Sign no new Northwind Vision contracts with immigration "
                "enforcement agencies",
                owner="elena.petrova",
                added=20,
                due_in=7,
                updates=(
                    (19, CommitmentStatus.IN_PROGRESS, "Sales told; two pending bids withdrawn."),
                    (14, CommitmentStatus.DONE, "The rule is in the sales handbook."),
                ),
            ),
            DemoCommitment(
                description="Put every police sale of Northwind Vision before the ethics "
                "review board",
                owner="helen.fischer",
                added=20,
                due_in=60,
                updates=((10, CommitmentStatus.IN_PROGRESS, "Terms of reference agreed."),),
            ),
            DemoCommitment(
                description="Publish a report of government customers by category and country",
                owner="victor.ng",
                added=20,
                due_in=14,  # missed: the daily check marks it
            ),
        ),
        rated=8,
        ratings=(9, 11, 4),
    ),
    "pay-bands": DemoResponse(
        leader="victor.ng",
        versions=(
            DemoVersion(
                published=12,
                position=Position.WILL_ACT,
                summary="We will publish salary bands for every role and level by the end "
                "of next quarter.",
                details=(
                    "Bands will be published on the intranet for every role and level, "
                    "with the method used to set them. Job adverts will carry the band "
                    "from the same date."
                ),
            ),
        ),
        commitments=(
            DemoCommitment(
                description="Publish salary bands for every role and level on the intranet",
                owner="kemi.adeyemi",
                added=12,
                due_in=75,
                updates=(
                    (
                        3,
                        CommitmentStatus.IN_PROGRESS,
                        "Engineering and Sales bands drafted; the rest are being benchmarked.",
                    ),
                ),
            ),
        ),
        rated=10,
        ratings=(14, 3, 1),
    ),
    "layoff-criteria": DemoResponse(
        leader="kemi.adeyemi",
        versions=(
            DemoVersion(
                published=10,
                position=Position.WILL_NOT_ACT,
                summary="We will not publish the criteria, because they could identify the "
                "people affected.",
                details=(
                    "Each team's reductions were small, and the criteria were applied "
                    "team by team. Publishing them would let colleagues work out who was "
                    "chosen and why."
                ),
            ),
        ),
        # Most raters say it did not answer the concern: it is due again.
        rated=7,
        ratings=(2, 2, 9),
    ),
    "written-questions": DemoResponse(
        leader="leader",
        versions=(
            DemoVersion(
                published=9,
                position=Position.WILL_ACT,
                summary="From the next all-hands, questions can be sent in writing "
                "beforehand, and each gets a written answer within a week.",
                details=(
                    "A form opens a week before every all-hands. Questions are answered "
                    "live where there is time, and **in writing** in any case."
                ),
            ),
        ),
        commitments=(
            DemoCommitment(
                description="Open a written question form before every all-hands",
                owner="kemi.adeyemi",
                added=9,
                due_in=10,
                updates=((3, CommitmentStatus.DONE, "Open for this month's all-hands."),),
            ),
        ),
        rated=6,
        ratings=(8, 1, 0),
    ),
    # Answered while still open, before enough support made a response due.
    "captions": DemoResponse(
        leader="kemi.adeyemi",
        versions=(
            DemoVersion(
                published=1,
                position=Position.WILL_ACT,
                summary="Every all-hands will have live captions from this month.",
                details="Captioning is booked, and recordings will carry the captions too.",
            ),
        ),
        commitments=(
            DemoCommitment(
                description="Book live captioning for every all-hands",
                owner="kemi.adeyemi",
                added=1,
                due_in=21,
            ),
        ),
    ),
}

# The all-hands meetings. Their titles name the month they fall in, counted from today.
PAST_MEETING = 21  # days ago
UPCOMING_MEETING = 10  # days from today
MEETING_TIME = time(16)
# Votes a concern needs to be proposed for an all-hands agenda: about two in five of
# the demo's people, where the default (25) would be half the company.
AGENDA_VOTE_THRESHOLD = 20


@dataclass(frozen=True)
class DemoQuestion:
    """A question asked live at the past meeting."""

    key: str
    text: str
    # Who typed it; for an anonymous question the service keeps no link to them.
    asker: str
    anonymous: bool = False
    approved: bool = True  # approved ones become open concerns; the others are set aside
    highlighted: bool = False
    live_votes: int = 0  # votes on the question during the meeting
    later_votes: int = 0  # votes on the concern it became, in the weeks after


QUESTIONS = (
    DemoQuestion(
        key="question-ethics-board",
        text="Will the ethics review board include anyone from outside the company, or "
        "only the people who sign the contracts?",
        asker="liam.oconnor",
        highlighted=True,
        live_votes=14,
        later_votes=6,
    ),
    DemoQuestion(
        key="question-training-budget",
        text="Is the training budget frozen along with hiring? Nobody in my team has had "
        "a course approved since March.",
        asker="grace.kim",
        anonymous=True,
        live_votes=9,
        later_votes=4,
    ),
    DemoQuestion(
        key="question-oat-milk",
        text="Can the Leeds kitchen stock oat milk again?",
        asker="oliver.brown",
        approved=False,  # set aside: a facilities request, not a question for the room
    ),
)

# Notes taken on each item of the past meeting, by the key of its concern or its topic.
RESULTS_TOPIC = "Third-quarter results and the plan for next year"
PAST_MEETING_NOTES = {
    RESULTS_TOPIC: (
        "Victor Ng presented the quarter: revenue **up 14%**, costs flat, and the "
        "hiring freeze stays until the first quarter of next year.\n\n"
        "- Slides are on the intranet under *Finance / Results*.\n"
        "- Questions about the bonus pool go through Answerable, not the chat."
    ),
    "facial-recognition": (
        "Dana Cole said no new immigration contracts are being signed while the ethics "
        "review board is set up, and promised a written answer **this week**.\n\n"
        "- The Vision team will present at the board's first meeting.\n"
        "- Not decided: whether customer names can be published."
    ),
    "return-to-office": (
        "Kemi Adeyemi said the decision followed the leadership offsite and that a "
        "written exceptions policy is being drafted.\n\n"
        "Asked for the evidence behind the mandate, she said it would be shared "
        "*in writing*. The room asked for a date; none was given."
    ),
    "pages-per-week": (
        "Marcus Webb agreed the overnight load is too high and said a limit is "
        "*under discussion* with the service owners.\n\n"
        "- No limit and no date were committed to in the room."
    ),
}

# What a moderator adds to the upcoming meeting's proposed agenda.
UPCOMING_TOPIC = "Next year's budget and the hiring plan"


def demo_receipt(n: int) -> str:
    """The receipt of the n-th anonymous demo concern: a keyed hash, so anyone holding
    ANONYMITY_KEY can print it again, and nobody without it can guess it."""
    digest = int(keyed_hash("demo-receipt", f"demo-receipt-{n}"), 16)
    symbols = (RECEIPT_ALPHABET[(digest >> (5 * i)) & 31] for i in range(RECEIPT_LENGTH))
    return receipt_format("".join(symbols))


def demo_receipts() -> list[tuple[DemoConcern, str]]:
    return [(spec, demo_receipt(n)) for n, spec in enumerate(ANONYMOUS_CONCERNS, start=1)]


def demo_question_receipts() -> list[tuple[DemoQuestion, str]]:
    """The receipts of the anonymous live questions, numbered after the concerns'."""
    anonymous = [q for q in QUESTIONS if q.anonymous]
    first = len(ANONYMOUS_CONCERNS) + 1
    return [(q, demo_receipt(n)) for n, q in enumerate(anonymous, start=first)]


def _spread(n: int, first: int, last: int) -> list[int]:
    """n days, evenly from `first` days ago to `last` days ago."""
    if n and first < last:
        raise ValueError(f"Cannot spread votes from {first} to {last} days ago.")
    return [first - round(i * (first - last) / max(n - 1, 1)) for i in range(n)]


@contextmanager
def _clock(days_ago: int, minute: int):
    """Runs the services as if it were `days_ago` days ago, in the working day."""
    if days_ago == 0:
        yield  # today: the real clock, so nothing lands in the future
        return
    day = timezone.localdate() - timedelta(days=days_ago)
    moment = timezone.make_aware(datetime.combine(day, time(9)) + timedelta(minutes=minute))
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


@contextmanager
def _clock_at(moment: datetime):
    """Runs the services at an exact moment, within a day's `_clock`."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


@dataclass(order=True)
class _Step:
    days_ago_negated: int
    phase: int
    order: int
    run: Callable[[], object]


# Within one day: submissions, reviews, decisions, the conversation, votes, responses,
# ratings, merges and withdrawals, meetings, and last what the scheduled tasks do
# every day.
SUBMIT, REVIEW, DECIDE, TALK, VOTE, RESPOND, RATE, CLOSE, MEET, SCHEDULED = range(10)


class DemoOrganisation:
    """Builds the organisation, then plays every concern's and every meeting's story
    through the services in date order."""

    def __init__(self) -> None:
        self.people: dict[str, User] = {}
        self.departments: dict[str, Department] = {}
        self.tags: dict[str, Tag] = {}
        self.concerns: dict[str, Concern] = {}
        self.receipts = {spec.key: receipt for spec, receipt in demo_receipts()}
        self.commitments: dict[tuple[str, int], Commitment] = {}
        self.meetings: dict[str, Meeting] = {}
        self.agenda: dict[str, AgendaItem] = {}  # the past meeting's, by concern or topic
        self.questions: dict[str, LiveQuestion] = {}
        self.question_receipts = {q.key: receipt for q, receipt in demo_question_receipts()}
        self.steps: list[_Step] = []
        self.today = timezone.localdate()

    def build(self) -> None:
        organisation = Organisation.current()
        organisation.name = ORGANISATION_NAME
        organisation.public_form_enabled = True
        organisation.set_access_phrase(ACCESS_PHRASE)
        organisation.agenda_vote_threshold = AGENDA_VOTE_THRESHOLD
        organisation.save()
        self.departments = {n: Department.objects.create(name=n) for n in DEPARTMENTS}
        self.tags = {
            key: Tag.objects.create(name=name, slug=slugify(name)) for key, name in TAGS.items()
        }
        self._people_create()
        for tag, leader in LEADER_ROUTES.items():
            LeaderRoute.objects.create(tag=self.tags[tag], leader=self.people[leader])
        for spec in CONCERNS:
            self._story(spec)
        for key, response in RESPONSES.items():
            self._response_story(key, response)
        self._past_meeting_story()
        self._upcoming_meeting_story()
        for days_ago in range(max(c.submitted for c in CONCERNS) + 1):
            self._at(days_ago, SCHEDULED, _scheduled_tasks)
        for days_ago, steps in groupby(sorted(self.steps), key=lambda s: -s.days_ago_negated):
            for minute, step in enumerate(steps):
                with _clock(days_ago, minute):
                    step.run()
        self._digests()

    def _digests(self) -> None:
        """The role accounts get this week's digest (printed to the console in the demo,
        and readable at /digest/); everyone else has chosen no digest."""
        for person in User.objects.exclude(username__in=DIGEST_READERS):
            notification_services.preference_set(person=person, digest=Frequency.NONE)
        notification_services.digests_schedule(period=Frequency.WEEKLY)

    def _people_create(self) -> None:
        # Argon2 is slow on purpose: hash the shared password once for everyone.
        password = make_password(DEMO_PASSWORD)
        User.objects.bulk_create(
            User(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@{EMAIL_DOMAIN}",
                password=password,
                role=role,
                department=self.departments.get(department),
                is_staff=role == Role.ADMIN,
                is_superuser=role == Role.ADMIN,
            )
            for username, first, last, role, department in PEOPLE
        )
        self.people = {p.username: p for p in User.objects.all()}

    def _at(self, days_ago: int, phase: int, run: Callable[[], object]) -> None:
        self.steps.append(_Step(-days_ago, phase, len(self.steps), run))

    def _story(self, spec: DemoConcern) -> None:
        moderator = self.people[spec.moderator]
        self._at(spec.submitted, SUBMIT, lambda: self._submit(spec))
        if spec.reviewed is not None:
            self._at(
                spec.reviewed,
                REVIEW,
                lambda: services.concern_review_start(concern=self._get(spec), moderator=moderator),
            )
        if spec.opened is not None:
            self._at(
                spec.opened,
                DECIDE,
                lambda: services.concern_approve(concern=self._get(spec), moderator=moderator),
            )
            if spec.anonymous:  # approved now, out with that day's publication batch
                self._at(spec.opened, DECIDE, services.publication_batch)
        if spec.rejected is not None:
            self._at(
                spec.rejected,
                DECIDE,
                lambda: services.concern_reject(
                    concern=self._get(spec), moderator=moderator, reason=spec.reason
                ),
            )
        for days_ago, speaker, text in spec.conversation:
            self._at(days_ago, TALK, self._message(spec, speaker, text))
        self._votes(spec)
        if spec.merged is not None:
            self._at(
                spec.merged,
                CLOSE,
                lambda: services.concern_merge(
                    concern=self._get(spec),
                    into=self.concerns[spec.merged_into],
                    moderator=moderator,
                ),
            )
        if spec.withdrawn is not None:
            self._at(spec.withdrawn, CLOSE, lambda: self._withdraw(spec))

    def _get(self, spec: DemoConcern) -> Concern:
        return self.concerns[spec.key]

    def _submit(self, spec: DemoConcern) -> None:
        submission = services.concern_submit(
            author=self.people[spec.author] if spec.author else None,
            anonymous=spec.anonymous,
            title=spec.title,
            body=spec.body,
            tags=[self.tags[t] for t in spec.tags],
            department=self.departments.get(spec.department),
            receipt=self.receipts[spec.key] if spec.anonymous else None,
        )
        self.concerns[spec.key] = submission.concern

    def _message(self, spec: DemoConcern, speaker: str, text: str) -> Callable[[], object]:
        if speaker != SUBMITTER:
            return lambda: services.message_ask(
                concern=self._get(spec), author=self.people[speaker], body=text
            )
        if spec.anonymous:
            return lambda: services.message_reply_by_receipt(
                receipt=self.receipts[spec.key], body=text
            )
        return lambda: services.message_reply_by_author(
            concern=self._get(spec), author=self.people[spec.author], body=text
        )

    def _votes(self, spec: DemoConcern) -> None:
        if spec.opened is None:
            return
        end = spec.merged or spec.withdrawn or 0
        days = _spread(spec.old_votes, spec.opened, max(end, RECENT_DAYS + 1))
        days += _spread(spec.recent_votes, min(spec.opened, RECENT_DAYS), end)
        voters = random.Random(spec.key).sample(sorted(self.people), len(days))
        for days_ago, username in zip(days, voters, strict=True):
            voter = self.people[username]
            self._at(
                days_ago,
                VOTE,
                lambda voter=voter: services.vote_cast(concern=self._get(spec), voter=voter),
            )

    def _response_story(self, key: str, response: DemoResponse) -> None:
        leader = self.people[response.leader]
        for version in response.versions:
            self._at(version.published, RESPOND, partial(self._publish, key, leader, version))
        for n, commitment in enumerate(response.commitments):
            self._at(commitment.added, RESPOND, partial(self._commit, key, leader, n, commitment))
            owner = self.people[commitment.owner]
            for days_ago, status, note in commitment.updates:
                self._at(
                    days_ago,
                    RESPOND,
                    lambda n=n, status=status, note=note, owner=owner: (
                        response_services.commitment_update(
                            commitment=self.commitments[key, n],
                            author=owner,
                            to_status=status,
                            note=note,
                        )
                    ),
                )
        values = (RatingValue.ANSWERED, RatingValue.PARTLY, RatingValue.NOT_ANSWERED)
        ratings = [v for v, n in zip(values, response.ratings, strict=True) for _ in range(n)]
        raters = random.Random(f"{key}:ratings").sample(sorted(self.people), len(ratings))
        for username, value in zip(raters, ratings, strict=True):
            rater = self.people[username]
            self._at(
                response.rated,
                RATE,
                lambda rater=rater, value=value: response_services.rating_cast(
                    concern=self.concerns[key], rater=rater, value=value
                ),
            )

    def _publish(self, key: str, leader: User, version: DemoVersion) -> None:
        # Fresh from the database: response_draft_save checks the status it is given.
        concern = Concern.objects.get(pk=self.concerns[key].pk)
        response_services.response_draft_save(
            concern=concern,
            leader=leader,
            position=version.position,
            summary=version.summary,
            details=version.details,
        )
        response_services.response_publish(
            concern=concern, leader=leader, change_reason=version.change_reason
        )

    def _commit(self, key: str, leader: User, n: int, commitment: DemoCommitment) -> None:
        self.commitments[key, n] = response_services.commitment_add(
            concern=self.concerns[key],
            leader=leader,
            description=commitment.description,
            owner=self.people[commitment.owner],
            due_on=timezone.localdate() + timedelta(days=commitment.due_in),
        )

    # Meetings ----------------------------------------------------------------------

    def _past_meeting_story(self) -> None:
        """The all-hands three weeks ago: planned a week ahead, its proposed agenda
        adjusted by a moderator, run live with questions from the floor, and ended,
        which left the discussed concerns owing a written response. The chief
        executive answered one in writing the day after (see RESPONSES); the others
        are still owed, and their deadlines have passed."""
        organiser = self.people["moderator"]
        self._at(
            PAST_MEETING + 7,
            MEET,
            lambda: self._meeting_create(
                "past", PAST_MEETING, organiser, hosts=("leader", "ines.duarte")
            ),
        )
        self._at(PAST_MEETING + 3, MEET, partial(self._past_agenda_propose, organiser))
        self._at(PAST_MEETING + 2, MEET, partial(self._past_agenda_complete, organiser))
        self._at(PAST_MEETING, MEET, self._past_meeting_run)
        for spec in QUESTIONS:
            days = _spread(spec.later_votes, PAST_MEETING - 1, 1)
            voters = random.Random(spec.key).sample(sorted(self.people), len(days))
            for days_ago, username in zip(days, voters, strict=True):
                self._at(
                    days_ago,
                    VOTE,
                    lambda spec=spec, voter=self.people[username]: services.vote_cast(
                        concern=self.concerns[spec.key], voter=voter
                    ),
                )

    def _upcoming_meeting_story(self) -> None:
        """Next month's all-hands, planned, with the agenda proposed today from the
        most-supported, overdue and escalated concerns, and one topic added."""
        organiser = self.people["theo.grant"]
        self._at(
            3,
            MEET,
            lambda: self._meeting_create(
                "upcoming", -UPCOMING_MEETING, organiser, hosts=("leader", "moderator")
            ),
        )
        self._at(0, MEET, partial(self._upcoming_agenda, organiser))

    def _meeting_create(
        self, key: str, days_ago: int, organiser: User, hosts: tuple[str, ...]
    ) -> None:
        start = self._meeting_start(days_ago)
        self.meetings[key] = meeting_services.meeting_create(
            organiser=organiser,
            title=f"{start:%B} all-hands",
            scheduled_start=start,
            hosts=[self.people[h] for h in hosts],
        )

    def _meeting_start(self, days_ago: int) -> datetime:
        """MEETING_TIME `days_ago` days before the real today (negative: after it),
        whatever the clock says while a step runs."""
        day = self.today - timedelta(days=days_ago)
        return timezone.make_aware(datetime.combine(day, MEETING_TIME))

    def _past_agenda_propose(self, moderator: User) -> None:
        meeting = self.meetings["past"]
        meeting_services.agenda_propose(meeting=meeting, moderator=moderator)
        # The results open the meeting: added with a time box, then moved to the top.
        topic = meeting_services.agenda_item_add(
            meeting=meeting, moderator=moderator, topic=RESULTS_TOPIC, time_box_minutes=15
        )
        meeting_services.agenda_item_move(item=topic, moderator=moderator, direction="up")

    def _past_agenda_complete(self, moderator: User) -> None:
        """The moderator adds two concerns the room will ask about anyway."""
        meeting = self.meetings["past"]
        for key in ("return-to-office", "pages-per-week"):
            # Fresh from the database: agenda_item_add checks the status it is given.
            concern = Concern.objects.get(pk=self.concerns[key].pk)
            meeting_services.agenda_item_add(meeting=meeting, moderator=moderator, concern=concern)
        keys = {c.pk: k for k, c in self.concerns.items()}
        for item in meeting.items.all():
            self.agenda[keys[item.concern_id] if item.concern_id else item.topic] = item

    def _past_meeting_run(self) -> None:
        """The meeting itself, minute by minute from its start: questions come in and
        are decided while the first item is up; every item gets notes and is marked
        discussed before the moderator moves on."""
        meeting = self.meetings["past"]
        host, moderator = self.people["leader"], self.people["ines.duarte"]
        start = self._meeting_start(PAST_MEETING)

        def minute(n: int):
            return _clock_at(start + timedelta(minutes=n))

        with minute(0):
            meeting_services.meeting_start(meeting=meeting, actor=host)
        for n, spec in enumerate(QUESTIONS, start=1):
            with minute(n):
                self._question_ask(spec)
        for n, spec in enumerate(QUESTIONS, start=len(QUESTIONS) + 1):
            with minute(n):
                self._question_decide(spec, moderator)
        for n, item in enumerate(meeting.items.order_by("position")):
            if n:
                with minute(12 * n):
                    meeting_services.meeting_advance(meeting=meeting, actor=moderator)
            with minute(12 * n + 10):
                meeting_services.agenda_item_notes(
                    item=item, author=moderator, notes=PAST_MEETING_NOTES[self._item_key(item)]
                )
                meeting_services.agenda_item_mark_discussed(item=item, actor=host)
        with minute(12 * meeting.items.count() + 5):
            meeting_services.meeting_end(meeting=meeting, actor=moderator)

    def _item_key(self, item: AgendaItem) -> str:
        return next(k for k, it in self.agenda.items() if it.pk == item.pk)

    def _question_ask(self, spec: DemoQuestion) -> None:
        # The demo's receipt is derived, so that it can be printed again.
        question, _ = meeting_services.question_ask(
            meeting=self.meetings["past"],
            asker=self.people[spec.asker],
            text=spec.text,
            anonymous=spec.anonymous,
            receipt=self.question_receipts.get(spec.key),
        )
        self.questions[spec.key] = question

    def _question_decide(self, spec: DemoQuestion, moderator: User) -> None:
        question = self.questions[spec.key]
        if not spec.approved:
            meeting_services.question_reject(question=question, actor=moderator)
            return
        self.concerns[spec.key] = meeting_services.question_approve(
            question=question, actor=moderator
        )
        voters = random.Random(f"{spec.key}:live").sample(sorted(self.people), spec.live_votes)
        for username in voters:
            meeting_services.question_vote(question=question, voter=self.people[username])
        if spec.highlighted:
            meeting_services.question_highlight(question=question, actor=moderator)

    def _upcoming_agenda(self, moderator: User) -> None:
        meeting = self.meetings["upcoming"]
        meeting_services.agenda_propose(meeting=meeting, moderator=moderator)
        meeting_services.agenda_item_add(
            meeting=meeting, moderator=moderator, topic=UPCOMING_TOPIC, time_box_minutes=20
        )

    def _withdraw(self, spec: DemoConcern) -> None:
        if spec.anonymous:
            services.concern_withdraw_by_receipt(receipt=self.receipts[spec.key])
        else:
            services.concern_withdraw(concern=self._get(spec), author=self.people[spec.author])


DIGEST_READERS = ("employee", "moderator", "leader", "admin")


def _scheduled_tasks() -> None:
    """What Celery beat runs on every day of the demo's history."""
    services.deadlines_enforce()
    response_services.commitments_mark_missed()
    services.publication_batch()
    ledger_flush_deferred()
    ledger_head_publish()


def is_seeded() -> bool:
    return User.objects.filter(email__iendswith=f"@{EMAIL_DOMAIN}").exists()


class Command(BaseCommand):
    help = (
        f"Creates the demo organisation {ORGANISATION_NAME}: people in every role, all "
        f"sharing the password '{DEMO_PASSWORD}', concerns in every state and all-hands "
        "meetings. Only fills "
        "an empty database; run again, it changes nothing and prints the receipts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off. Every demo account's password is public.",
        )

    def handle(self, *args, force: bool = False, **options) -> None:
        if is_seeded():
            self.stdout.write(f"{ORGANISATION_NAME} is already seeded; nothing changed.")
        else:
            self._refuse_unless_safe(force=force)
            with transaction.atomic():
                DemoOrganisation().build()
            self.stdout.write(self.style.SUCCESS(f"Seeded {ORGANISATION_NAME}."))
        self._summary()

    def _refuse_unless_safe(self, *, force: bool) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off, so this looks like a real installation, and every demo "
                f"account would have the public password '{DEMO_PASSWORD}'. "
                "Use --force if you mean it."
            )
        for model in (User, Concern, Department, Tag, Meeting):
            if model.objects.exists():
                raise CommandError(
                    f"This database already holds {model._meta.verbose_name_plural} that are "
                    "not the demo's. seed_demo only fills an empty database: point "
                    "SQLITE_PATH or DATABASE_URL at a new one."
                )

    def _summary(self) -> None:
        write = self.stdout.write
        write(f"\nEvery demo account's password: {DEMO_PASSWORD}")
        for role in Role:
            usernames = [u for u, _, _, r, _ in PEOPLE if r == role]
            shown = ", ".join(usernames[:4])
            more = f" and {len(usernames) - 4} more" if len(usernames) > 4 else ""
            write(f"  {role.label + 's':<11}{len(usernames):>3}  {shown}{more}")
        write("  (admins can also sign in to /admin/)")
        write(f"\nAccess phrase for the anonymous form at /concerns/anonymous/: {ACCESS_PHRASE}")
        write("\nReceipts of the anonymous demo concerns (look them up at /receipt/):")
        write(f"  {'RECEIPT':<34}  {'STATUS':<12}  TITLE")
        receipts = [(spec.title, receipt) for spec, receipt in demo_receipts()]
        receipts += [(spec.text, receipt) for spec, receipt in demo_question_receipts()]
        for title, receipt in receipts:
            try:
                concern = services.receipt_concern(receipt=receipt)
            except ReceiptNotFound:
                write(
                    f"  {receipt:<34}  {'-':<12}  {title} (opens nothing: ANONYMITY_KEY "
                    "differs from the one used to seed)"
                )
            else:
                status = Status(concern.status).label
                write(f"  {receipt:<34}  {status:<12}  {concern.title}")
        write("  (the last one was asked anonymously at an all-hands, as a live question)")
        self._meetings_summary()

    def _meetings_summary(self) -> None:
        write = self.stdout.write
        write("\nAll-hands meetings (moderators and hosts also get a console):")
        for meeting in Meeting.objects.order_by("scheduled_start"):
            page = meeting_selectors.meeting_page(meeting_id=meeting.pk, for_drivers=True)
            if meeting.status == MeetingStatus.ENDED:
                state = (
                    f"{page.discussed_answered} of {page.discussed_total} discussed items "
                    "answered in writing"
                )
            else:
                state = f"{len(page.items)} items on the agenda"
            when = timezone.localtime(meeting.scheduled_start)
            write(
                f"  {meeting.get_absolute_url():<14}  {meeting.get_status_display():<8}  "
                f"{when:%-d %b %Y %H:%M}  {meeting.title}: {state}"
            )
