"""``AuditLog`` moves from ``moderation`` to this app without touching the database: the table
(``moderation_auditlog``) and its index keep their names, only Django's state moves.  The
content type is renamed in place, so its permissions — and the Moderators group's
``view_auditlog`` — follow the model."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_move(apps, schema_editor, *, old: str, new: str):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias  # the database being migrated (move_database migrates a second alias)
    source = ContentType.objects.using(db).filter(app_label=old, model="auditlog").first()
    if source is None:
        return  # created later by post_migrate under the new label
    target = ContentType.objects.using(db).filter(app_label=new, model="auditlog").first()
    if target is not None:  # both exist (post_migrate ran in between): keep the old one's grants
        for perm in Permission.objects.using(db).filter(content_type=source):
            twin = Permission.objects.using(db).filter(content_type=target, codename=perm.codename).first()
            if twin is not None:
                for group in perm.group_set.all():
                    group.permissions.add(twin)
                for user in perm.user_set.all():
                    user.user_permissions.add(twin)
                perm.delete()
            else:
                perm.content_type = target
                perm.save(update_fields=["content_type"])
        source.delete()
        return
    source.app_label = new
    source.save(update_fields=["app_label"])


def forwards(apps, schema_editor):
    content_type_move(apps, schema_editor, old="moderation", new="audit")


def backwards(apps, schema_editor):
    content_type_move(apps, schema_editor, old="audit", new="moderation")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("moderation", "0004_case_digest"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditLog",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(db_index=True)),
                        ("actor_type", models.CharField(choices=[("user", "User"), ("moderator", "Moderator"), ("system", "System")], max_length=16)),
                        ("actor_label", models.CharField(blank=True, default="", max_length=200)),
                        ("action", models.CharField(db_index=True, max_length=64)),
                        ("target_type", models.CharField(blank=True, default="", max_length=64)),
                        ("target_id", models.CharField(blank=True, default="", max_length=64)),
                        ("target_label", models.CharField(blank=True, default="", max_length=200)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "moderation_auditlog",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["target_type", "target_id"], name="moderation__target__f4e8ea_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
