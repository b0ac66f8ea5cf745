"""The ban gate for the REST API (in ``DEFAULT_PERMISSION_CLASSES`` after ``IsAuthenticated``)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import BasePermission

from moderation.errors import Banned
from moderation.selectors import user_ban_active


class NotBanned(BasePermission):
    """A banned user gets 403 ``{"error": {"code": "banned", "until", "reason"}}`` on every call
    except the few GETs that tell them about their account, ban and warnings, and the views marked
    ``allowed_while_banned`` (the appeal routes).

    Cost: one cache read on a hit (no query), one query on a miss.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            return True  # IsAuthenticated (or the view's own classes) decides
        if getattr(view, "allowed_while_banned", False):
            return True  # the appeal routes: a banned user may still appeal
        if request.method == "GET":
            match = getattr(request, "resolver_match", None)
            if match is not None and match.url_name in settings.MODERATION_BAN_EXEMPT_URL_NAMES:
                return True
        ban = user_ban_active(user_id=user.pk)
        if ban is not None:
            raise Banned(until=ban["until"], reason=ban["reason"])
        return True
