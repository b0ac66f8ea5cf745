"""Group commit for calls that arrive by the thousand at once (a reconnect storm's ``auth`` calls, a
crowd's heart-beats): the calls that come in while a batch runs make up the next batch, and each
batch is ONE call of a sync function over the whole list, on a dedicated thread that keeps its
database connection while work is queued (and hands it back once idle).

Per call, the event loop pays a future and a list append instead of a thread hop; per batch, the
function pays a fixed number of statements / round trips instead of one set per item.  Under a
light load a batch is one item and the cost is that of a plain ``sync_to_async`` hop.

    touch = Batcher("presence-touch", presence_touch_many, max_batch=200)
    await touch.call(item)   # → that item's result, or raises that item's exception

The function takes the list of items and returns one result per item, in order; a result that is
an ``Exception`` instance is raised to that item's caller only.  If the function raises for a
batch, its items are retried one by one, so each caller hears of its own failure only.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from asgiref.sync import SyncToAsync
from django.db import connections


class _LoopState:
    """One event loop's waiting calls.  The worker thread takes batches while there are any (one
    hop to the thread per busy spell, not per batch) and hands each batch's results back with
    ``call_soon_threadsafe``; ``lock`` makes "queue empty → stop draining" atomic with "append →
    start draining unless already"."""

    __slots__ = ("loop", "queue", "draining", "lock", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: collections.deque = collections.deque()
        self.draining = False
        self.lock = threading.Lock()


def _resolve(batch: list, results: list) -> None:
    for (_, fut), result in zip(batch, results):
        if not fut.done():
            fut.set_result(result)


class Batcher:
    def __init__(self, name: str, func: Callable[[list], list], *, max_batch: int = 200, linger: float = 0.0):
        """``linger``: seconds a quiet batcher waits for more calls before it starts a batch — for
        calls nobody waits on eagerly (heart-beats arrive one by one, every 20 s per socket)."""
        self.name, self.func, self.max_batch, self.linger = name, func, max_batch, linger
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        return self._pool

    async def call(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState(loop)
        fut = loop.create_future()
        with state.lock:
            state.queue.append((item, fut))
            start, state.draining = not state.draining, True
        if start:
            loop.create_task(self._drain(state))
        result = await fut
        if isinstance(result, BaseException):
            raise result
        return result

    async def _drain(self, state: _LoopState) -> None:
        try:
            if self.linger:
                await asyncio.sleep(self.linger)
            # asgiref's SyncToAsync (not a bare executor call): sync code in the thread may still
            # use async_to_sync against this loop (the in-memory channel layer's events)
            await SyncToAsync(self._run_all, thread_sensitive=False, executor=self._executor())(state)
        except BaseException as exc:  # e.g. the loop is shutting down: no caller waits forever
            with state.lock:
                waiting = list(state.queue)
                state.queue.clear()
                state.draining = False
            for _, fut in waiting:
                if not fut.done():
                    fut.cancel() if isinstance(exc, asyncio.CancelledError) else fut.set_exception(exc)
            raise

    def _run_all(self, state: _LoopState) -> None:
        """In the worker thread: batches until the queue is empty."""
        try:
            while True:
                with state.lock:
                    if not state.queue:
                        state.draining = False
                        return
                    batch = [state.queue.popleft() for _ in range(min(self.max_batch, len(state.queue)))]
                results = self._run(batch)
                state.loop.call_soon_threadsafe(_resolve, batch, results)
        finally:
            connections.close_all()  # idle: hand the connection back (to the pool on PostgreSQL)

    def _run(self, batch: list) -> list:
        items = [item for item, _ in batch]
        try:
            return self._call(items)
        except Exception as exc:  # noqa: BLE001
            connections.close_all()
            if len(items) == 1:
                return [exc]
        # one bad item must not fail its neighbours: the batch's items are retried alone
        results = []
        for item in items:
            try:
                results.append(self._call([item])[0])
            except Exception as one:  # noqa: BLE001 - that caller hears of it
                connections.close_all()
                results.append(one)
        return results

    def _call(self, items: list) -> list:
        results = self.func(items)
        if len(results) != len(items):
            raise RuntimeError(f"{self.name}: {len(results)} results for {len(items)} items")
        return results
