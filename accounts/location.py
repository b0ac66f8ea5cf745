"""Profile extras: Instagram posts on the public card, and an opt-in, coarse, expiring location.

Privacy rules this module enforces (and the only place that reads or writes them):

* **Instagram posts** are public post URLs the user pastes; we accept only the shapes
  ``https://www.instagram.com/p/<id>/`` and ``…/reel/<id>/``, normalised (https, www host,
  no query string or fragment, one trailing slash), no duplicates, at most
  ``INSTAGRAM_POSTS_MAX``.  We never fetch instagram.com.
* **Location** is stored only as the centre of a grid cell of ``LOCATION_GRID_METERS`` (never the
  precise input), expires ``LOCATION_TTL_HOURS`` after it was set (read as absent afterwards,
  deleted by the ``locations_expired`` purger), and is shown to other users only as a distance
  bucket between the two coarsened points, when both are live.  Nobody else ever receives
  coordinates; a superuser may look at them in the admin (``moderation.services``, audited).
"""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, F, FloatField, Value

from accounts.models import User, UserLocation
from config import clock
from config.errors import ApplicationError

# --- Instagram posts --------------------------------------------------------------------------
_INSTAGRAM_HOSTS = {"instagram.com", "www.instagram.com"}
_INSTAGRAM_PATH = re.compile(r"^/(p|reel)/([A-Za-z0-9_-]{5,64})/?$")


class InstagramPostInvalid(ApplicationError):
    code = "invalid"
    status = 400
    message = "Only public Instagram post or reel links are accepted."


def instagram_post_normalise(url: str) -> str:
    """``https://www.instagram.com/<p|reel>/<id>/`` for an accepted link, else ``ValueError``."""
    if not isinstance(url, str) or len(url) > 300:
        raise ValueError("Not a link.")
    raw = url.strip()
    if "://" not in raw and raw.lower().startswith(("instagram.com/", "www.instagram.com/")):
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValueError("Not a valid link.") from exc
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("Use an https://www.instagram.com/p/… or /reel/… link.")
    host = (parts.hostname or "").lower()
    if host not in _INSTAGRAM_HOSTS or parts.username or parts.password or port not in (None, 443, 80):
        raise ValueError("Only links to www.instagram.com are accepted.")
    match = _INSTAGRAM_PATH.match(parts.path)
    if match is None:
        raise ValueError("Use the link of one post or reel: https://www.instagram.com/p/<id>/ or /reel/<id>/.")
    kind, post_id = match.groups()
    return f"https://www.instagram.com/{kind}/{post_id}/"


def instagram_posts_normalise(urls) -> list[str]:
    """The user's list, normalised and checked as a whole (shape, duplicates, count).

    Raises ``InstagramPostInvalid`` with per-index field errors (``fields["posts"]``)."""
    limit = settings.INSTAGRAM_POSTS_MAX
    if not isinstance(urls, list):
        raise InstagramPostInvalid("`posts` must be a list of links.", fields={"posts": ["Expected a list."]})
    if len(urls) > limit:
        raise InstagramPostInvalid(
            f"At most {limit} posts.", fields={"posts": [f"At most {limit} posts."]}, extra={"max_posts": limit}
        )
    out: list[str] = []
    problems: dict[str, str] = {}
    for index, url in enumerate(urls):
        try:
            normal = instagram_post_normalise(url)
        except ValueError as exc:
            problems[str(index)] = str(exc)
            continue
        if normal in out:
            problems[str(index)] = "This post is already in the list."
            continue
        out.append(normal)
    if problems:
        first = next(iter(problems.values()))
        raise InstagramPostInvalid(first, fields={"posts": problems})
    return out


