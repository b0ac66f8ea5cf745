"""ICE servers for WebRTC (``GET /api/rtc-config``).

TURN credentials follow the TURN REST convention (coturn ``use-auth-secret``): the username is
``<unix expiry>:<user public id>`` and the credential is base64(HMAC-SHA1(TURN_SECRET, username)),
so the TURN server checks them with the shared secret alone and they stop working at the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings

from config import clock


def turn_credentials(*, user_public_id, secret: str, ttl: int, now_ts: int) -> dict:
    username = f"{now_ts + ttl}:{user_public_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return {"username": username, "credential": base64.b64encode(digest).decode()}


def rtc_config_for_user(*, user) -> dict:
    servers = []
    if settings.STUN_URLS:
        servers.append({"urls": list(settings.STUN_URLS)})
    ttl = int(settings.TURN_CREDENTIAL_TTL_SECONDS)
    if settings.TURN_URLS and settings.TURN_SECRET:
        creds = turn_credentials(
            user_public_id=user.public_id, secret=settings.TURN_SECRET, ttl=ttl, now_ts=int(clock.now().timestamp())
        )
        servers.append({"urls": list(settings.TURN_URLS), **creds})
    elif settings.TURN_URLS:
        servers.append({"urls": list(settings.TURN_URLS)})  # a TURN server without REST auth
    return {"ice_servers": servers, "ttl_seconds": ttl}
