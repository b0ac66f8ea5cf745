"""The chat writer (``realtime.signaling.chat_send``): messages sent together are one batch on the
writer's thread, each sender hears only its own outcome, and a batch that raises is retried item
by item without counting anyone's rate limit twice or storing a message twice."""

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from config import ratelimit
from config.errors import RateLimited
from realtime import signaling
from social import messages, services
from social.models import RoomMessage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def senders(make_user, settings):
    """Ann and Bob in one room, Cid (in no room); one message per connection per window."""
    settings.ROOM_MESSAGE_RATE_PER_10S = 1
    a, b, c = make_user("Ann"), make_user("Bob"), make_user("Cid")
    services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="text", seconds=600)
    return a, b, c


@pytest.fixture
def batches(monkeypatch):
    """Sizes of the batches the writer stores; ``batches.fail`` = what a batch of more than one does."""
    real = messages.room_messages_send_batch
    sizes: list[int] = []

    def spy(*, items):
        sizes.append(len(items))
        if len(items) > 1 and spy.fail == "before":
            raise RuntimeError("the batch is lost")
        out = real(items=items)
        if len(items) > 1 and spy.fail == "after":
            raise RuntimeError("the batch committed, then its answer was lost")
        return out

    spy.fail = None
    spy.sizes = sizes
    monkeypatch.setattr(messages, "room_messages_send_batch", spy)
    return spy


def send(user, connection_id, client_id, body="hi"):
    return signaling.chat_send(
        user_id=user.pk, sender_public_id=user.public_id, connection_id=connection_id, client_id=client_id, body=body
    )


async def together(*sends):
    """Queued before the writer starts: one batch."""
    return await asyncio.gather(*sends, return_exceptions=True)


def code(result):
    return getattr(result, "code", None)


async def test_a_rate_limited_message_in_a_batch_fails_only_its_own_sender(senders, batches):
    a, b, c = senders
    first, second, bob, cid = await together(
        send(a, "c-a", "1"), send(a, "c-a", "2"), send(b, "c-b", "1"), send(c, "c-c", "1")
    )
    assert batches.sizes == [4]
    assert isinstance(second, RateLimited) and second.retry_after >= 1
    assert code(cid) == "not_in_room"
    (m1, created1, _), (m2, created2, _) = first, bob
    assert (m1["body"], m1["seq"], created1) == ("hi", 1, True) and (m2["seq"], created2) == (2, True)
    assert await sync_to_async(RoomMessage.objects.count)() == 2


async def test_a_batch_that_raises_is_retried_alone_and_nobody_is_counted_twice(senders, batches):
    a, b, c = senders
    batches.fail = "before"
    first, second, bob, cid = await together(
        send(a, "c-a", "1"), send(a, "c-a", "2"), send(b, "c-b", "1"), send(c, "c-c", "1")
    )
    assert batches.sizes == [4, 1, 1, 1, 1]  # the batch, then each message alone
    assert first[1] is True and bob[1] is True and [first[0]["seq"], bob[0]["seq"]] == [1, 2]
    assert code(second) == "rate_limited" and code(cid) == "not_in_room"
    peek = sync_to_async(ratelimit.peek)
    counts = [await peek(f"roommsg:{conn}", window=signaling.WINDOW) for conn in ("c-a", "c-b")]
    assert counts == [2, 1]  # one hit per message, as if the batch had not failed
    assert await sync_to_async(RoomMessage.objects.count)() == 2


async def test_a_batch_retried_after_it_committed_stores_each_message_once(senders, batches):
    """``client_id`` makes the retry safe: a message the failed attempt did store is answered as a
    resend (the stored message, ``created`` False), never written twice."""
    a, b, c = senders
    batches.fail = "after"
    ann, bob = await together(send(a, "c-a", "1", body="one"), send(b, "c-b", "1", body="two"))
    assert batches.sizes == [2, 1, 1]
    assert [(m["body"], m["seq"], created) for m, created, _ in (ann, bob)] == [("one", 1, False), ("two", 2, False)]
    stored = await sync_to_async(lambda: list(RoomMessage.objects.order_by("id").values_list("id", "body")))()
    assert stored == [(ann[0]["id"], "one"), (bob[0]["id"], "two")]
