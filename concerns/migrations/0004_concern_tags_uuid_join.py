import uuid

import django.db.models.deletion
from django.db import migrations, models


def copy_tags(apps, schema_editor):
    Concern = apps.get_model("concerns", "Concern")
    ConcernTag = apps.get_model("concerns", "ConcernTag")
    old = Concern.tags.through.objects.values_list("concern_id", "tag_id")
    ConcernTag.objects.bulk_create(
        [ConcernTag(id=uuid.uuid4(), concern_id=c, tag_id=t) for c, t in old]
    )


class Migration(migrations.Migration):
    dependencies = [("concerns", "0003_concern_accountable_leader_and_more")]

    operations = [
        migrations.CreateModel(
            name="ConcernTag",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("concern", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="concerns.concern")),
                ("tag", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="concerns.tag")),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("concern", "tag"), name="concern_tag_once")
                ]
            },
        ),
        migrations.RunPython(copy_tags, migrations.RunPython.noop),
        migrations.RemoveField(model_name="concern", name="tags"),
        migrations.AddField(
            model_name="concern",
            name="tags",
            field=models.ManyToManyField(
                blank=True, related_name="concerns", through="concerns.ConcernTag", to="concerns.tag"
            ),
        ),
    ]
