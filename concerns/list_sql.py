"""The concern list's rows in one hand-written statement.

The list page, its search, its deep pages and the API list all read their rows here.
Built with the ORM, the statement cost about 1.6 ms of Python to build and compile and
1 ms more to become instances, four times what PostgreSQL took to answer it
(bench/README.md, problem 18). This is the same statement: the same predicates (so
the partial indexes `concern_listed_top` and `concern_listed_new` still serve the
sorts and a page still starts with an index seek at its position), with names from
the models through config/rawsql.py and every value a parameter. An ORM query
for the same filters and order stays in the tests as the oracle the pages must
agree with (tests/concerns/test_list_pages.py).

PostgreSQL searches its indexed `search_vector`; SQLite, the embedded default, falls
back to a case-insensitive substring match of every word, written as Django writes
`icontains` for the database in use.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import connection

from accounts.models import Department, User
from concerns.models import Concern, ConcernTag, Vote
from config import rawsql
from config.rawsql import quote

# What a row of the list shows (the card, the API): reading no more keeps the rows
# narrow. Anything else read from a row would cost a query per row: the query-count
# tests would catch it.
ROW_FIELDS = (
    "id",
    "title",
    "status",
    "is_anonymous",
    "vote_count",
    "published_at",
    "response_due_on",
    "department_id",
)
# Built on first use, for the database in use.
_row = functools.cache(lambda: rawsql.Columns(Concern, "c", ROW_FIELDS))


@dataclass(frozen=True)
class RowQuery:
    """Which listed concerns, in which order, from where. `search` is the words as the
    person typed them (None: no search); `trending_since` counts votes cast from that
    day (the trending sort); `position` with `forward` starts the page after (or, going
    back, before) that position of the sort's keys."""

    statuses: Sequence[str]
    keys: Sequence[str]
    limit: int
    tag_id: int | None = None
    search: str | None = None
    search_terms: Sequence[str] = ()
    trending_since: date | None = None
    position: Sequence | None = None
    forward: bool = True


def concern_rows(query: RowQuery) -> list[Concern]:
    """The rows, as Concern instances holding ROW_FIELDS and `tag_ids` (comma-separated
    or None), `shown_department_name` (None where the department may not be named),
    and `rank` / `recent_votes` where the query computes them."""
    sql, params, extras = _statement(query)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    columns = _row()
    converters = columns.converters()
    rows = []
    width = len(columns)
    for row in found:
        concern = columns.read(row, converters=converters)
        for offset, name in enumerate(extras):
            setattr(concern, name, row[width + offset])
        rows.append(concern)
    return rows


def _statement(query: RowQuery) -> tuple[str, list, list[str]]:
    """The SQL, its parameters in order, and the names of the columns after ROW_FIELDS."""
    concern, concern_tag, vote = (_table(m) for m in (Concern, ConcernTag, Vote))
    c = "c"
    cid = f"{c}.{_column(Concern, 'id')}"
    select_sql = [_row().sql, _tag_ids_sql(concern_tag, cid), _department_sql(c)]
    select_params: list = []
    extras = ["tag_ids", "shown_department_name"]
    expressions = {
        "vote_count": f"{c}.{_column(Concern, 'vote_count')}",
        "published_at": f"{c}.{_column(Concern, 'published_at')}",
        "pk": cid,
    }
    expression_params: dict[str, list] = {}

    where = [
        f"{c}.{_column(Concern, 'published_at')} IS NOT NULL",
        f"{c}.{_column(Concern, 'status')} IN ({_marks(query.statuses)})",
    ]
    where_params: list = list(query.statuses)
    if query.tag_id is not None:
        where.append(
            f"EXISTS (SELECT 1 FROM {concern_tag} t2 WHERE t2.{_column(ConcernTag, 'concern')}"
            f" = {cid} AND t2.{_column(ConcernTag, 'tag')} = %s)"
        )
        where_params.append(query.tag_id)
    if query.search is not None:
        rank_sql, rank_params = _search(query, c, where, where_params)
        expressions["rank"], expression_params["rank"] = rank_sql, rank_params
        select_sql.append(f"{rank_sql} AS {quote('rank')}")
        select_params += rank_params
        extras.append("rank")
    if query.trending_since is not None:
        since = _prep(Vote, "cast_on", query.trending_since)
        recent = (
            f"COALESCE((SELECT COUNT(*) FROM {vote} v WHERE v.{_column(Vote, 'concern')} = {cid}"
            f" AND v.{_column(Vote, 'cast_on')} >= %s), 0)"
        )
        expressions["recent_votes"], expression_params["recent_votes"] = recent, [since]
        select_sql.append(f"{recent} AS {quote('recent_votes')}")
        select_params.append(since)
        extras.append("recent_votes")

    key_sql = [expressions[key] for key in query.keys]
    if query.position is not None:
        # A row-wise comparison, (votes, published, id) < (…), which PostgreSQL answers
        # by starting the index walk at the position instead of skipping rows up to it.
        for key in query.keys:
            where_params += expression_params.get(key, [])
        where.append(
            f"({', '.join(key_sql)}) {'<' if query.forward else '>'} ({_marks(query.keys)})"
        )
        where_params += [
            _prep_key(key, value) for key, value in zip(query.keys, query.position, strict=True)
        ]
    direction = "DESC" if query.forward else "ASC"
    order = ", ".join(f"{key_sql_} {direction}" for key_sql_ in _order_terms(query, key_sql))
    sql = (
        f"SELECT {', '.join(select_sql)} FROM {concern} {c} WHERE {' AND '.join(where)}"
        f" ORDER BY {order} LIMIT %s"
    )
    return sql, [*select_params, *where_params, query.limit], extras


