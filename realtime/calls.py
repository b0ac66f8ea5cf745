"""20-second call invites: ephemeral, in the shared cache (Redis / local memory).

An invite is one cache entry ``callinv:<id>`` (TTL a little over the invite's life) plus two
``cache.add`` (SET NX) slots: ``callinv:from:<sender>`` and ``callinv:to:<target>``, so a user
has at most one outgoing and one incoming pending invite, decided atomically by the store.
Answering claims the invite with ``cache.delete`` — only one caller sees ``True`` — so an invite
is accepted, declined, cancelled or expired exactly once, whichever process handles it.
Expiry is a deadline in a shared sorted set popped by the sweeper of whichever process gets
there first (``presence.store().due_pop``), which tells both sides.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache

from accounts.models import User
from config import clock, events, ratelimit
from config.errors import ApplicationError
import presence
from social import errors, selectors, services
from accounts.selectors import user_card
from social.models import Room

_DUE = "callinv"


def _key(invite_id: str) -> str:
    return f"callinv:{invite_id}"


def _from_key(user_id: int) -> str:
    return f"callinv:from:{user_id}"


def _to_key(user_id: int) -> str:
    return f"callinv:to:{user_id}"


def _ttl() -> int:
    return int(settings.INVITE_TTL_SECONDS) + 5


def _public(invite: dict) -> events.Invite:
    return {
        "id": invite["id"],
        "mode": invite["mode"],
        "seconds": invite["seconds"],
        "expires_at": invite["expires_at"],
        "from": invite["from_card"],
        "to": invite["to_card"],
    }


def _check_ban(user_id: int, *, own: bool) -> None:
    from moderation.selectors import user_ban_active

    if user_ban_active(user_id=user_id):
        raise errors.Banned() if own else errors.NotAvailable()


def invite_send(*, sender: User, to_public_id, mode: str, seconds: int) -> dict:
    """Invite ``to`` to a ``mode`` call of ``seconds``.  Refused (stable codes) when: the target is
    me or unknown, not available, either of us in a call, a pending invite exists for either,
    the pair is in cooldown, either blocked the other, either is banned, or a rate limit (per
    sender, per receiver; atomic counters) is exceeded.  The target's sockets get
    ``invite.received``; returns the invite as the sender sees it."""
    if mode not in Room.Mode.values:
        raise ApplicationError("mode must be video or text.", code="invalid", fields={"mode": ["Unknown mode."]})
    if not (settings.CALL_MIN_SECONDS <= seconds <= settings.CALL_MAX_SECONDS):
        raise ApplicationError(
            f"seconds must be between {settings.CALL_MIN_SECONDS} and {settings.CALL_MAX_SECONDS}.",
            code="invalid",
            fields={"seconds": ["Out of bounds."]},
        )
    target = User.objects.filter(public_id=to_public_id, is_active=True, deleted_at__isnull=True).first()
    if target is None:
        raise errors.UserNotFound()
    if target.pk == sender.pk:
        raise errors.InvalidTarget("You can't invite yourself.")
    _check_ban(sender.pk, own=True)
    _check_ban(target.pk, own=False)
    ratelimit.check(
        f"callinv:s:{sender.pk}", limit=settings.INVITE_RATE_SENDER_PER_MINUTE, window=60,
        message="You are sending invites too fast.",
    )
    ratelimit.check(
        f"callinv:r:{target.pk}", limit=settings.INVITE_RATE_RECEIVER_PER_MINUTE, window=60,
        message="That user is receiving too many invites; try later.",
    )
    busy = services.rooms_finish_overdue(user_ids=[sender.pk, target.pk])
    if sender.pk in busy:
        raise errors.AlreadyInCall()
    if target.pk in busy:
        raise errors.PeerInCall()
    if presence.user_states(user_ids=[target.pk])[target.pk] != presence.AVAILABLE:
        raise errors.NotAvailable()
    if selectors.blocked_either_way(user_id=sender.pk, other_id=target.pk):
        raise errors.Blocked()
    until = selectors.cooldown_until(user_id=sender.pk, other_id=target.pk)
    if until is not None:
        raise errors.InCooldown(extra={"cooldown_until": until.isoformat()})

    invite_id = uuid.uuid4().hex
    now = clock.now()
    expires = now + timedelta(seconds=settings.INVITE_TTL_SECONDS)
    if not cache.add(_from_key(sender.pk), invite_id, timeout=_ttl()):
        raise errors.InvitePending("You already have a pending invite; cancel it first.")
    if not cache.add(_to_key(target.pk), invite_id, timeout=_ttl()):
        cache.delete(_from_key(sender.pk))
        raise errors.InvitePending("That user already has a pending invite.")
    invite = {
        "id": invite_id,
        "from_id": sender.pk,
        "to_id": target.pk,
        "mode": mode,
        "seconds": seconds,
        "created_at": now.isoformat(),
        "expires_at": expires.isoformat(),
        "from_card": user_card(sender),
        "to_card": user_card(target),
    }
    cache.set(_key(invite_id), invite, timeout=_ttl())
    presence.store().due_add(_DUE, invite_id, expires.timestamp())
    public = _public(invite)
    events.send_after_commit(users=target.pk, message=events.invite_received(invite=public))
    events.send_after_commit(users=sender.pk, message=events.invite_sent(invite=public))
    return public


def _claim(invite_id: str) -> dict | None:
    """Take the invite out of the store; only one caller ever gets it."""
    invite = cache.get(_key(invite_id))
    if invite is None or not cache.delete(_key(invite_id)):
        return None
    presence.store().due_remove(_DUE, invite_id)
    for key in (_from_key(invite["from_id"]), _to_key(invite["to_id"])):
        if cache.get(key) == invite_id:
            cache.delete(key)
    return invite


def _expired(invite: dict, now: datetime) -> bool:
    return datetime.fromisoformat(invite["expires_at"]) <= now


def _take(invite_id: str, user_id: int, role: str) -> dict:
    """Claim an invite on behalf of its sender (``role="from"``) or target (``"to"``)."""
    invite = cache.get(_key(str(invite_id)))
    if invite is None or invite[f"{role}_id"] != user_id:
        raise errors.InviteNotFound()
    invite = _claim(str(invite_id))
    if invite is None:  # answered, cancelled or expired meanwhile
        raise errors.InviteNotFound()
    return invite


def _tell_both(invite: dict, event) -> None:
    """``event`` (an ``invite.*`` constructor of ``config.events``) to both sides."""
    events.send_after_commit(users=(invite["from_id"], invite["to_id"]), message=event(invite_id=invite["id"]))


def invite_accept(*, user: User, invite_id: str) -> dict:
    """The target accepts: the room is created (one transaction) and both get ``room.started``."""
    invite = _take(invite_id, user.pk, "to")
    if _expired(invite, clock.now()):
        _tell_both(invite, events.invite_expired)
        raise errors.InviteNotFound("That invite has expired.")
    try:
        room = services.room_start(
            inviter_id=invite["from_id"], invitee_id=invite["to_id"], mode=invite["mode"], seconds=invite["seconds"]
        )
    except ApplicationError as exc:
        events.send_after_commit(
            users=invite["from_id"],
            message=events.invite_failed(invite_id=invite["id"], code=exc.code, message=exc.message),
        )
        raise
    return {"room_id": str(room.pk)}


def invite_decline(*, user: User, invite_id: str) -> None:
    _tell_both(_take(invite_id, user.pk, "to"), events.invite_declined)


def invite_cancel(*, user: User, invite_id: str) -> None:
    _tell_both(_take(invite_id, user.pk, "from"), events.invite_cancelled)



def invites_expire() -> int:
    """Expire invites whose 20 s are up (each told to both sides once, by one process)."""
    now = clock.now()
    count = 0
    for invite_id in presence.store().due_pop(_DUE, now.timestamp()):
        invite = _claim(invite_id)
        if invite is not None:
            _tell_both(invite, events.invite_expired)
            count += 1
    return count
