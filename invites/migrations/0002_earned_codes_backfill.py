"""Earned codes are minted when the K-th completed call is recorded (``invites_codes_unlock``),
no longer by the first ``GET /api/invites/mine`` after it: mint the codes of the users who already
have K completed calls and never opened that page, so nobody who had earned a code loses it."""

import secrets

from django.conf import settings
from django.db import migrations
from django.db.models import Count
from django.utils import timezone

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # invites.services.CODE_ALPHABET at the time of writing


def backfill(apps, schema_editor):
    db = schema_editor.connection.alias
    InviteCode = apps.get_model("invites", "InviteCode")
    SessionCompletion = apps.get_model("social", "SessionCompletion")
    User = apps.get_model("accounts", "User")
    have = InviteCode.objects.using(db).filter(kind="user", created_by__isnull=False).values("created_by_id")
    due = (
        SessionCompletion.objects.using(db).exclude(user_id__in=have).values("user_id")
        .annotate(n=Count("id")).filter(n__gte=settings.INVITE_UNLOCK_CALLS).values_list("user_id", flat=True)
    )
    users = User.objects.using(db).filter(pk__in=list(due), is_active=True, deleted_at__isnull=True)
    taken = set(InviteCode.objects.using(db).values_list("code", flat=True))
    now = timezone.now()
    for user_id in users.values_list("pk", flat=True):
        code = None
        while code is None or code in taken:
            code = "".join(secrets.choice(ALPHABET) for _ in range(settings.INVITE_CODE_LENGTH))
        taken.add(code)
        InviteCode.objects.using(db).create(
            code=code, kind="user", created_by_id=user_id, max_uses=settings.INVITE_EARNED_USES, created_at=now
        )


class Migration(migrations.Migration):
    dependencies = [
        ("invites", "0001_initial"),
        ("accounts", "0001_initial"),
        ("social", "0002_room_messages_torch"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