@transaction.atomic
def instagram_posts_set(*, user: User, urls) -> list[str]:
    """Replace the user's posts with ``urls`` (ordered); returns the stored, normalised list."""
    from accounts.services import user_cache_bust

    posts = instagram_posts_normalise(urls)
    if posts != user.instagram_posts:
        User.objects.filter(pk=user.pk).update(instagram_posts=posts)
        user.instagram_posts = posts
        user_cache_bust(user_id=user.pk)
    return posts


def instagram_post_drop(*, user: User, url: str) -> int | None:
    """Take one post off the user's card; the number left, or None when it wasn't there.
    Call inside the caller's transaction (moderation audits the removal)."""
    from accounts.services import user_cache_bust

    locked = User.objects.select_for_update().get(pk=user.pk)
    posts = list(locked.instagram_posts or [])
    if url not in posts:
        return None
    posts.remove(url)
    User.objects.filter(pk=user.pk).update(instagram_posts=posts)
    user.instagram_posts = posts
    user_cache_bust(user_id=user.pk)
    return len(posts)


# --- location: geometry ------------------------------------------------------------------------
EARTH_RADIUS_M = 6_371_008.8
METERS_PER_DEGREE_LAT = 111_320.0

# (upper bound in metres, label); the last bucket is open-ended.
DISTANCE_BUCKETS: tuple[tuple[float, str], ...] = ((1_000, "< 1 km"), (5_000, "1–5 km"), (25_000, "5–25 km"))
DISTANCE_FAR = "far"


def coarsen(lat: float, lon: float, *, grid_m: float | None = None) -> tuple[float, float]:
    """The centre of the grid cell that holds (lat, lon).

    Rows of ``grid_m`` metres of latitude; within a row, cells of ``grid_m`` metres of longitude
    measured at the row's centre — so every cell is about ``grid_m`` × ``grid_m`` and anyone in the
    same cell gets the same point.  Precision is lost on purpose, and only the cell is stored.
    """
    grid_m = float(grid_m or settings.LOCATION_GRID_METERS)
    step_lat = grid_m / METERS_PER_DEGREE_LAT
    row = math.floor((lat + 90.0) / step_lat)
    lat_c = min(90.0, -90.0 + (row + 0.5) * step_lat)
    step_lon = grid_m / (METERS_PER_DEGREE_LAT * max(math.cos(math.radians(lat_c)), 1e-3))
    col = math.floor((lon + 180.0) / step_lon)
    lon_c = -180.0 + (col + 0.5) * step_lon
    if lon_c > 180.0:
        lon_c -= 360.0
    return round(lat_c, 6), round(lon_c, 6)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance in metres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_bucket(meters: float) -> str:
    for upper, label in DISTANCE_BUCKETS:
        if meters < upper:
            return label
    return DISTANCE_FAR


# --- location: writes -------------------------------------------------------------------------
class LocationConsentRequired(ApplicationError):
    code = "consent_required"
    status = 400
    message = "Sharing your location needs your explicit consent (`consent: true`)."


@transaction.atomic
def location_set(*, user: User, lat: float, lon: float, accuracy_m: int, consent: bool) -> UserLocation:
    """Store the user's location, coarsened, for ``LOCATION_TTL_HOURS``.  Needs ``consent``."""
    if consent is not True:
        raise LocationConsentRequired(fields={"consent": ["Must be true to share your location."]})
    now = clock.now()
    lat_c, lon_c = coarsen(lat, lon)
    existing = UserLocation.objects.filter(user=user).first()
    values = dict(
        lat=lat_c,
        lon=lon_c,
        # the cell is never more precise than the grid, whatever the device claims
        accuracy_m=max(int(accuracy_m), int(settings.LOCATION_GRID_METERS)),
        updated_at=now,
        expires_at=now + timedelta(hours=settings.LOCATION_TTL_HOURS),
    )
    if existing is None:
        return UserLocation.objects.create(user=user, consented_at=now, **values)
    for key, value in values.items():
        setattr(existing, key, value)
    existing.save(update_fields=list(values))
    return existing


