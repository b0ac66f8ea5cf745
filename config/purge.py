"""Retention: a registry of named purgers, run by ``manage.py purge`` and the periodic sweeper.

Each app registers its purgers in its own ``<app>/purgers.py`` (imported automatically, like
``admin.py``)::

    from datetime import timedelta
    from config import purge

    @purge.register(
        "scan_attempts",
        retention_setting="PURGE_SCAN_ATTEMPTS_DAYS",
        default_days=30,
        description="USC scan attempts older than the retention",
    )
    def scan_attempts(*, now, retention):
        return ScanAttempt.objects.filter(created_at__lt=now - retention)

The function returns the queryset of rows that are past retention *now*.  By default the rows are
deleted; a purger that should scrub instead of delete (e.g. blank the bodies of messages in ended
rooms) passes ``action=lambda qs: qs.update(body="", body_purged_at=now)`` — and its queryset must
then exclude already-scrubbed rows, so the loop ends.

Rows go in primary-key chunks (``PURGE_BATCH_SIZE``), each chunk in its own short transaction,
so no table is locked for long and a running server keeps working.  ``dry_run`` only counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import models, transaction
from django.db.models import QuerySet

from config import clock, metrics

logger = logging.getLogger(__name__)

Selector = Callable[..., QuerySet]
Action = Callable[[QuerySet], int]


class ProgressBar(Protocol):
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...


# ``progress(purger_name, total_or_None) -> bar``: a bar per purger (``manage.py purge --progress``).
Progress = Callable[[str, "int | None"], ProgressBar]


@dataclass(frozen=True)
class Purger:
    name: str
    select: Selector
    retention_setting: str
    default_days: float
    description: str
    action: Action | None = None

    def retention(self) -> timedelta:
        return timedelta(days=float(getattr(settings, self.retention_setting, self.default_days)))

    def candidates(self, now: datetime) -> QuerySet:
        return self.select(now=now, retention=self.retention())

    def run(
        self, *, now: datetime, dry_run: bool, batch_size: int, deleted_before: list | None = None,
        progress: Progress | None = None,
    ) -> int:
        qs = self.candidates(now)
        if dry_run:
            # A real run goes purger by purger: rows an earlier purger deletes — itself or by cascade
            # — are gone when this one runs (an expired session that was also revoked is purged
            # once, not twice).
            qs = _without_rows_deleted_by(qs, deleted_before or [])
            bar = progress(self.name, None) if progress else None
            count = qs.count()
            if bar is not None:
                bar.update(count)
                bar.close()
            return count
        model = qs.model
        bar = progress(self.name, qs.count()) if progress else None
        total = 0
        try:
            while True:
                pks = list(qs.order_by("pk").values_list("pk", flat=True)[:batch_size])
                if not pks:
                    break
                with transaction.atomic():
                    chunk = model._base_manager.filter(pk__in=pks)
                    if self.action is None:
                        done = chunk.delete()[1].get(model._meta.label, 0)
                    else:
                        done = self.action(chunk)
                total += done
                if bar is not None:
                    bar.update(done)
                if done == 0 or len(pks) < batch_size:
                    break  # nothing more matched (or an action that doesn't shrink the set)
        finally:
            if bar is not None:
                bar.close()
        return total


def _without_rows_deleted_by(qs: QuerySet, earlier: list[QuerySet]) -> QuerySet:
    """``qs`` minus the rows the ``earlier`` delete purgers take with them: the same rows, and rows
    whose foreign key cascades from a deleted row (one level: none of ours go deeper)."""
    model = qs.model
    for deleted in earlier:
        if deleted.model is model:
            qs = qs.exclude(pk__in=deleted.values("pk"))
        for field in model._meta.concrete_fields:
            remote = field.remote_field
            if (
                field.is_relation and remote is not None and field.many_to_one
                and remote.model is deleted.model and remote.on_delete is models.CASCADE
            ):
                qs = qs.exclude(**{f"{field.name}__in": deleted.values(remote.field_name or "pk")})
    return qs


_registry: dict[str, Purger] = {}


def register(
    name: str,
    *,
    retention_setting: str,
    default_days: float,
    description: str,
    action: Action | None = None,
) -> Callable[[Selector], Selector]:
    """Decorator: register ``select(*, now, retention) -> QuerySet`` under ``name``."""

    def decorate(select: Selector) -> Selector:
        _registry[name] = Purger(
            name=name,
            select=select,
            retention_setting=retention_setting,
            default_days=default_days,
            description=description,
            action=action,
        )
        return select

    return decorate


def unregister(name: str) -> None:
    _registry.pop(name, None)


def purgers() -> dict[str, Purger]:
    autodiscover()
    return dict(sorted(_registry.items()))


_discovered = False


def autodiscover() -> None:
    global _discovered
    if not _discovered:
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("purgers")
        _discovered = True


def run(
    *, names: list[str] | None = None, dry_run: bool = False, batch_size: int | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Run the named purgers (all by default).  Returns ``{name: rows purged (or due, dry run)}``."""
    available = purgers()
    unknown = [n for n in names or [] if n not in available]
    if unknown:
        raise KeyError(", ".join(unknown))
    size = batch_size or int(getattr(settings, "PURGE_BATCH_SIZE", 1000))
    now = clock.now()
    results = {}
    deleted: list = []  # querysets of the delete purgers already counted (dry run)
    for name, purger in available.items():
        if names and name not in names:
            continue
        count = purger.run(now=now, dry_run=dry_run, batch_size=size, deleted_before=deleted, progress=progress)
        if dry_run and purger.action is None:
            deleted.append(purger.candidates(now))
        results[name] = count
        if not dry_run:
            if count:
                metrics.inc("purge_rows_total", count, purger=name)
                logger.info("purged %s rows (%s)", count, name)
    if not dry_run:
        metrics.inc("purge_runs_total")
    return results
