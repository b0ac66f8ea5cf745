"""``AuditLog`` now lives in the ``audit`` app (see ``audit/migrations/0001_initial.py``): it
leaves this app's state only; the table stays where it is."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("moderation", "0004_case_digest"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditLog")],
            database_operations=[],
        ),
    ]
