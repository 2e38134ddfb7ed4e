"""Hand-written SQL for the few hottest statements, with the ORM's own conversions.

Building a query with the ORM costs 0.5-1 ms of Python per statement, more than the
statement itself takes in PostgreSQL on loopback (bench/README.md, problem 17). The
paths that run on every vote (the API token look-up, the vote's lock and count) use
fixed SQL instead. Table and column names come from the models, values are always
parameters, and rows become model instances through `Model.from_db` after the same
converters the ORM applies (dates stored as text on SQLite, for one), so the rest of
the code cannot tell the difference.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model
from django.db.models.expressions import Col


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


class Columns:
    """Some concrete fields of a model, selected under a table alias, read back into
    an instance. `sql` goes into a SELECT list; `read(row, start)` takes this model's
    values from a row that may hold other columns before and after them."""

    def __init__(self, model: type[Model], alias: str, names: Sequence[str] | None = None):
        fields = [
            field
            for field in model._meta.concrete_fields
            if names is None or field.attname in names or field.name in names
        ]
        self.model = model
        self.attnames = [field.attname for field in fields]
        self.sql = ", ".join(f"{quote(alias)}.{quote(field.column)}" for field in fields)
        self._columns = [Col(model._meta.db_table, field) for field in fields]

    def __len__(self) -> int:
        return len(self._columns)

    def converters(self) -> list[list]:
        """Each column's converters for the connection in use (asked each time a
        statement runs: settings such as the time zone may change)."""
        return [
            connection.ops.get_db_converters(column) + column.target.get_db_converters(connection)
            for column in self._columns
        ]

    def read(self, row: Sequence, start: int = 0, converters: list[list] | None = None) -> Model:
        """The instance a row's values make, converted as the ORM would; `converters`
        from converters(), when one statement's rows are read one after another."""
        values = []
        converters = self.converters() if converters is None else converters
        for column, value, its in zip(
            self._columns, row[start : start + len(self)], converters, strict=True
        ):
            for converter in its:
                value = converter(value, column, connection)
            values.append(value)
        return self.model.from_db(connection.alias, self.attnames, values)


def fetchone(sql: str, params: Sequence) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def execute(sql: str, params: Sequence) -> int:
    """Runs one statement; the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
