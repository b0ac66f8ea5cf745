"""Room chat, replay, the torch rule, transcripts, evidence, retention, export (services + APIs)."""

from datetime import timedelta

import time

import pytest
from django.db import connection

from config import clock, purge
from config.errors import ApplicationError, NotFound
from social import errors, messages, selectors, services
from social.models import Room, RoomMessage, RoomParticipant

pytestmark = pytest.mark.django_db


def start(make_user, mode="text", seconds=600, names=("Ann", "Bob")):
    a, b = make_user(names[0]), make_user(names[1])
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode=mode, seconds=seconds)
    return a, b, room


def send(user, body, client_id):
    return messages.room_message_send(user_id=user.pk, sender_public_id=user.public_id, client_id=client_id, body=body)


# --- sending ---------------------------------------------------------------------------------------
def test_message_is_stored_trimmed_with_server_id_seq_and_time(make_user):
    a, b, room = start(make_user)
    msg, created = send(a, "  hello  ", "c1")
    assert created and msg["body"] == "hello" and msg["seq"] == 1 and msg["sender"] == str(a.public_id)
    assert msg["room_id"] == str(room.pk) and msg["client_id"] == "c1" and msg["created_at"]
    row = RoomMessage.objects.get(pk=msg["id"])
    assert (row.body, row.sender_id, row.seq) == ("hello", a.pk, 1)
    second, _ = send(b, "hi", "c1")  # the same client id from the other sender is another message
    assert second["seq"] == 2 and second["id"] > msg["id"]


def test_resend_with_same_client_id_is_stored_once_and_acked_with_the_same_id(make_user):
    a, b, room = start(make_user)
    first, created = send(a, "hello", "dup")
    clock.advance(3)
    again, created_again = send(a, "hello (edited on resend)", "dup")
    assert created and not created_again
    assert again == first  # same id, seq, body and timestamp as stored
    assert RoomMessage.objects.filter(room=room).count() == 1


@pytest.mark.parametrize("body", ["", "   ", "\n\t", "x" * 2001])
def test_empty_or_too_long_bodies_are_invalid(make_user, body):
    a, b, room = start(make_user)
    with pytest.raises(ApplicationError) as exc:
        send(a, body, "c")
    assert exc.value.code == "invalid" and "body" in exc.value.fields
    assert not RoomMessage.objects.exists()


def test_body_limit_is_a_setting(make_user, settings):
    settings.ROOM_MESSAGE_MAX_CHARS = 5
    a, b, room = start(make_user)
    assert send(a, "12345", "ok")[1]
    with pytest.raises(ApplicationError):
        send(a, "123456", "no")


def test_no_live_room_is_not_in_room(make_user):
    a, b, room = start(make_user)
    outsider = make_user("Eve")
    with pytest.raises(errors.NotInRoom):
        send(outsider, "hi", "c")
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    with pytest.raises(errors.NotInRoom):
        send(a, "too late", "c2")
    assert not RoomMessage.objects.exists()


def test_a_message_after_the_timer_ends_the_room_instead(make_user):
    a, b, room = start(make_user, seconds=60)
    clock.advance(61)
    with pytest.raises(errors.NotInRoom):
        send(a, "hello?", "c")
    room.refresh_from_db()
    assert room.status == "ended" and room.end_reason == "timer"
    assert not RoomMessage.objects.exists()


def test_send_query_count_is_pinned(make_user, django_assert_num_queries):
    a, b, room = start(make_user)
    send(a, "warm", "w")
    # a batch of one: room + participants (room row locked), insert (seq computed in the
    # statement), my last message time; + savepoint/release because the test runs in a transaction
    with django_assert_num_queries(5):
        send(a, "hello", "c1")
    # a resend: no update, one read of the stored message instead
    with django_assert_num_queries(5):
        send(a, "hello", "c1")


# --- replay ------------------------------------------------------------------------------------------
def test_replay_returns_every_later_message_in_order_with_pages(make_user):
    a, b, room = start(make_user)
    ids = [send(a if i % 2 else b, f"m{i}", f"c{i}")[0]["id"] for i in range(7)]
    page = messages.room_messages_after_for_user(user_id=b.pk, after_id=ids[2])
    assert [m["id"] for m in page["messages"]] == ids[3:] and not page["has_more"]
    assert [m["body"] for m in page["messages"]] == ["m3", "m4", "m5", "m6"]
    assert [m["seq"] for m in page["messages"]] == [4, 5, 6, 7]
    first = messages.room_messages_after_for_user(user_id=a.pk, after_id=0, limit=3)
    assert [m["id"] for m in first["messages"]] == ids[:3] and first["has_more"]
    rest = messages.room_messages_after_for_user(user_id=a.pk, after_id=ids[2], limit=3)
    assert [m["id"] for m in rest["messages"]] == ids[3:6] and rest["has_more"]
    with pytest.raises(errors.NotInRoom):
        messages.room_messages_after_for_user(user_id=make_user("Eve").pk, after_id=0)


