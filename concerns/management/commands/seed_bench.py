"""Seeds a benchmark database: by default 10,000 people, 100,000 concerns and
1,000,000 votes, written in bulk with PostgreSQL's COPY, with a progress bar.

It refuses to run unless the database is PostgreSQL and its name contains "bench"
(e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/answerable_bench), so the demo
or a production database can never be filled with benchmark rows.

The rows look like the product's own: every vote is the keyed hash of a real
(person, concern) pair, `vote_count` equals the rows, concerns past the response
threshold are due or answered, titles and bodies are searchable text. Run it again
with the same sizes and it does nothing; `--reset` empties the concern tables first.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/answerable_bench \\
        .venv/bin/python manage.py seed_bench            # full size, ~1-2 minutes
    ... manage.py seed_bench --concerns 10000 --votes 100000 --reset
"""

import hashlib
import hmac
import io
import random
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Department, Organisation, Role, User
from concerns.models import Concern, Status, Tag, Vote
from concerns.selectors import tags_forget

PERSON_PREFIX = "bench-person-"
EMAIL_DOMAIN = "bench.example"
DEPARTMENTS = [f"Bench department {n:02d}" for n in range(1, 13)]
TAGS = [
    "pay", "workload", "remote", "security", "leadership", "hiring", "customers",
    "ethics", "tooling", "office", "training", "benefits", "travel", "process",
    "communication", "diversity", "wellbeing", "promotion", "oncall", "budget",
]  # fmt: skip
# Words of very different frequency, so searches match from a handful to thousands.
COMMON = [
    "team", "work", "process", "manager", "office", "time", "policy", "people",
    "week", "project", "support", "change",
]  # fmt: skip
RARE = [
    "parking", "laptop", "canteen", "pension", "visa", "overtime", "bonus", "rota",
    "heating", "coffee", "badge", "firmware", "audit", "invoice", "relocation",
    "mentoring", "hackathon", "sabbatical", "payroll", "ergonomics", "vpn", "intranet",
    "recruiter", "appraisal", "contract", "roadmap", "outage", "escalation", "licence",
    "printer", "shuttle", "crèche", "stipend", "whistleblowing", "headcount", "reorg",
]  # fmt: skip
OPENERS = [
    "Why does the", "Can we fix the", "Nobody explained the", "Please review the",
    "What happened to the", "Stop ignoring the", "Who decided the", "Improve the",
]  # fmt: skip
FILLER = [
    "We", "raised", "this", "before", "and", "nothing", "changed.", "It", "affects",
    "several", "teams", "every", "week", "and", "people", "are", "losing", "time.", "A",
    "written", "answer", "with", "a", "date", "would", "help.",
]  # fmt: skip


