"""Indexes the concern list walks instead of sorting (bench/README.md, problems 5 and 11).

- `concern_listed_top` and `concern_listed_new` hold the list's two plain sorts, most
  supported and newest, over the listed statuses only (a partial index; SQLite has
  them too). They replace `(status, -vote_count)` and `(status, -published_at)`, which
  matched no sort of the list; the other readers of those (the agenda's most
  supported unanswered concerns, the digest's newly published ones) filter on listed
  statuses and are served by the new ones. So a vote, which rewrites a concern's
  row, still updates as many indexes as before.
- A vote's own index on `concern_id` goes: the unique `(concern_id, voter_hash)`
  index already serves every look-up by concern, so it was one more write per vote.
"""

import django.db.models.deletion
from django.db import migrations, models

LISTED = models.Q(("status__in", ("open", "response_due", "answered", "closed")))


class Migration(migrations.Migration):
    dependencies = [("concerns", "0004_concern_tags_uuid_join")]

    operations = [
        migrations.RemoveIndex(model_name="concern", name="concern_status_votes"),
        migrations.RemoveIndex(model_name="concern", name="concern_status_published"),
        migrations.AddIndex(
            model_name="concern",
            index=models.Index(
                condition=LISTED,
                fields=["-vote_count", "-published_at", "-id"],
                name="concern_listed_top",
            ),
        ),
        migrations.AddIndex(
            model_name="concern",
            index=models.Index(
                condition=LISTED, fields=["-published_at", "-id"], name="concern_listed_new"
            ),
        ),
        migrations.AlterField(
            model_name="vote",
            name="concern",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="votes",
                to="concerns.concern",
            ),
        ),
    ]
