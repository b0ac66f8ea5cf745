"""The client's IP address, the one way everyone computes it.

Behind ``TRUSTED_PROXY_COUNT`` reverse proxies, each proxy appends the address it received the
request from to ``X-Forwarded-For``.  The client is therefore the entry ``TRUSTED_PROXY_COUNT``
places from the right; anything further left was written by the client and is ignored.  With
no trusted proxy the header is ignored entirely, so a client can't spoof its way out of a ban
or a rate limit.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings


def ip_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``value`` spells (``[v6]`` brackets allowed), or None.  The one parser of client
    addresses (client IPs here, IP-ban matching in ``moderation.selectors``), memoised: it runs on
    every request and a handful of addresses recur."""
    value = value.strip()
    if len(value) > 64:  # longer than any address; and keeps the memo below small
        return None
    return _parse(value)


@functools.lru_cache(maxsize=4096)
def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _clean(value: str) -> str | None:
    address = ip_address(value)
    return str(address) if address is not None else None


def client_ip_from(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    hops = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if hops > 0 and forwarded_for:
        parts = [p for p in (s.strip() for s in forwarded_for.split(",")) if p]
        if len(parts) >= hops:
            found = _clean(parts[-hops])
            if found:
                return found
    return _clean(remote_addr or "") if remote_addr else None


def client_ip(request) -> str | None:
    meta = request.META
    return client_ip_from(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))


def client_ip_from_scope(scope: dict) -> str | None:
    """Same rule for an ASGI scope (WebSocket connect)."""
    client = scope.get("client") or (None, None)
    forwarded = None
    for name, value in scope.get("headers") or []:
        if name == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
    return client_ip_from(client[0], forwarded)
