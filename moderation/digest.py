"""E-mail digest of new cases for moderators who opt in.

A subscribed moderator gets at most one mail every ``MODERATION_DIGEST_MINUTES`` listing the
accounts with reports filed since their previous digest (nothing new: no mail, and the cut-off
stays).  Every server process may run ``digest_send_due`` (the sweeper does, about once a minute);
each subscription row is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` and its cut-off moved in
the same transaction, so a digest goes out once even with several processes.  Mail goes through
Django's mail backend (console in development).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Min

from config import clock
from moderation.models import CaseDigestSubscription, Report
from audit.services import audit_record

logger = logging.getLogger(__name__)


@transaction.atomic
def digest_subscribe(*, moderator, on: bool) -> bool:
    """Turn the moderator's digest on or off; True when it changed."""
    if on:
        _, created = CaseDigestSubscription.objects.get_or_create(moderator=moderator,
                                                                  defaults={"created_at": clock.now()})
        changed = created
    else:
        changed = CaseDigestSubscription.objects.filter(moderator=moderator).delete()[0] > 0
    if changed:
        audit_record(actor=moderator, action="digest.subscribe" if on else "digest.unsubscribe", target=moderator)
    return changed


def digest_subscribed(*, moderator) -> bool:
    return CaseDigestSubscription.objects.filter(moderator=moderator).exists()


def _new_cases_since(since):
    return list(
        Report.objects.filter(status=Report.Status.OPEN, created_at__gt=since)
        .order_by()
        .values("reported_id", "reported__name")
        .annotate(n=Count("pk"), first=Min("created_at"))
        .order_by("first")[:100]
    )


def digest_send_due(*, now=None) -> int:
    """Send every digest that is due; returns how many mails went out."""
    now = now or clock.now()
    every = timedelta(minutes=settings.MODERATION_DIGEST_MINUTES)
    sent = 0
    due = CaseDigestSubscription.objects.filter(moderator__is_active=True).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            sub = (CaseDigestSubscription.objects.select_for_update(skip_locked=True)
                   .select_related("moderator").filter(pk=pk).first())
            if sub is None:
                continue  # another process is on it
            since = sub.last_sent_at or sub.created_at
            if sub.last_sent_at is not None and now - sub.last_sent_at < every:
                continue
            cases = _new_cases_since(since)
            if not cases or not sub.moderator.email:
                continue
            lines = [f"- {c['reported__name']} (#{c['reported_id']}): {c['n']} new report{'s' if c['n'] != 1 else ''}"
                     for c in cases]
            body = (
                f"{len(cases)} account{'s' if len(cases) != 1 else ''} got new reports since "
                f"{since:%Y-%m-%d %H:%M} UTC:\n\n" + "\n".join(lines)
                + f"\n\nOpen the cases: {settings.PUBLIC_BASE_URL.rstrip('/')}/admin/cases/\n"
                "You get this because you turned on the case digest; turn it off on the Cases page.\n"
            )
            sub.last_sent_at = now
            sub.save(update_fields=["last_sent_at"])
            # Sent inside the claim: a mail that fails rolls the cut-off back, so it is retried.
            send_mail(f"[Campus Chat] {len(cases)} new case{'s' if len(cases) != 1 else ''}", body,
                      settings.DEFAULT_FROM_EMAIL, [sub.moderator.email])
            sent += 1
    return sent
