"""``config.batching.Batcher``: calls that arrive while a batch runs make up the next batch (one
call of the function for all of them), each caller gets its own result in order, and one bad
item fails only its own caller."""

from __future__ import annotations

import asyncio
import threading

from config.batching import Batcher


class Recorder:
    def __init__(self):
        self.batches: list[list] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list) -> list:
        self.batches.append(list(items))
        if len(self.batches) == 1:  # hold the first batch until the test has queued more
            self.started.set()
            assert self.release.wait(10)
        return [ValueError(f"bad {i}") if i == "bad" else i * 2 for i in items]


async def test_calls_that_arrive_during_a_batch_are_the_next_batch_and_each_gets_its_result():
    rec = Recorder()
    batcher = Batcher("t-batch", rec, max_batch=4)
    first = asyncio.ensure_future(batcher.call(1))
    assert await asyncio.to_thread(rec.started.wait, 10)
    rest = [asyncio.ensure_future(batcher.call(i)) for i in range(2, 11)]
    await asyncio.sleep(0)  # one turn of the loop: the tasks queue their items (no thread, no clock)
    rec.release.set()
    assert await first == 2
    assert await asyncio.gather(*rest) == [i * 2 for i in range(2, 11)]
    # one batch of one, then the nine that waited in batches of at most four, in order
    assert rec.batches == [[1], [2, 3, 4, 5], [6, 7, 8, 9], [10]]


async def test_a_bad_item_fails_only_its_own_caller():
    rec = Recorder()
    rec.release.set()
    batcher = Batcher("t-batch-bad", rec)
    ok, bad = await asyncio.gather(batcher.call(3), batcher.call("bad"), return_exceptions=True)
    assert ok == 6 and isinstance(bad, ValueError)


async def test_a_batch_that_raises_is_retried_item_by_item():
    calls: list[list] = []

    def func(items):
        calls.append(list(items))
        if 0 in items:
            raise ZeroDivisionError("one bad apple")
        return [10 // i for i in items]

    batcher = Batcher("t-batch-retry", func)
    # four calls queued before the worker starts: one batch
    results = await asyncio.gather(batcher.call(5), batcher.call(2), batcher.call(0), batcher.call(1), return_exceptions=True)
    assert calls[0] == [5, 2, 0, 1]
    assert results[0] == 2 and results[1] == 5 and isinstance(results[2], ZeroDivisionError) and results[3] == 10
    assert any(len(batch) > 1 and 0 in batch for batch in calls)  # the batch raised ...
    assert [0] in calls and [1] in calls  # ... and its items were run alone


async def test_a_lingering_batcher_gathers_calls_that_arrive_within_its_linger():
    rec = Recorder()
    rec.release.set()
    rec.batches.append(["(the first batch is held in the other tests)"])
    batcher = Batcher("t-batch-linger", rec, linger=0.2)
    first = asyncio.ensure_future(batcher.call(1))
    await asyncio.sleep(0)  # queued: the batcher now lingers
    later = [asyncio.ensure_future(batcher.call(i)) for i in (2, 3)]
    assert await asyncio.gather(first, *later) == [2, 4, 6]
    assert rec.batches[1:] == [[1, 2, 3]]
