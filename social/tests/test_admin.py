"""Moderators can read rooms and their bookkeeping in the admin (read-only)."""

import pytest

from config import clock
from social import services


@pytest.mark.django_db
def test_admin_pages_render_read_only(client, make_user):
    from accounts.models import User

    staff = User.objects.create_superuser(email="mod@example.com", password="a-long-password-1")
    client.force_login(staff)
    a, b = make_user("A"), make_user("B")
    live = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="video", seconds=120)
    from social.messages import room_message_send

    room_message_send(user_id=a.pk, sender_public_id=a.public_id, client_id="1", body="side chat line")
    clock.advance(40)
    services.room_end(room_id=live.pk, reason="user", actor_id=a.pk)
    services.block_create(user=a, other=b)
    for url in (
        "/admin/social/room/",
        f"/admin/social/room/{live.pk}/change/",
        "/admin/social/callhistory/",
        "/admin/social/cooldown/",
        "/admin/social/sessioncompletion/",
        "/admin/social/block/",
    ):
        resp = client.get(url)
        assert resp.status_code == 200, url
    assert client.get("/admin/social/room/add/").status_code == 403
    assert "side chat line" in client.get(f"/admin/social/room/{live.pk}/change/").content.decode()
