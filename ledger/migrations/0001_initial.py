from django.db import migrations, models

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION answerable_refuse_rewrite() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'Answerable keeps this record forever: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
LEDGER_TRIGGER = """
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_ledgerentry
FOR EACH ROW EXECUTE FUNCTION answerable_refuse_rewrite();
"""


def forward(apps, schema_editor):
    apps.get_model("ledger", "LedgerHead").objects.get_or_create(pk=1)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_FUNCTION, params=None)
        schema_editor.execute(LEDGER_TRIGGER)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_ledgerentry")


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="LedgerEntry",
            fields=[
                ("sequence", models.PositiveBigIntegerField(primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=40)),
                ("payload", models.TextField(help_text="Canonical JSON: sorted keys, no spaces, UTF-8.")),
                ("previous_hash", models.CharField(max_length=64)),
                ("entry_hash", models.CharField(max_length=64, unique=True)),
                ("recorded_on", models.DateField()),
            ],
            options={"ordering": ["sequence"], "verbose_name_plural": "ledger entries"},
        ),
        migrations.CreateModel(
            name="LedgerHead",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("sequence", models.PositiveBigIntegerField(default=0)),
                ("entry_hash", models.CharField(default="0" * 64, max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name="DeferredEntry",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=40)),
                ("payload", models.TextField()),
                ("recorded_on", models.DateField()),
            ],
        ),
        migrations.RunPython(forward, backward),
    ]
