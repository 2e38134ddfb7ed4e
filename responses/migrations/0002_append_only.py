"""On PostgreSQL the database itself refuses to rewrite published versions and
commitment updates, whatever SQL the application sends."""

from django.db import migrations

TRIGGERS = """
CREATE TRIGGER response_version_append_only BEFORE UPDATE OR DELETE ON responses_responseversion
FOR EACH ROW EXECUTE FUNCTION answerable_refuse_rewrite();
CREATE TRIGGER commitment_update_append_only BEFORE UPDATE OR DELETE ON responses_commitmentupdate
FOR EACH ROW EXECUTE FUNCTION answerable_refuse_rewrite();
"""
DROP = """
DROP TRIGGER IF EXISTS response_version_append_only ON responses_responseversion;
DROP TRIGGER IF EXISTS commitment_update_append_only ON responses_commitmentupdate;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGERS)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("responses", "0001_initial"), ("ledger", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