def location_clear(*, user_id: int) -> int:
    """Remove the user's location at once (``DELETE /api/me/location``, deletion, wipe)."""
    return UserLocation.objects.filter(user_id=user_id).delete()[0]


# --- location: reads --------------------------------------------------------------------------
def location_live_for_user(*, user_id: int) -> UserLocation | None:
    """The user's own location while it is live (None once expired)."""
    return UserLocation.objects.filter(user_id=user_id, expires_at__gt=clock.now()).first()


def live_locations(*, user_ids) -> dict[int, tuple[float, float]]:
    """``{user_id: (lat, lon)}`` of the users with a live location (one query).  Asked for every
    queue page: a fixed statement through the cursor with the ids as one parameter (an array on
    PostgreSQL, JSON on SQLite), not the ORM's build and a placeholder per id."""
    ids = [int(u) for u in user_ids]
    if not ids:
        return {}
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(
            _LIVE_LOCATIONS_SQL["postgresql" if pg else "sqlite"],
            [ids if pg else json.dumps(ids), connection.ops.adapt_datetimefield_value(clock.now())],
        )
        return {uid: (float(lat), float(lon)) for uid, lat, lon in cursor.fetchall()}


_LIVE_LOCATIONS_SQL = {
    vendor: f"SELECT user_id, lat, lon FROM {UserLocation._meta.db_table} WHERE {ids} AND expires_at > %s"
    for vendor, ids in (("postgresql", "user_id = ANY(%s::bigint[])"), ("sqlite", "user_id IN (SELECT value FROM json_each(%s))"))
}


def distance_buckets_for_viewer(*, viewer_id: int, user_ids) -> dict[int, str]:
    """The distance bucket from the viewer to each of ``user_ids`` that has a live location —
    empty when the viewer has none.  Only buckets leave this function, never coordinates."""
    ids = list(user_ids)
    if not ids:
        return {}
    points = live_locations(user_ids=[viewer_id, *ids])
    me = points.pop(viewer_id, None)
    if me is None:
        return {}
    return {uid: distance_bucket(distance_m(me, point)) for uid, point in points.items()}


def nearest_first(*, viewer_id: int, user_ids: list[int]) -> list[int]:
    """``user_ids`` reordered nearest-first: users with a live location by distance from the
    viewer, then everyone else in their given order.  Unchanged when the viewer has no live
    location.

    The distance is computed by the database (an equirectangular approximation, monotonic with
    the true distance at campus scale) and only ids come back, so the cost is one indexed query
    over the candidate rows, whatever the queue length."""
    if not user_ids:
        return user_ids
    me = location_live_for_user(user_id=viewer_id)
    if me is None:
        return user_ids
    kx = math.cos(math.radians(me.lat))
    d_lat = F("lat") - Value(me.lat)
    d_lon = (F("lon") - Value(me.lon)) * Value(kx)
    located = list(
        UserLocation.objects.filter(user_id__in=user_ids, expires_at__gt=clock.now())
        .annotate(d2=ExpressionWrapper(d_lat * d_lat + d_lon * d_lon, output_field=FloatField()))
        .order_by("d2", "user_id")
        .values_list("user_id", flat=True)
    )
    placed = set(located)
    return located + [uid for uid in user_ids if uid not in placed]


def location_payload(loc: UserLocation) -> dict:
    """The owner's view of their stored (coarsened) location."""
    return {
        "lat": loc.lat,
        "lon": loc.lon,
        "accuracy_m": loc.accuracy_m,
        "grid_m": settings.LOCATION_GRID_METERS,
        "consented_at": loc.consented_at,
        "updated_at": loc.updated_at,
        "expires_at": loc.expires_at,
    }


def location_export(*, user_id: int) -> dict | None:
    """The user's own live location, for ``GET /api/me/export`` and ``/api/me/location``."""
    loc = location_live_for_user(user_id=user_id)
    return location_payload(loc) if loc is not None else None
