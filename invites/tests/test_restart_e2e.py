"""An intro link and its notification survive a SIGKILL of the server (real Daphne processes)."""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_intro_notification_and_link_survive_sigkill(daphne_factory):
    first = daphne_factory()
    _, tara = first.request("POST", "/api/auth/guest", {"name": "Tara"})
    _, ivan = first.request("POST", "/api/auth/guest", {"name": "Ivan"})
    status, link = first.request(
        "POST", "/api/referrals", {"target_user_id": tara["user"]["id"]}, token=ivan["token"]
    )
    assert status == 201, link
    status, bea = first.request("POST", "/api/auth/guest", {"name": "Bea", "referral_token": link["token"]})
    assert status == 201, bea

    first.kill()  # SIGKILL: nothing gets to flush anything

    second = daphne_factory()
    status, listed = second.request("GET", "/api/notifications", token=tara["token"])
    assert status == 200, listed
    assert listed["unread_count"] == 1
    assert listed["results"][0]["text"] == "Ivan introduced Bea to you"
    # the link itself still works after the restart
    assert second.request("GET", f"/api/referrals/{link['token']}")[1] == {"introducer_name": "Ivan", "target_name": "Tara"}
    status, cal = second.request("POST", "/api/auth/guest", {"name": "Cal", "referral_token": link["token"]})
    assert status == 201, cal
    assert second.request("GET", "/api/notifications", token=tara["token"])[1]["unread_count"] == 2
