"""IP bans at the ASGI edge, for HTTP requests and WebSocket connects alike.

Wraps the whole ASGI application (``config/asgi.py``), so the check runs before Django or
Channels do any work and uses the same client-IP rule as everything else
(``config.net.client_ip_from_scope``: ``X-Forwarded-For`` only counts ``TRUSTED_PROXY_COUNT``
hops back, so a client cannot spoof its way out).  The list of active bans comes from the shared
cache (at most one read per ``IP_BAN_RECHECK_SECONDS`` per process; one query on a miss),
invalidated whenever a ban changes.
"""

from __future__ import annotations

import json
import logging

from channels.db import database_sync_to_async

from config.events import CLOSE_BANNED as WS_CLOSE_BANNED
from config.net import client_ip_from_scope
from config.resilience import is_unavailable
from moderation.errors import IpBanned, iso
from moderation.selectors import ip_ban_index_fresh, ip_ban_match, ip_bans_exist

logger = logging.getLogger(__name__)

# Health probes come from the load balancer / orchestrator and must keep working.
EXEMPT_HTTP_PATHS = frozenset({"/healthz", "/readyz"})


def _check(scope) -> dict | None:
    if not ip_bans_exist():  # the usual case: no address to work out
        return None
    return ip_ban_match(ip=client_ip_from_scope(scope))


class IpBanMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        kind = scope.get("type")
        if kind == "websocket" or (kind == "http" and scope.get("path") not in EXEMPT_HTTP_PATHS):
            if ip_ban_index_fresh():
                ban = _check(scope)  # pure CPU: this process's copy of the list is fresh
            else:
                # Not thread-sensitive: the check (a cache read; a query only on a miss) must not
                # queue behind the sync views Django runs on its one thread-sensitive executor.
                try:
                    ban = await database_sync_to_async(_check, thread_sensitive=False)(scope)
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    # The list can't be read (database down, nothing cached): let the request
                    # through — whatever it needs the database for answers ``unavailable`` (503)
                    # itself, and the next connect checks again.  Not a 500 at the edge.
                    logger.warning("IP ban list unreadable (%s): request let through", type(exc).__name__)
                    ban = None
            if ban is not None:
                if kind == "http":
                    await self._refuse_http(ban, send)
                else:
                    await self._refuse_websocket(ban, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse_http(ban: dict, send) -> None:
        err = IpBanned(extra={"until": iso(ban["until"])})
        body = json.dumps({"error": err.as_dict()}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": err.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _refuse_websocket(ban: dict, receive, send) -> None:
        """Accept, say why, close with 4403.  A refusal at the handshake would be an HTTP 403 a
        client can't tell from a refused ``Origin`` (and Daphne drops close reasons), so the socket
        is accepted only to carry the ``ip_banned`` error frame (docs/REALTIME.md)."""
        message = await receive()
        if message.get("type") != "websocket.connect":
            return
        err = IpBanned(extra={"until": iso(ban["until"])})
        frame = {"type": "error", **err.as_dict()}
        frame.pop("fields", None)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(frame)})
        await send({"type": "websocket.close", "code": WS_CLOSE_BANNED, "reason": "ip banned"})
