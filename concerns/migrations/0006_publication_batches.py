"""Publication in batches (issue 7, timing): an approved anonymous concern waits in
review with the approving moderator until the next batch; a response made due by
support holds its announcements until then."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("concerns", "0005_listed_sort_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="concern",
            name="approved_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="concern",
            name="announcement_held",
            field=models.BooleanField(default=False),
        ),
    ]
