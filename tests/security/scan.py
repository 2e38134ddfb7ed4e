"""Everything the system kept while something happened, and a search through it.

Tests of the anonymity promises run one anonymous action inside `kept_traces()`:

    with kept_traces() as kept:
        browser.post(...)
    assert kept.links_to(person=who, secrets=receipt) == []

`kept` then holds every database row that appeared, changed or went away (found by
reading every column of every table before and after, not by asking the models), every
log record from every logger at DEBUG, every entry of every cache and of every Redis
database the settings point at (which is where Celery's queue and the channel layer
live too), the in-memory channel layer and the mail outbox.

The search is deliberately blunt: text, case-insensitive, with sessions, pickles and
base64 and zlib wrappings opened, and with the unkeyed digests of every needle added
(an unkeyed hash of an address names the address). A later feature that writes a link
into a new table, log line, cache key or task is caught without changing the tests.
"""

import base64
import binascii
import hashlib
import json
import logging
import pickle
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import mail
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.db import connections
from django.test import TestCase
from django.utils import timezone

# Needles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Needle:
    """A value that must not be found. A whole number matches only where it is not
    part of a longer number, so a user id of 7 does not match a vote count of 17."""

    label: str
    value: str
    whole_number: bool = False

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError(f"The needle {self.label!r} is empty: it would match everything.")

    def found_in(self, haystack: str) -> bool:
        if self.whole_number:
            return re.search(rf"(?<![0-9]){re.escape(self.value)}(?![0-9])", haystack) is not None
        return self.value.casefold() in haystack.casefold()


def with_digests(needles: Iterable[Needle]) -> list[Needle]:
    """The needles and the unkeyed digests of each: anyone can compute those, so a
    stored sha256 of an address is as good as the address."""
    found: dict[tuple[str, bool], Needle] = {}
    for needle in needles:
        found.setdefault((needle.value, needle.whole_number), needle)
        for value in {needle.value, needle.value.lower()}:
            for algorithm in ("md5", "sha1", "sha256", "sha512"):
                digest = hashlib.new(algorithm, value.encode()).hexdigest()
                found.setdefault((digest, False), Needle(f"{needle.label} ({algorithm})", digest))
    return list(found.values())


# Turning whatever was stored into searchable text -----------------------------------

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def _opened(raw: bytes, *, unpickle: bool = False) -> str:
    """What a stored byte string says, with the usual wrappings taken off. Only values
    Django's caches wrote are unpickled, never bytes that merely decoded from base64."""
    parts = [raw.decode("utf-8", errors="replace")]
    if unpickle and raw[:1] == b"\x80":
        with suppress(Exception):  # not a pickle after all: the raw text is kept
            parts.append(_text(pickle.loads(raw)))  # noqa: S301 - the test's own cache
    with suppress(zlib.error, ValueError):
        parts.append(zlib.decompress(raw).decode("utf-8", errors="replace"))
    return "\n".join(parts)


