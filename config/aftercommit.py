"""Effects that run after a transaction commits — and can never turn the committed write into an error.

Every service registers its after-commit effects (clearing cached copies, channel-layer notices,
mail, deleting replaced files) through ``after_commit``, never with a bare ``transaction.on_commit``
(``config/tests/test_aftercommit.py`` checks the source tree).  Why: Django runs on-commit callbacks
inside the ``atomic`` block's exit, so a callback that raises propagates out of the service *after*
the commit; the view then answers 500 (or 503) for a write that is stored — the client retries a
change that already happened.

A failing effect is logged (a Redis outage once per outage, through ``config.resilience``; anything
else with its traceback) and counted in ``after_commit_failed_total{effect}``; the caller answers as if
it had run.  What each effect loses is bounded by design: a cached copy that could not be dropped
expires with its TTL (the pre-commit invalidation in the same service already dropped it once), a
notice is recovered by the client's resynchronisation (``auth.ok`` / ``room.get``), a mail can be
asked for again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, transaction

from config import metrics

logger = logging.getLogger("config.aftercommit")


def _run(fn: Callable[[], object], effect: str) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the write committed; never turn it into an error
        from config.resilience import is_redis_unavailable, redis_state

        metrics.inc("after_commit_failed_total", effect=effect)
        if is_redis_unavailable(exc):
            redis_state.failed(exc)  # one warning per outage
            logger.warning("after commit: %s not done (Redis unavailable)", effect)
        else:
            logger.exception("after commit: %s failed", effect)


def after_commit(fn: Callable[[], object], *, effect: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Run ``fn()`` once the current transaction on ``using`` commits (at once outside a transaction;
    never if it rolls back).  ``effect`` names it in logs and in ``after_commit_failed_total``."""
    transaction.on_commit(lambda: _run(fn, effect), using=using)