def test_replay_is_only_of_my_own_room(make_user):
    a, b, room = start(make_user)
    c, d, other = start(make_user, names=("Cid", "Dee"))
    send(a, "ours", "1")
    send(c, "theirs", "1")
    assert [m["body"] for m in messages.room_messages_after_for_user(user_id=b.pk)["messages"]] == ["ours"]


# --- the torch rule ----------------------------------------------------------------------------------
def parts(room):
    return {p.user_id: p for p in RoomParticipant.objects.filter(room=room)}


def test_torch_warns_the_silent_clears_on_message_and_ends_with_inactivity(make_user, django_capture_on_commit_callbacks):
    a, b, room = start(make_user)
    clock.advance(60)
    send(a, "anyone?", "1")  # A spoke at 60 s; B silent since the start
    clock.advance(60)
    assert services.torch_sweep() == {"torch_ended": 0, "torch_warned": 1}  # B: 120 s of silence
    p = parts(room)
    assert p[b.pk].torch_deadline == p[b.pk].torch_warned_at + timedelta(seconds=60)
    assert p[a.pk].torch_deadline is None
    assert services.torch_sweep()["torch_warned"] == 0  # warned once
    clock.advance(30)
    send(b, "here", "1")  # clears B's warning
    assert parts(room)[b.pk].torch_deadline is None
    clock.advance(60)  # A silent for 150 s now → warned
    assert services.torch_sweep()["torch_warned"] == 1
    clock.advance(59)
    assert services.torch_sweep() == {"torch_ended": 0, "torch_warned": 0}
    clock.advance(1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.torch_sweep()["torch_ended"] == 1
    room.refresh_from_db()
    assert room.status == "ended" and room.end_reason == "inactivity"
    assert callbacks  # room.ended to both (after commit)
    assert room.history.count() == 2


def test_torch_warning_is_sent_to_both_naming_who_and_the_deadline(make_user, monkeypatch):
    sent = []
    monkeypatch.setattr(
        messages.events, "send_after_commit",
        lambda *, users, message: sent.extend((uid, message) for uid in ([users] if isinstance(users, int) else users)),
    )
    a, b, room = start(make_user)
    clock.advance(30)
    send(b, "hi", "1")
    sent.clear()  # room.started
    clock.advance(90)
    services.torch_sweep()
    assert sorted(uid for uid, _ in sent) == sorted([a.pk, b.pk])
    for uid, msg in sent:
        assert msg["type"] == "room.inactivity_warning" and msg["user"] == str(a.public_id)
        assert msg["you"] == (uid == a.pk) and msg["room_id"] == str(room.pk)
        assert msg["deadline"] == parts(room)[a.pk].torch_deadline.isoformat()
    sent.clear()
    send(a, "sorry", "1")
    assert [m["type"] for _, m in sent] == ["room.inactivity_cleared"] * 2


def test_torch_does_not_apply_to_video_rooms(make_user):
    a, b, room = start(make_user, mode="video")
    clock.advance(300)
    assert services.torch_sweep() == {"torch_ended": 0, "torch_warned": 0}


def test_torch_limits_are_settings(make_user, settings):
    settings.TORCH_IDLE_SECONDS = 5
    settings.TORCH_WARNING_SECONDS = 2
    a, b, room = start(make_user)
    clock.advance(5)
    assert services.room_sweep()["torch_warned"] == 2  # both silent; through the room sweeper
    clock.advance(2)
    assert services.room_sweep()["torch_ended"] == 1
    room.refresh_from_db()
    assert room.end_reason == "inactivity"


def test_a_message_after_my_deadline_ends_the_room_not_clears(make_user):
    a, b, room = start(make_user)
    clock.advance(120)
    services.torch_sweep()
    clock.advance(61)  # nobody swept in between
    with pytest.raises(errors.NotInRoom):
        send(a, "just in time?", "1")
    room.refresh_from_db()
    assert room.end_reason == "inactivity"


# --- transcripts (HTTP) ----------------------------------------------------------------------------
def test_transcript_for_participants_only_with_cursor_pages(make_user, auth_api, api):
    a, b, room = start(make_user)
    for i in range(7):
        send(a if i % 2 else b, f"m{i}", f"c{i}")
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    client_a = auth_api(a)
    history = client_a.get("/api/history").json()["results"][0]
    assert history["room_id"] == str(room.pk)
    r = client_a.get(f"/api/history/{history['id']}/messages?page_size=4")
    assert r.status_code == 200
    body = r.json()
    assert [m["body"] for m in body["results"]] == ["m0", "m1", "m2", "m3"]
    assert [m["from_you"] for m in body["results"]] == [False, True, False, True]
    more = client_a.get(body["next"]).json()
    assert [m["body"] for m in more["results"]] == ["m4", "m5", "m6"] and more["next"] is None
    # by room id: both participants; anybody else (or a wrong id) → 404, same shape
    client_b = auth_api(b)
    assert client_b.get(f"/api/rooms/{room.pk}/messages").status_code == 200
    eve = auth_api(make_user("Eve"))
    for url in (f"/api/history/{history['id']}/messages", f"/api/rooms/{room.pk}/messages", "/api/history/999999/messages"):
        r = eve.get(url)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # B's history entry id is not A's to read
    b_history = client_b.get("/api/history").json()["results"][0]["id"]
    assert client_a.get(f"/api/history/{b_history}/messages").status_code == 404
    assert api.get(f"/api/rooms/{room.pk}/messages").status_code == 401


# --- evidence ----------------------------------------------------------------------------------------
def test_evidence_snapshot_for_a_reporter_who_was_in_the_room(make_user):
    a, b, room = start(make_user, seconds=300)
    real_start = time.monotonic()
    for i in range(60):
        send(a if i % 2 else b, f"m{i}", f"c{i}")
    clock.advance(42)
    services.room_end(room_id=room.pk, reason="user", actor_id=b.pk)
    real_elapsed = time.monotonic() - real_start  # the 60 sends take real time too (more on a busy machine)
    ev = selectors.room_evidence_for_reporter(room_id=room.pk, reporter=a)
    assert ev["mode"] == "text" and ev["end_reason"] == "user"
    assert 42 <= ev["duration_seconds"] <= 42 + real_elapsed + 1
    assert ev["started_at"] == room.started_at.isoformat()
    assert {(p["id"], p["name"]) for p in ev["participants"]} == {(str(a.public_id), "Ann"), (str(b.public_id), "Bob")}
    assert [m["body"] for m in ev["messages"]] == [f"m{i}" for i in range(10, 60)]
    assert ev["messages"][0]["sender_name"] == "Bob"
    import json

    json.dumps(ev)  # stored as JSON by moderation
    # live room: duration so far, no end reason
    c, d, live = start(make_user, names=("Cid", "Dee"))
    clock.advance(5)
    ev2 = selectors.room_evidence_for_reporter(room_id=str(live.pk), reporter=d)
    assert ev2["end_reason"] is None and ev2["duration_seconds"] == 5 and ev2["messages"] == []


def test_evidence_of_a_room_in_grace_counts_the_call_as_its_history_will(make_user):
    """Time spent disconnected doesn't count: the evidence of a live room in grace stops at the
    disconnect, as the room's end will (it counted up to now before)."""
    a, b, room = start(make_user, mode="video", seconds=600)
    clock.advance(40)
    services.room_participant_disconnected(user_id=b.pk)
    clock.advance(8)
    live = selectors.room_evidence_for_reporter(room_id=room.pk, reporter=a)["duration_seconds"]
    assert 40 <= live <= 41  # (+ the real time the calls take)
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    assert room.history.get(user=a).duration_seconds == live
    assert selectors.room_evidence_for_reporter(room_id=room.pk, reporter=a)["duration_seconds"] == live


def test_evidence_not_found_for_outsiders_and_unknown_rooms(make_user):
    a, b, room = start(make_user)
    with pytest.raises(NotFound):
        selectors.room_evidence_for_reporter(room_id=room.pk, reporter=make_user("Eve"))
    import uuid

    for bad in (uuid.uuid4(), "not-a-uuid", None):
        with pytest.raises(NotFound):
            selectors.room_evidence_for_reporter(room_id=bad, reporter=a)


# --- retention -----------------------------------------------------------------------------------------
def test_purger_blanks_old_bodies_of_ended_rooms_only(make_user):
    a, b, room = start(make_user)
    send(a, "old", "1")
    c, d, live = start(make_user, names=("Cid", "Dee"))
    send(c, "old but live", "1")
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    clock.advance(29 * 86400)
    assert purge.run(names=["room_message_bodies"], dry_run=True) == {"room_message_bodies": 0}
    clock.advance(2 * 86400)
    assert purge.run(names=["room_message_bodies"]) == {"room_message_bodies": 1}
    old = RoomMessage.objects.get(room=room)
    assert old.body == "" and old.body_purged_at is not None
    assert RoomMessage.objects.get(room=live).body == "old but live"
    assert purge.run(names=["room_message_bodies"]) == {"room_message_bodies": 0}  # idempotent
    page = selectors.room_evidence_for_reporter(room_id=room.pk, reporter=a)
    assert page["messages"][0]["purged"] is True


# --- export ------------------------------------------------------------------------------------------
def test_export_has_the_transcripts_of_my_rooms(make_user, auth_api):
    a, b, room = start(make_user)
    send(a, "mine", "1")
    send(b, "yours", "1")
    services.room_end(room_id=room.pk, reason="user", actor_id=a.pk)
    c, d, other = start(make_user, names=("Cid", "Dee"))
    send(c, "not mine", "1")
    doc = auth_api(a).get("/api/me/export").json()
    transcripts = doc["social"]["transcripts"]
    assert len(transcripts) == 1 and transcripts[0]["room_id"] == str(room.pk)
    assert [(m["body"], m["from_you"]) for m in transcripts[0]["messages"]] == [("mine", True), ("yours", False)]
    assert "call_history" in doc["social"] and "blocks" in doc["social"] and "cooldowns" in doc["social"]


# --- group commit ------------------------------------------------------------------------------------
def item(user, body, client_id, **kw):
    return {"user_id": user.pk, "sender_public_id": user.public_id, "client_id": client_id, "body": body, **kw}


def test_batch_stores_many_rooms_in_arrival_order_with_per_item_outcomes(make_user):
    a, b, room = start(make_user)
    c, d, other = start(make_user, names=("Cid", "Dee"))
    e, f, late = start(make_user, names=("Eli", "Fay"), seconds=60)
    outsider = make_user("Out")
    send(a, "before", "old")
    clock.advance(61)  # the third room's timer ran out (nobody swept yet)
    items = [
        item(a, "one", "1"), item(c, "x", "1"), item(b, "two", "1"), item(a, "three", "2"),
        item(a, "one again", "1"),  # same client id as the first: stored once
        item(a, "before (resend)", "old"),  # already stored before this batch
        item(outsider, "hi", "1"), item(b, "   ", "2"), item(e, "too late", "1"),
        item(d, "y", "1", check=lambda: (_ for _ in ()).throw(ApplicationError("slow", code="rate_limited"))),
    ]
    out = messages.room_messages_send_batch(items=items)
    ok = [r[1][0] if r[0] else r[1].code for r in out]
    assert [m["body"] for m in ok[:4]] == ["one", "x", "two", "three"]
    assert [m["seq"] for m in (ok[0], ok[2], ok[3])] == [2, 3, 4] and ok[1]["seq"] == 1
    assert [r[1][1] for r in out[:4]] == [True] * 4
    assert out[4][1] == (ok[0], False) and out[5][1][1] is False and out[5][1][0]["body"] == "before"
    assert ok[6:] == ["not_in_room", "invalid", "not_in_room", "rate_limited"]
    late.refresh_from_db()
    assert late.end_reason == "timer"
    ids = list(RoomMessage.objects.filter(room=room).order_by("id").values_list("seq", flat=True))
    assert ids == [1, 2, 3, 4]  # ids and seq in the same order, no gap
    assert RoomMessage.objects.count() == 5


def test_a_resend_in_a_batch_leaves_no_gap_in_seq(make_user):
    """The insert ranks only the batch's new messages: a resend in front of new ones of the
    same room takes no number."""
    a, b, room = start(make_user)
    first, _ = send(a, "one", "1")
    out = messages.room_messages_send_batch(items=[item(a, "one", "1"), item(b, "two", "1"), item(a, "three", "3")])
    assert [(r[1][0]["seq"], r[1][1]) for r in out] == [(1, False), (2, True), (3, True)]
    assert out[0][1][0] == first
    assert list(RoomMessage.objects.filter(room=room).order_by("id").values_list("seq", flat=True)) == [1, 2, 3]


def test_batch_clears_a_torch_warning_once_and_reports_it(make_user):
    a, b, room = start(make_user)
    clock.advance(120)
    services.torch_sweep()
    out = messages.room_messages_send_batch(items=[item(a, "here", "1"), item(a, "still", "2")])
    [(user_ids, event)] = out[0][2]
    assert sorted(user_ids) == sorted([a.pk, b.pk])
    assert event == {"type": "room.inactivity_cleared", "room_id": str(room.pk), "user": str(a.public_id)}
    assert out[1][2] == []
    p = parts(room)
    assert p[a.pk].torch_deadline is None and p[b.pk].torch_deadline is not None


def test_batch_costs_a_fixed_number_of_queries(make_user, django_assert_num_queries):
    rooms = [start(make_user, names=(f"A{i}", f"B{i}")) for i in range(20)]
    for a, b, room in rooms:
        send(a, "warm", "w")
    small = [item(a, "hi", "s") for a, b, room in rooms[:2]]
    big = [item(u, "hi", "b") for a, b, room in rooms for u in (a, b)]
    # rooms + participants (locked), one insert (seq computed by it), senders' last message time;
    # + savepoint/release (the test runs in a transaction) — the same as a single send
    with django_assert_num_queries(5):
        messages.room_messages_send_batch(items=small)
    with django_assert_num_queries(5):
        out = messages.room_messages_send_batch(items=big)
    assert all(r[0] and r[1][1] for r in out) and len(out) == 40
    # resends among new messages: one read of the stored ones more
    with django_assert_num_queries(6):
        out = messages.room_messages_send_batch(items=[*big[:3], item(rooms[0][0], "new", "n")])
    assert [r[1][1] for r in out] == [False, False, False, True]


def test_a_reconnect_after_the_torch_deadline_ends_the_room(make_user):
    a, b, room = start(make_user)
    clock.advance(120)
    services.torch_sweep()
    clock.advance(61)  # nobody swept in between (e.g. the server was down)
    assert services.room_participant_connected(user_id=a.pk) is None
    room.refresh_from_db()
    assert room.status == "ended" and room.end_reason == "inactivity"


def test_batch_payloads_match_the_stored_rows_and_replay(make_user):
    """The batch reads and writes through the connection cursor: what it acks (new, resent, purged)
    is exactly what the ORM reads back (ids, seq, times, room ids, purged flag)."""
    a, b, room = start(make_user)
    out = messages.room_messages_send_batch(items=[item(a, " one ", "1"), item(b, "two", "1")])
    acked = [r[1][0] for r in out]
    replay = messages.room_messages_after_for_user(user_id=a.pk)["messages"]
    assert acked == replay and [m["seq"] for m in acked] == [1, 2]
    clock.advance(5)
    again = messages.room_messages_send_batch(items=[item(a, "one (resent)", "1")])
    assert again[0][1] == (acked[0], False)
    RoomMessage.objects.filter(pk=acked[1]["id"]).update(body="", body_purged_at=clock.now())
    purged = messages.room_messages_send_batch(items=[item(b, "two", "1")])[0][1][0]
    assert purged == messages.room_messages_after_for_user(user_id=b.pk)["messages"][1]
    assert purged["purged"] is True and purged["body"] == ""
    p = {x.user_id: x for x in RoomParticipant.objects.filter(room=room)}
    assert p[a.pk].last_message_at is not None and p[b.pk].last_message_at is not None


def test_batch_ids_come_from_the_returned_keys_not_the_row_order(make_user):
    """Neither database promises that ``INSERT … RETURNING`` answers in VALUES order.  A real
    ``execute_wrapper`` hands the database the batch's rows in reverse order (as an order-free
    RETURNING may answer): every ack still names its own row."""
    a, b, room = start(make_user)
    c, d, other = start(make_user, names=("Cid", "Dee"))
    e, f, third = start(make_user, names=("Eli", "Fay"))

    def reverse_rows(execute, sql, params, many, context):
        if "INSERT INTO" in sql and "RETURNING" in sql and params and len(params) > 6:
            rows = [list(params[i:i + 6]) for i in range(0, len(params), 6)]
            params = [value for row in reversed(rows) for value in row]
        return execute(sql, params, many, context)

    with connection.execute_wrapper(reverse_rows):
        out = messages.room_messages_send_batch(items=[item(a, "one", "1"), item(c, "two", "1"), item(f, "three", "1")])
    for (ok, (message, created), _), user in zip(out, (a, c, f)):
        stored = RoomMessage.objects.get(sender=user, client_id="1")
        assert ok and created and message["id"] == stored.pk and message["body"] == stored.body
    assert [m["body"] for m in messages.room_messages_after_for_user(user_id=b.pk)["messages"]] == ["one"]
