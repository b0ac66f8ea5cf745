"""Plain Django views (no DRF: these are HTML pages, not API) for the app shell.

Every page is the same shell; what differs is what sign-up starts with: ``/join/<code>`` fills
in the invite code of an invite QR code, ``/intro/<token>`` the intro (referral) link.  The app
routes everything else on the client (``#/queue``, ``#/room``, …)."""

from __future__ import annotations

import re

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

# what invite codes and referral tokens can look like (anything else is dropped, never echoed)
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _shell(request, *, invite_code: str = "", referral_token: str = ""):
    config = {
        "open_signup": settings.OPEN_SIGNUP,
        "invite_code": invite_code if _CODE.match(invite_code) else "",
        "referral_token": referral_token if _CODE.match(referral_token) else "",
        "call_min_seconds": settings.CALL_MIN_SECONDS,
        "call_max_seconds": settings.CALL_MAX_SECONDS,
        "invite_ttl_seconds": settings.INVITE_TTL_SECONDS,
        "usc_email_domain": settings.USC_EMAIL_DOMAIN,
    }
    resp = render(request, "web/app.html", {"config": config})
    resp["Cache-Control"] = "no-store"
    return resp


@require_GET
def app(request):
    return _shell(request)


@require_GET
def join(request, code: str):
    return _shell(request, invite_code=code)


@require_GET
def intro(request, token: str):
    return _shell(request, referral_token=token)
