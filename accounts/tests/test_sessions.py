import pytest

from accounts.services import session_authenticate, token_hash
from config import clock
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def test_sessions_list_marks_current_and_revoke_one(auth_api):
    a = auth_api()
    b = auth_api(user=a.user)
    resp = a.get("/api/auth/sessions")
    assert resp.status_code == 200
    rows = resp.json()
    assert len(rows) == 2
    assert sum(r["current"] for r in rows) == 1
    other = next(r for r in rows if not r["current"])
    assert a.delete(f"/api/auth/sessions/{other['id']}").status_code == 204
    assert b.get("/api/me").status_code == 401
    entry = AuditLog.objects.get(action="session.revoke")
    assert entry.actor == a.user and entry.target_id == str(a.user.pk) and entry.after == {"session_id": other["id"]}
    assert a.delete(f"/api/auth/sessions/{other['id']}").status_code == 404
    assert a.delete("/api/auth/sessions/999999").status_code == 404


def test_cannot_revoke_someone_elses_session(auth_api):
    a, b = auth_api(), auth_api()
    assert a.delete(f"/api/auth/sessions/{b.api_session.pk}").status_code == 404
    assert b.get("/api/me").status_code == 200


def test_logout_and_logout_others(auth_api):
    a = auth_api()
    b = auth_api(user=a.user)
    c = auth_api(user=a.user)
    resp = a.post("/api/auth/logout-others")
    assert resp.status_code == 200 and resp.json() == {"revoked": 2}
    assert b.get("/api/me").status_code == 401 and c.get("/api/me").status_code == 401
    assert AuditLog.objects.filter(action="auth.logout_others").count() == 1
    assert a.post("/api/auth/logout").status_code == 204
    assert a.get("/api/me").status_code == 401
    assert AuditLog.objects.get(action="auth.logout").after == {"session_id": a.api_session.pk}


def test_cache_hit_costs_no_query(auth_api, django_assert_num_queries):
    client = auth_api()
    assert client.get("/api/me").status_code == 200  # warms the cache
    with django_assert_num_queries(0):
        assert client.get("/api/me").status_code == 200


def test_cache_miss_costs_one_query(auth_api, django_assert_num_queries):
    from django.core.cache import cache

    client = auth_api()
    cache.clear() if not hasattr(cache, "delete_pattern") else cache.delete_pattern("*")
    with django_assert_num_queries(1):
        assert client.get("/api/me").status_code == 200


def test_revocation_evicts_cache(auth_api):
    client = auth_api()
    assert client.get("/api/me").status_code == 200  # cached
    from accounts.services import session_revoke

    session_revoke(session=client.api_session, actor=None)
    assert client.get("/api/me").status_code == 401


def test_expiry_is_sliding_and_last_seen_written_at_most_every_5_minutes(auth_api, django_assert_num_queries):
    client = auth_api()
    session = client.api_session
    assert client.get("/api/me").status_code == 200
    clock.advance(60)
    with django_assert_num_queries(0):
        assert client.get("/api/me").status_code == 200
    session.refresh_from_db()
    first_seen = session.last_seen_at
    clock.advance(5 * 60)
    with django_assert_num_queries(1):  # the once-per-interval last_seen write
        assert client.get("/api/me").status_code == 200
    session.refresh_from_db()
    assert session.last_seen_at > first_seen
    # 29 days later it is still alive (sliding), 31 days after the last use it is not
    clock.advance(29 * 86400)
    assert client.get("/api/me").status_code == 200
    clock.advance(31 * 86400)
    assert client.get("/api/me").status_code == 401


def test_expired_session_is_rejected_even_from_cache(make_user, make_session):
    user = make_user()
    _, token = make_session(user)
    assert session_authenticate(token=token) is not None
    clock.advance(31 * 86400)
    assert session_authenticate(token=token) is None


def test_token_stored_as_sha256(make_user, make_session):
    session, token = make_session(make_user())
    assert session.token_hash == token_hash(token)
    assert len(session.token_hash) == 64 and token not in session.token_hash


def test_an_entry_written_by_another_model_version_is_a_miss(make_user, make_session, django_assert_num_queries):
    from django.core.cache import cache

    from accounts import services

    user = make_user()
    session, token = make_session(user)
    key = services._cache_key(session.token_hash)
    assert session_authenticate(token=token) is not None  # cached in this version's shape
    entry = cache.get(key)
    cache.set(key, (entry[0], "other-schema", entry[2][:-1], entry[3], entry[4]), timeout=60)
    with django_assert_num_queries(1):  # read afresh instead of building a user from foreign columns
        got, _ = session_authenticate(token=token)
    assert got.pk == user.pk and got.name == user.name
    assert cache.get(key)[1] == services._USER_SCHEMA  # and re-cached in this version's shape


def test_each_request_gets_its_own_user_object(make_user, make_session):
    user = make_user()
    _, token = make_session(user)
    first, _ = session_authenticate(token=token)
    first.name = "changed in one request only"
    second, _ = session_authenticate(token=token)
    assert second is not first and second.name == user.name


def test_cached_user_keeps_every_column(make_user, make_session):
    user = make_user()
    _, token = make_session(user)
    session_authenticate(token=token)  # miss: caches the row
    cached, _ = session_authenticate(token=token)  # hit: built from the row
    for field in type(user)._meta.concrete_fields:
        assert getattr(cached, field.attname) == getattr(user, field.attname), field.attname
    assert cached._state.adding is False and cached._state.db == "default"