class Progress:
    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, max(total, 1), 0
        self.started = time.monotonic()
        self._last = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= 0.2 or self.done >= self.total:
            self._last = now
            width = 30
            filled = min(width, width * self.done // self.total)
            rate = self.done / max(now - self.started, 1e-6)
            sys.stderr.write(
                f"\r{self.label:<9} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done:>9,}/{self.total:,} {rate:>9,.0f}/s"
            )
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write(f"  {time.monotonic() - self.started:.1f} s\n")


def _copy(table: str, columns: list[str], rows, progress: Progress, chunk: int = 20_000):
    """COPY rows (tuples of already-formatted text fields) into a table."""
    cols = ", ".join(columns)
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor, which speaks COPY
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                _copy_batch(cursor, table, cols, batch)
                progress.advance(len(batch))
                batch = []
        if batch:
            _copy_batch(cursor, table, cols, batch)
            progress.advance(len(batch))


def _copy_batch(cursor, table: str, cols: str, batch) -> None:
    buffer = io.StringIO()
    for row in batch:
        buffer.write("\t".join(row))
        buffer.write("\n")
    with cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # table: a constant
        copy.write(buffer.getvalue())


@contextmanager
def _indexes_deferred(tables: list[str]):
    """Drops the secondary indexes and unique constraints of the tables, and builds
    them again afterwards: one sorted build is far quicker than a million random
    inserts into each. Runs inside the seed's transaction, so an interrupted seed
    rolls back to the tables as they were. Primary keys stay."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s)",
            [tables],
        )
        uniques = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE contype IN ('p', 'u', 'x'))",
            [tables],
        )
        plain = cursor.fetchall()
        # Names and definitions come from the catalogue, not from input.
        for table, name, _definition in uniques:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in plain:
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    progress = Progress("indexes", len(uniques) + len(plain))
    with connection.cursor() as cursor:
        # The deferred foreign-key checks run now: an index cannot be built while
        # they are pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for _name, definition in plain:
            cursor.execute(definition)
            progress.advance(1)
        for table, name, definition in uniques:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            progress.advance(1)
    progress.close()


def _zipf_counts(n: int, total: int, cap: int, rng: random.Random) -> list[int]:
    """Vote counts for n concerns, summing to `total`, heavy at the top like real
    support (a few concerns with thousands, most with a handful)."""
    weights = [1.0 / (rank + 10) ** 0.9 for rank in range(n)]
    scale = total / sum(weights)
    counts = [min(cap, int(w * scale)) for w in weights]
    short = total - sum(counts)
    i = 0
    while short > 0:
        if counts[i % n] < cap:
            counts[i % n] += 1
            short -= 1
        i += 1
    rng.shuffle(counts)
    return counts


class Command(BaseCommand):
    help = "Seeds a benchmark database (never the demo one) with concerns and votes in bulk."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=10_000)
        parser.add_argument("--concerns", type=int, default=100_000)
        parser.add_argument("--votes", type=int, default=1_000_000)
        parser.add_argument("--seed", type=int, default=8)
        parser.add_argument("--reset", action="store_true", help="Empty the concern tables first.")

    def handle(self, *args, people, concerns, votes, seed, reset, **options):
        name = str(settings.DATABASES["default"]["NAME"])
        if connection.vendor != "postgresql" or "bench" not in name:
            raise CommandError(
                f"seed_bench only fills a PostgreSQL database named for the benchmark "
                f"(its name must contain 'bench'); this one is {connection.vendor} {name!r}."
            )
        if votes > people * concerns:
            raise CommandError("More votes than (person, concern) pairs.")
        rng = random.Random(seed)
        started = time.monotonic()
        self._people(people)
        if reset:
            with connection.cursor() as cursor:
                cursor.execute(
                    "TRUNCATE concerns_vote, concerns_concerntag, concerns_concernevent, "
                    "concerns_message, concerns_concern CASCADE"
                )
        have_concerns, have_votes = Concern.objects.count(), Vote.objects.count()
        if have_concerns >= concerns and have_votes >= votes:
            self.stdout.write(
                f"Already seeded: {have_concerns:,} concerns, {have_votes:,} votes "
                "(use --reset to seed again)."
            )
            return
        if have_concerns or have_votes:
            raise CommandError(
                f"The database holds {have_concerns:,} concerns and {have_votes:,} votes, "
                "fewer than asked: run again with --reset."
            )
        tables = ["concerns_concern", "concerns_concerntag", "concerns_vote"]
        with transaction.atomic(), _indexes_deferred(tables):
            self._concerns_and_votes(concerns, votes, rng)
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE concerns_concern, concerns_vote, concerns_concerntag, accounts_user"
            )
        self.stdout.write(
            f"Seeded {concerns:,} concerns and {votes:,} votes from "
            f"{User.objects.filter(username__startswith=PERSON_PREFIX).count():,} people "
            f"in {time.monotonic() - started:.1f} s."
        )

    def _people(self, people: int) -> None:
        Organisation.current()
        departments = {d.name: d for d in Department.objects.filter(name__in=DEPARTMENTS)}
        Department.objects.bulk_create(
            [Department(name=n) for n in DEPARTMENTS if n not in departments]
        )
        department_ids = list(
            Department.objects.filter(name__in=DEPARTMENTS).values_list("pk", flat=True)
        )
        Tag.objects.bulk_create(
            [Tag(name=t.capitalize(), slug=t) for t in TAGS], ignore_conflicts=True
        )
        tags_forget()  # bulk_create sends no signal: the cached tag list must go by hand
        existing = set(
            User.objects.filter(username__startswith=PERSON_PREFIX).values_list(
                "username", flat=True
            )
        )
        wanted = [f"{PERSON_PREFIX}{n:05d}" for n in range(1, people + 1)]
        missing = [u for u in wanted if u not in existing]
        if not missing:
            return
        progress = Progress("people", len(missing))
        now = timezone.now()
        for start in range(0, len(missing), 2000):
            chunk = missing[start : start + 2000]
            User.objects.bulk_create(
                [
                    User(
                        username=u,
                        email=f"{u}@{EMAIL_DOMAIN}",
                        first_name="Bench",
                        last_name=u[len(PERSON_PREFIX) :],
                        password="!bench-no-password",  # noqa: S106 - unusable on purpose
                        role=Role.EMPLOYEE,
                        department_id=department_ids[int(u[-5:]) % len(department_ids)],
                        date_joined=now,
                    )
                    for u in chunk
                ]
            )
            progress.advance(len(chunk))
        progress.close()

    def _concerns_and_votes(self, n_concerns: int, n_votes: int, rng: random.Random) -> None:
        person_ids = list(
            User.objects.filter(username__startswith=PERSON_PREFIX)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        department_ids = list(
            Department.objects.filter(name__in=DEPARTMENTS).values_list("pk", flat=True)
        )
        tag_ids = list(Tag.objects.filter(slug__in=TAGS).values_list("pk", flat=True))
        threshold = Organisation.current().response_vote_threshold
        today = timezone.localdate()
        now = timezone.now()
        counts = _zipf_counts(n_concerns, n_votes, len(person_ids), rng)
        ids = [uuid.uuid4() for _ in range(n_concerns)]

        def concern_rows():
            for i, concern_id in enumerate(ids):
                count = counts[i]
                words = rng.sample(COMMON, 2) + rng.sample(RARE, 1 + (i % 2))
                title = f"{rng.choice(OPENERS)} {' '.join(words)} ({i})"[:140]
                body = " ".join(rng.sample(FILLER, 12) + words + rng.sample(RARE, 2))
                anonymous = i % 4 == 0
                days_ago = rng.randint(1, 365)
                published = now - timedelta(days=days_ago, seconds=rng.randint(0, 86_000))
                due_since = due_on = "\\N"
                if count >= threshold:
                    status = Status.ANSWERED if i % 3 == 0 else Status.RESPONSE_DUE
                    since = today - timedelta(days=min(days_ago, 30))
                    due_since, due_on = since.isoformat(), (since + timedelta(14)).isoformat()
                elif i % 20 == 1:
                    status = Status.CLOSED
                elif i % 50 == 2:
                    status = Status.SUBMITTED
                    published = None
                else:
                    status = Status.OPEN
                yield (
                    str(concern_id),
                    title,
                    body,
                    f"<p>{body}</p>",
                    str(rng.choice(department_ids)),
                    status,
                    "t" if anonymous else "f",
                    "\\N" if anonymous else str(rng.choice(person_ids)),
                    (today - timedelta(days=days_ago)).isoformat(),
                    published.isoformat() if published else "\\N",
                    "",
                    str(count),
                    due_since,
                    due_on,
                    "f",  # announcement_held: every due one was announced long ago
                )

        progress = Progress("concerns", n_concerns)
        _copy(
            "concerns_concern",
            [
                "id",
                "title",
                "body",
                "body_html",
                "department_id",
                "status",
                "is_anonymous",
                "author_id",
                "submitted_on",
                "published_at",
                "rejection_reason",
                "vote_count",
                "response_due_since",
                "response_due_on",
                # NOT NULL without a database default: COPY must name it.
                "announcement_held",
            ],  # fmt: skip
            concern_rows(),
            progress,
        )
        progress.close()

        def tag_rows():
            for concern_id in ids:
                for tag_id in rng.sample(tag_ids, rng.randint(1, 3)):
                    yield (str(uuid.uuid4()), str(concern_id), str(tag_id))

        progress = Progress("tags", n_concerns * 2)
        _copy("concerns_concerntag", ["id", "concern_id", "tag_id"], tag_rows(), progress)
        progress.close()

        # The same keyed hash as concerns.anonymity.voter_hash, with the key set once.
        base = hmac.new(f"vote:{settings.ANONYMITY_KEY}".encode(), digestmod=hashlib.sha256)
        dates = [(today - timedelta(days=d)).isoformat() for d in range(90)]

        def vote_rows():
            for concern_id, count in zip(ids, counts, strict=True):
                if not count:
                    continue
                for person_id in rng.sample(person_ids, count):
                    mac = base.copy()
                    mac.update(f"{person_id}:{concern_id}".encode())
                    # Recent days weigh more, so "trending" differs from "top".
                    day = dates[min(89, int(rng.expovariate(1 / 15)))]
                    yield (str(uuid.uuid4()), str(concern_id), mac.hexdigest(), day)

        progress = Progress("votes", n_votes)
        _copy("concerns_vote", ["id", "concern_id", "voter_hash", "cast_on"], vote_rows(), progress)
        progress.close()