def _unwrapped(text: str) -> str:
    """The text, followed by whatever its base64-looking runs decode to (Celery
    bodies, signed cookies and sessions are base64, sometimes of zlib)."""
    decoded = []
    for run in _BASE64_RUN.findall(text):
        padded = run + "=" * (-len(run) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(padded)
            except (binascii.Error, ValueError):
                continue
            decoded.append(_opened(raw))
    return "\n".join([text, *decoded]) if decoded else text


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        return _unwrapped(_opened(bytes(value)))
    if isinstance(value, dict | list | tuple | set | frozenset):
        return _unwrapped(json.dumps(value, default=_json_default, sort_keys=True))
    return _unwrapped(str(value))


def _json_default(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(map(str, value))
    if isinstance(value, bytes | bytearray | memoryview):
        return _text(value)
    return str(value)


def _column_text(table: str, column: str, value: object) -> str:
    text = _text(value)
    if table == "django_session" and column == "session_data" and value:
        # Sessions are signed and compressed: open them the way Django does.
        from django.contrib.sessions.backends.db import SessionStore

        text += "\n" + json.dumps(SessionStore().decode(str(value)), default=str)
    return text


# The database ----------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    rows: dict[tuple, tuple]


def _plain(value: object) -> object:
    return value.tobytes() if isinstance(value, memoryview) else value


def database_snapshot(using: str = "default") -> dict[str, Table]:
    """Every column of every row of every table, read with plain SQL."""
    connection = connections[using]
    tables: dict[str, Table] = {}
    with connection.cursor() as cursor:
        for name in connection.introspection.table_names(cursor):
            key_columns = tuple(
                connection.introspection.get_primary_key_columns(cursor, name) or ()
            )
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(name)}")
            columns = tuple(column[0] for column in cursor.description)
            rows: dict[tuple, tuple] = {}
            for fetched in cursor.fetchall():
                row = tuple(_plain(value) for value in fetched)
                key = tuple(row[columns.index(c)] for c in key_columns) if key_columns else row
                while key in rows:  # identical rows of a table without a primary key
                    key = (*key, "again")
                rows[key] = row
            tables[name] = Table(columns, key_columns, rows)
    return tables


@dataclass(frozen=True)
class RowChange:
    table: str
    kind: str  # "new", "changed" or "gone"
    key: tuple
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    before: tuple | None
    after: tuple | None

    @property
    def changed_columns(self) -> tuple[str, ...]:
        if self.kind == "new":
            return self.columns
        if self.kind == "gone":
            return ()
        return tuple(
            column
            for column, old, new in zip(self.columns, self.before, self.after, strict=True)
            if old != new
        )

    def values(self) -> dict[str, object]:
        row = self.after if self.after is not None else self.before
        return dict(zip(self.columns, row, strict=True))

    def old_values(self) -> dict[str, object]:
        return dict(zip(self.columns, self.before or (), strict=False))

    def __str__(self) -> str:
        key = ", ".join(map(str, self.key))
        return f"{self.kind} row of {self.table} ({key})"


def database_diff(before: dict[str, Table], after: dict[str, Table]) -> list[RowChange]:
    changes: list[RowChange] = []
    for name in sorted(set(before) | set(after)):
        old = before.get(name)
        new = after.get(name)
        table = new or old
        old_rows = old.rows if old else {}
        new_rows = new.rows if new else {}
        for key, row in new_rows.items():
            if key not in old_rows:
                kind, was = "new", None
            elif old_rows[key] != row:
                kind, was = "changed", old_rows[key]
            else:
                continue
            changes.append(RowChange(name, kind, key, table.columns, table.key_columns, was, row))
        for key, row in old_rows.items():
            if key not in new_rows:
                changes.append(
                    RowChange(name, "gone", key, table.columns, table.key_columns, row, None)
                )
    return changes


# Logs ------------------------------------------------------------------------------

_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._seen: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        # The handler sits on every logger, so a propagating record arrives repeatedly.
        if id(record) not in self._seen:
            self._seen.add(id(record))
            self.records.append(record)


@contextmanager
def _recording_logs(*, every_logger_at_debug: bool) -> Iterator[_Recorder]:
    """Records everything logged. With `every_logger_at_debug`, every logger is
    lowered to DEBUG; otherwise only the root is, as LOG_LEVEL=DEBUG would, and loggers
    keep the levels the settings give them."""
    recorder = _Recorder()
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in list(logging.root.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    disabled_below = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    for logger in loggers:
        logger.addHandler(recorder)  # on each one: some do not propagate
        logger.disabled = False
        if every_logger_at_debug or logger is root:
            logger.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        for logger, level, disabled in saved:
            logger.removeHandler(recorder)
            logger.setLevel(level)
            logger.disabled = disabled
        logging.disable(disabled_below)


def _record_text(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:
        message = str(record.msg)
    parts = [message, _text(record.msg), repr(record.args), _text(record.args)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts.extend(filter(None, [record.exc_text, record.stack_info]))
    for name, value in vars(record).items():
        if name not in _RECORD_ATTRIBUTES:
            parts.append(f"{name}={value!r} {_text(value) if isinstance(value, str) else ''}")
    return "\n".join(parts)


# Caches, Redis, the channel layer and mail -----------------------------------------


@dataclass(frozen=True)
class Trace:
    """One thing kept outside the database: a log record, cache entry, mail..."""

    place: str
    where: str
    text: str


def _cache_traces() -> Iterator[Trace]:
    for alias in settings.CACHES:
        backend = caches[alias]
        if isinstance(backend, LocMemCache):
            with backend._lock:
                entries = list(backend._cache.items())
            for key, stored in entries:
                text = _unwrapped(_opened(stored, unpickle=True))
                yield Trace("cache", f"{alias} {key}", f"{key}\n{text}")
        elif not isinstance(backend, RedisCache):
            raise NotImplementedError(f"The scan cannot read a {type(backend).__name__} yet.")


def _redis_urls() -> set[str]:
    urls: set[str] = set()
    for alias in settings.CACHES:
        backend = caches[alias]
        if isinstance(backend, RedisCache):
            urls.update(backend._servers)
    for layer in getattr(settings, "CHANNEL_LAYERS", {}).values():
        urls.update(
            host for host in layer.get("CONFIG", {}).get("hosts", ()) if isinstance(host, str)
        )
    for url in (getattr(settings, "REDIS_URL", ""), getattr(settings, "CELERY_BROKER_URL", "")):
        if url and url.startswith(("redis://", "rediss://", "unix://")):
            urls.add(url)
    return urls


def _redis_values(client, key: bytes) -> list[object]:
    kind = client.type(key).decode()
    if kind == "string":
        return [client.get(key)]
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "zset":
        return [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
    if kind == "hash":
        return [item for pair in client.hgetall(key).items() for item in pair]
    if kind == "stream":
        return [item for _, entry in client.xrange(key) for pair in entry.items() for item in pair]
    return []


def _redis_traces() -> Iterator[Trace]:
    import redis

    for url in sorted(_redis_urls()):
        client = redis.Redis.from_url(url)
        try:
            for key in client.scan_iter(count=1000):
                values = _redis_values(client, key)
                text = "\n".join([_text(key), *(_redis_value_text(v) for v in values)])
                yield Trace("redis", f"{url} {key.decode(errors='replace')}", text)
        finally:
            client.close()


def _redis_value_text(value: bytes) -> str:
    text = _unwrapped(_opened(value, unpickle=True))  # Django's RedisCache pickles
    try:  # the channel layer stores msgpack
        import msgpack

        text += "\n" + _text(msgpack.unpackb(value, raw=False, strict_map_key=False))
    except Exception:  # noqa: S110 - not msgpack: the plain text above is what it says
        pass
    return text


def _channel_layer_traces() -> Iterator[Trace]:
    from channels.layers import InMemoryChannelLayer, channel_layers

    for alias in getattr(settings, "CHANNEL_LAYERS", {}):
        layer = channel_layers[alias]
        if not isinstance(layer, InMemoryChannelLayer):
            continue  # a Redis layer is read with the rest of Redis
        for name, queue in list(layer.channels.items()):
            for message in list(queue._queue):
                yield Trace("channel layer", f"{alias} {name}", f"{name}\n{_text(message)}")
        for group, members in list(layer.groups.items()):
            yield Trace("channel layer", f"{alias} group {group}", f"{group}\n{_text(members)}")


def _mail_text(message) -> str:
    parts = [
        message.subject,
        message.body,
        message.from_email,
        *message.to,
        *message.cc,
        *message.bcc,
        *message.reply_to,
        _text(message.extra_headers),
        _text(getattr(message, "alternatives", [])),
        _text(
            [attachment[:2] for attachment in message.attachments if isinstance(attachment, tuple)]
        ),
    ]
    with suppress(Exception):  # an unencodable message is still searched field by field
        parts.append(_text(message.message().as_bytes()))
    return "\n".join(str(part) for part in parts)


# What was kept ---------------------------------------------------------------------

# A time stored for anonymous work must be coarse: a date, never the second. These find
# one inside any stored text too (a JSON payload, a task's arguments).
_DATETIME_IN_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_EPOCH_IN_TEXT = re.compile(r"(?<![0-9.])\d{10}(?:\d{3})?(?:\.\d+)?(?![0-9])")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _moments(value: object, text: str) -> Iterator[tuple[datetime, str]]:
    """Every point in time a stored value states, with how it states it."""
    if isinstance(value, datetime):
        yield _aware(value), str(value)
        return
    for match in _DATETIME_IN_TEXT.finditer(text):
        try:
            moment = datetime.fromisoformat(match.group().replace("Z", "+00:00"))
        except ValueError:
            continue
        yield _aware(moment), match.group()
    for match in _EPOCH_IN_TEXT.finditer(text):
        number = float(match.group())
        seconds = number / 1000 if len(match.group().split(".")[0]) == 13 else number
        try:
            yield datetime.fromtimestamp(seconds, UTC), f"{match.group()} since the epoch"
        except (OverflowError, OSError, ValueError):
            continue


@dataclass
class Kept:
    started: datetime
    finished: datetime | None = None
    changes: list[RowChange] = field(default_factory=list)
    log_records: list[logging.LogRecord] = field(default_factory=list)
    mails: list = field(default_factory=list)
    stores: list[Trace] = field(default_factory=list)

    # Reading ----------------------------------------------------------------------

    def rows(self, table: str, kind: str) -> list[dict[str, object]]:
        return [c.values() for c in self.changes if c.table == table and c.kind == kind]

    def traces(self) -> list[Trace]:
        logs = [
            Trace("log", f"{record.name} {record.levelname}", _record_text(record))
            for record in self.log_records
        ]
        mails = [Trace("mail", f"to {', '.join(m.to)}", _mail_text(m)) for m in self.mails]
        return [*logs, *self.stores, *mails]

    # Judging ----------------------------------------------------------------------

    def links_to(
        self,
        *,
        person: Sequence[Needle],
        secrets: Sequence[Needle] = (),
        work: Sequence[Needle] = (),
    ) -> list[str]:
        """Every place where what was kept names the person or holds a secret.

        `person`: what identifies whoever acted (id, names, session, address, browser).
        `secrets`: what only the anonymous person holds (a receipt).
        `work`: what describes the anonymous work (the concern's id, its text). A
        row that already named the person, such as their own account or session, may
        change; it must not pick up the work or a secret, nor a person's value that
        was not in that column before."""
        person, secrets = with_digests(person), with_digests(secrets)
        findings: list[str] = []
        for change in self.changes:
            if change.kind == "gone":
                continue
            old = change.old_values()
            new = change.values()
            was = {column: _column_text(change.table, column, v) for column, v in old.items()}
            names_the_person = any(
                needle.found_in(text) for text in was.values() for needle in person
            )
            for column in change.changed_columns:
                text = _column_text(change.table, column, new[column])
                needles = [*person, *secrets, *(work if names_the_person else ())]
                for needle in needles:
                    if needle.found_in(text) and not needle.found_in(was.get(column, "")):
                        findings.append(
                            f"database: {change}, column {column}: holds the {needle.label}"
                        )
        for trace in self.traces():
            for needle in [*person, *secrets]:
                if needle.found_in(trace.text):
                    findings.append(f"{trace.place}: {trace.where}: holds the {needle.label}")
        return findings

    def times_of_the_action(self) -> list[str]:
        """Every stored value that says when, to the second, the action happened."""
        start = self.started.replace(microsecond=0)
        end = self.finished
        findings: list[str] = []
        for change in self.changes:
            values = change.values()
            for column in change.changed_columns:
                value = values[column]
                text = _column_text(change.table, column, value)
                for moment, stated in _moments(value, text):
                    if start <= moment <= end:
                        findings.append(f"database: {change}, column {column}: stores {stated}")
        for trace in self.traces():
            if trace.place == "log":
                continue  # a log record's own time is the one thing a log must have
            for moment, stated in _moments(None, trace.text):
                if start <= moment <= end:
                    findings.append(f"{trace.place}: {trace.where}: stores {stated}")
        return findings

    def sequence_numbers(self) -> list[str]:
        """Every new row numbered by a sequence: its number orders the anonymous work
        among everything else, whose times are known."""
        findings = []
        for change in self.changes:
            if change.kind != "new":
                continue
            values = change.values()
            for column in change.key_columns:
                value = values[column]
                if isinstance(value, int) and not isinstance(value, bool):
                    findings.append(f"database: {change}: numbered {value} in {column}")
        return findings


@contextmanager
def kept_traces(*, every_logger_at_debug: bool = True, using: str = "default") -> Iterator[Kept]:
    """Runs the block and collects everything the system kept while it ran."""
    before = database_snapshot(using)
    outbox = getattr(mail, "outbox", None)
    mails_before = len(outbox) if outbox is not None else 0
    kept = Kept(started=timezone.now())
    # Tests run inside a transaction that is never committed, so work scheduled for
    # after the commit (tasks, channel and webhook events) is run here, where what it
    # logs, queues and stores is collected with the rest.
    with (
        _recording_logs(every_logger_at_debug=every_logger_at_debug) as recorder,
        TestCase.captureOnCommitCallbacks(using=using, execute=True),
    ):
        yield kept
    kept.finished = timezone.now() + timedelta(microseconds=1)
    kept.changes = database_diff(before, database_snapshot(using))
    kept.log_records = recorder.records
    kept.mails = list(getattr(mail, "outbox", [])[mails_before:])
    kept.stores = [*_cache_traces(), *_redis_traces(), *_channel_layer_traces()]