def test_revocation_by_another_process_is_seen_by_the_near_cache(make_user, make_session, settings):
    """The Redis configuration keeps hot sessions in process memory; another process's revocation
    (a DB update and a DEL of the shared entry) must be refused by this process's next read."""
    if not settings.REDIS_URL:
        pytest.skip("the near cache only exists in front of Redis")
    import redis

    from accounts import services
    from accounts.models import Session
    from config import nearcache

    session, token = make_session(make_user())
    assert nearcache.wait_until_tracking(timeout=5)
    session_authenticate(token=token)
    session_authenticate(token=token)
    hits = services._session_cache.stats["hits"]
    assert session_authenticate(token=token) is not None
    assert services._session_cache.stats["hits"] == hits + 1  # served from memory
    nearcache._tracker.stop_background()  # only this read's own drain can apply the invalidation
    try:
        Session.objects.filter(pk=session.pk).update(revoked_at=clock.now())
        other = redis.Redis.from_url(settings.REDIS_URL)
        other.delete(services.cache.make_key(services._cache_key(session.token_hash)))
        other.close()
        assert session_authenticate(token=token) is None
    finally:
        nearcache._tracker.ensure_started()


def test_cached_user_is_built_as_from_db_builds_it(make_user, make_session):
    """The hot path builds the User straight from the cached row; it must be the instance
    ``User.from_db`` would build: same column values, same state, nothing else."""
    from accounts import services
    from accounts.models import User

    user = make_user(bio="hello")
    _, token = make_session(user)
    session_authenticate(token=token)  # miss: caches the row
    built, _ = session_authenticate(token=token)  # hit: built from the row
    row = services._user_row(built)
    reference = User.from_db("default", services._USER_FIELDS, row)
    assert {k: v for k, v in built.__dict__.items() if k != "_state"} == {
        k: v for k, v in reference.__dict__.items() if k != "_state"
    }
    assert (built._state.adding, built._state.db) == (reference._state.adding, reference._state.db)
    assert built == reference and built.photo.name == reference.photo.name == ""
    built.full_clean(exclude=["password"])  # a real, valid model instance
    built.save(update_fields=["bio"])  # and one that saves as an existing row


def test_init_signal_receivers_still_run_for_cached_users(make_user, make_session):
    """Should anything ever listen to User's pre_init/post_init, the hot path goes through
    ``from_db`` so the receivers run."""
    from django.db.models.signals import post_init

    from accounts.models import User

    user = make_user()
    _, token = make_session(user)
    session_authenticate(token=token)
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=User)
    try:
        built, _ = session_authenticate(token=token)
    finally:
        post_init.disconnect(receiver, sender=User)
    assert seen and seen[-1] is built


def test_card_file_urls_build_no_file_object_for_an_empty_field(make_user):
    """``photo_url``/``intro_video_url`` of an empty field come from the stored name alone; a set
    field gives its storage URL; a deferred field is loaded by the descriptor as before."""
    from django.core.files.base import ContentFile

    from accounts.models import User
    from accounts.selectors import user_card

    user = make_user()
    fresh = User.objects.get(pk=user.pk)
    card = user_card(fresh)
    assert card["photo_url"] is None and card["intro_video_url"] is None
    assert type(fresh.__dict__["photo"]) is str and type(fresh.__dict__["intro_video"]) is str  # no FieldFile built
    user.photo.save("me.png", ContentFile(b"png"), save=True)
    with_photo = User.objects.get(pk=user.pk)
    assert user_card(with_photo)["photo_url"] == with_photo.photo.url
    deferred = User.objects.only("pk", "name", "gender", "bio", "instagram_handle", "public_id").get(pk=user.pk)
    assert "photo" not in deferred.__dict__
    assert user_card(deferred)["photo_url"] == with_photo.photo.url
    assert user_card(deferred)["intro_video_url"] is None


@pytest.mark.django_db
def test_many_tokens_at_once_cost_one_query_cold_and_none_warm(make_user, django_assert_num_queries):
    """``sessions_authenticate`` (a reconnect storm's auth batch): each token's answer in order,
    one query for every token not cached, the fills written together, then no query at all."""
    from django.core.cache import cache

    from accounts.services import session_create, session_revoke, sessions_authenticate
    from config import nearcache

    users = [make_user() for _ in range(3)]
    tokens = [session_create(user=u, ip=None)[1] for u in users]
    revoked, revoked_token = session_create(user=users[0], ip=None)
    session_revoke(session=revoked, actor=users[0])
    cache.clear()
    nearcache.forget_local()
    asked = [tokens[0], "cc_unknown", tokens[1], revoked_token, tokens[2], tokens[0]]
    with django_assert_num_queries(1):
        got = sessions_authenticate(tokens=asked)
    assert [hit[0].pk if hit else None for hit in got] == [users[0].pk, None, users[1].pk, None, users[2].pk, users[0].pk]
    nearcache.forget_local()  # from the shared cache now (unknown tokens are not cached: asked again)
    with django_assert_num_queries(0):
        again = sessions_authenticate(tokens=[tokens[2], tokens[0], tokens[1]])
    assert [hit[0].pk for hit in again] == [users[2].pk, users[0].pk, users[1].pk]


@pytest.mark.django_db
def test_a_new_session_is_cached_at_commit_for_its_first_auth(
    make_user, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """The app opens its socket right after signing in: that first ``auth`` costs no query.  A
    sign-in that rolls back leaves no copy that would let its token in."""
    from django.db import transaction

    from accounts.services import session_create, sessions_authenticate

    user = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        _, token = session_create(user=user, ip=None)
    with django_assert_num_queries(0):
        hit = sessions_authenticate(tokens=[token])[0]
    assert hit is not None and hit[0].pk == user.pk

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            _, lost = session_create(user=user, ip=None)
            raise RolledBack
    assert sessions_authenticate(tokens=[lost]) == [None]
