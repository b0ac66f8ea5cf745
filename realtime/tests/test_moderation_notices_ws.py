"""Moderation notices reach the user's open sockets after commit: a warning, an appeal decision."""

import pytest
from channels.db import database_sync_to_async as sync_to_async

from moderation import strikes

pytestmark = pytest.mark.django_db(transaction=True)


async def test_warning_and_appeal_decision_reach_the_users_sockets(ws_user, clients, make_user):
    target, token = await ws_user("Target")
    moderator = await sync_to_async(make_user)("Mod", is_staff=True)
    c1, c2 = clients(token), clients(token)
    await c1.open()
    await c2.open()
    strike = await sync_to_async(strikes.strike_create)(user=target, actor=moderator, text="Mind the rules")
    for c in (c1, c2):  # every socket of the user
        got = await c.expect("warning.received")
        assert got["warning"]["id"] == strike.pk and got["warning"]["text"] == "Mind the rules"
    appeal = await sync_to_async(strikes.appeal_create)(user=target, warning_id=strike.pk, text="please")
    await sync_to_async(strikes.appeal_reject)(appeal=appeal, actor=moderator, reason="No.")
    decided = await c1.expect("appeal.decided")
    assert decided["appeal"]["status"] == "rejected" and decided["appeal"]["decision_reason"] == "No."