def voted_hashes(pairs: Sequence[tuple]) -> set[str]:
    """Which of these (concern id, voter hash) pairs have a vote: one probe of the
    unique index each (two IN lists would probe every concern with every hash)."""
    if not pairs:
        return set()
    vote = _table(Vote)
    concern, hashed = _column(Vote, "concern"), _column(Vote, "voter_hash")
    pair = f"({concern} = %s AND {hashed} = %s)"
    params = []
    for concern_id, voter_hash in pairs:
        params += [_prep(Concern, "id", concern_id), voter_hash]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {hashed} FROM {vote} WHERE {' OR '.join([pair] * len(pairs))}", params
        )
        return {row[0] for row in cursor.fetchall()}


def _order_terms(query: RowQuery, key_sql: list[str]) -> list[str]:
    """ORDER BY names the computed keys by their output column: repeating the
    expression would repeat its parameters."""
    return [
        quote(key) if key in ("rank", "recent_votes") else sql
        for key, sql in zip(query.keys, key_sql, strict=True)
    ]


def full_text_search() -> bool:
    return connection.vendor == "postgresql"


def _search(query: RowQuery, c: str, where: list[str], params: list) -> tuple[str, list]:
    """Adds the search's condition; the rank's expression and parameters."""
    if not query.search_terms:
        return "0.0", []
    if full_text_search():
        matches = "websearch_to_tsquery('english', %s)"
        # A generated column of migration 0002 (PostgreSQL only), not a model field.
        vector = f"{c}.{quote('search_vector')}"
        where.append(f"{vector} @@ {matches}")
        params.append(query.search)
        # float8, not ts_rank's float4: a page cursor carries the rank through JSON and
        # back, and only a double survives that exactly.
        return f"ts_rank({vector}, {matches})::double precision", [query.search]
    # Every word in the title or the body, as the ORM's `icontains` writes it for the
    # database in use (case-insensitive on both).
    cast, operator = connection.ops.lookup_cast("icontains"), connection.operators["icontains"]
    title, body = (cast % f"{c}.{_column(Concern, name)}" for name in ("title", "body"))
    for term in query.search_terms:
        where.append(f"({title} {operator % '%s'} OR {body} {operator % '%s'})")
        like = f"%{connection.ops.prep_for_like_query(term)}%"
        params += [like, like]
    return "0.0", []


def _tag_ids_sql(concern_tag: str, cid: str) -> str:
    """A concern's tag ids, comma-separated; their names come from the cached tag list."""
    aggregate = "STRING_AGG" if connection.vendor == "postgresql" else "GROUP_CONCAT"
    tag = f"t.{_column(ConcernTag, 'tag')}"
    return (
        f"(SELECT {aggregate}(CAST({tag} AS TEXT), ',') FROM {concern_tag} t"
        f" WHERE t.{_column(ConcernTag, 'concern')} = {cid}) AS tag_ids"
    )


def _department_sql(c: str) -> str:
    """The department's name where the group is large enough that naming it cannot
    point at a person (at least ANONYMITY_MIN_GROUP_SIZE active people: an EXISTS that
    looks for the k-th, so it reads at most k of them), else NULL. A subquery rather
    than a join, so it runs only for the page's rows, after sorting. k is an integer
    setting, not input."""
    department, user = _table(Department), _table(User)
    d_id = f"d.{_column(Department, 'id')}"
    sql = (
        f"(SELECT d.{_column(Department, 'name')} FROM {department} d"
        f" WHERE {d_id} = {c}.{_column(Concern, 'department')}"
    )
    k = int(settings.ANONYMITY_MIN_GROUP_SIZE)
    if k > 0:
        sql += (
            f" AND EXISTS (SELECT 1 FROM {user} u WHERE u.{_column(User, 'department')} = {d_id}"
            f" AND u.{_column(User, 'is_active')} LIMIT 1 OFFSET {k - 1})"
        )
    return sql + ") AS shown_department_name"


def _prep_key(key: str, value):
    if key in ("rank", "recent_votes"):
        return value
    return _prep(Concern, "id" if key == "pk" else key, value)


def _prep(model, name: str, value):
    """A value as the database adapter takes it for that column (on SQLite a UUID is
    hex and a datetime text)."""
    return model._meta.get_field(name).get_db_prep_value(value, connection)


def _table(model) -> str:
    return quote(model._meta.db_table)


def _column(model, name: str) -> str:
    return quote(model._meta.get_field(name).column)


def _marks(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))
