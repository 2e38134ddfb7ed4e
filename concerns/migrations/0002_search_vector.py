"""Full-text search on PostgreSQL: a generated tsvector column with a GIN index.

The column is maintained by the database, so no code path can forget to update it.
SQLite has no tsvector; there the selectors fall back to a substring search.
"""

from django.db import migrations

FORWARD = """
ALTER TABLE concerns_concern ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
    setweight(to_tsvector('english', coalesce(body, '')), 'B')
) STORED;
CREATE INDEX concern_search_vector ON concerns_concern USING GIN (search_vector);
"""

BACKWARD = """
DROP INDEX IF EXISTS concern_search_vector;
ALTER TABLE concerns_concern DROP COLUMN IF EXISTS search_vector;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("concerns", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
