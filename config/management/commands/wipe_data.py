"""``manage.py wipe_data``: the fresh-start script, made hard to run by accident.

Shows what it would delete per table, then asks for the database name to be typed (or takes
``--yes-i-mean-it --database-name NAME``).  Refuses in production unless ``--allow-production``.
Keeps staff accounts (and their group memberships / permissions), any group named "Moderators",
the audit log, and the tables ``migrate`` fills itself; deletes every other row of every model's
table (models other apps add are covered: the list comes from ``apps.get_models()``).  Writes one
audit entry in the same transaction, then clears our cache keys (presence, pending invites, rate
limits and cached sessions live there).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.db.models import Model, Q, QuerySet

from config import dbtools
from config.management.base import OperatorCommand

MODERATORS_GROUP = "Moderators"
ALWAYS_KEPT = dbtools.MIGRATE_SEEDED | {"audit.auditlog"}


def clear_cache_state() -> int:
    """Delete every cache key under our prefix.  Returns keys deleted when known (-1 otherwise).

    With Redis the prefix scopes the deletion, so another deployment sharing the Redis server is
    untouched; raw keys written directly with the ``CACHE_KEY_PREFIX`` (``<prefix>:…``) go too."""
    from django.core.cache import cache

    if not hasattr(cache, "delete_pattern"):
        cache.clear()
        return -1
    deleted = cache.delete_pattern("*") or 0
    try:
        from django_redis import get_redis_connection

        client = get_redis_connection("default")
        prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
        if prefix:
            batch = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            while batch:
                deleted += client.delete(*batch[:1000])
                batch = batch[1000:]
    except Exception:  # noqa: BLE001 - the pattern delete above already did the main work
        pass
    return int(deleted)


class Plan:
    """Which rows of which tables go, computed once and shown before anything is deleted."""

    def __init__(self, alias: str, *, keep_staff: bool, keep_moderators: bool, keep_audit: bool):
        from django.contrib.auth import get_user_model

        self.alias = alias
        User = get_user_model()
        self.user_model = User
        self.kept_user_ids = (
            list(User._base_manager.using(alias).filter(Q(is_staff=True) | Q(is_superuser=True)).values_list("pk", flat=True))
            if keep_staff
            else []
        )
        self.kept_group_ids = (
            list(Group.objects.using(alias).filter(name__iexact=MODERATORS_GROUP).values_list("pk", flat=True))
            if keep_moderators
            else []
        )
        self.always_kept = set(dbtools.MIGRATE_SEEDED)
        if keep_audit:
            self.always_kept.add("audit.auditlog")
        self.models = dbtools.concrete_models()

    def kept_filter(self, model: type[Model]) -> Q | None:
        """Rows of ``model`` that survive, or None when the whole table goes."""
        label = model._meta.label_lower
        if label in self.always_kept:
            return Q(pk__isnull=False)
        if model is self.user_model:
            return Q(pk__in=self.kept_user_ids)
        if model is Group:
            return Q(pk__in=self.kept_group_ids)
        if model._meta.auto_created:
            # M2M through rows survive when their owner does (staff memberships, Moderators' perms).
            parts = []
            for f in model._meta.concrete_fields:
                if f.is_relation and f.remote_field.model is self.user_model:
                    parts.append(Q(**{f"{f.attname}__in": self.kept_user_ids}))
                elif f.is_relation and f.remote_field.model is Group:
                    parts.append(Q(**{f"{f.attname}__in": self.kept_group_ids}))
            if parts:
                q = parts[0]
                for p in parts[1:]:
                    q &= p
                return q
        return None

    def doomed(self, model: type[Model]) -> QuerySet:
        qs = model._base_manager.using(self.alias).all()
        keep = self.kept_filter(model)
        return qs if keep is None else qs.exclude(keep)

    def counts(self) -> dict[str, int]:
        tables = dbtools.existing_tables(self.alias)
        return {
            m._meta.db_table: self.doomed(m).count()
            for m in self.models
            if m._meta.db_table in tables
        }

    def wiped_models(self) -> list[type[Model]]:
        return [m for m in self.models if m._meta.label_lower not in self.always_kept]

    def detach_kept_rows(self) -> None:
        """Kept rows may point at rows that go (e.g. a staff user's nullable FK to an invite
        code): null those pointers first; a non-nullable one means the row can't be kept."""
        for model in self.models:
            keep = self.kept_filter(model)
            if keep is None or model._meta.label_lower in self.always_kept:
                continue
            for f in model._meta.concrete_fields:
                if not (f.is_relation and f.many_to_one):
                    continue
                target = f.remote_field.model
                if target._meta.label_lower in self.always_kept:
                    continue
                kept_rows = model._base_manager.using(self.alias).filter(keep)
                dangling = kept_rows.filter(**{f"{f.attname}__isnull": False})
                target_keep = self.kept_filter(target)
                if target_keep is not None:
                    kept_target_ids = target._base_manager.using(self.alias).filter(target_keep).values("pk")
                    dangling = dangling.exclude(**{f"{f.attname}__in": kept_target_ids})
                if not dangling.exists():
                    continue
                if not f.null:
                    raise CommandError(
                        f"cannot keep {model._meta.label} rows: {f.name} points at {target._meta.label} rows being deleted"
                    )
                dangling.update(**{f.attname: None})


class Command(OperatorCommand):
    help = "Delete all user data for a fresh start (keeps staff, the Moderators group and the audit log)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")
        parser.add_argument("--yes-i-mean-it", action="store_true", help="don't ask; needs --database-name")
        parser.add_argument("--database-name", help="the database's name, as confirmation")
        parser.add_argument("--allow-production", action="store_true")
        parser.add_argument("--include-staff", action="store_true", help="delete staff accounts too")
        parser.add_argument("--include-moderators-group", action="store_true", help="delete the Moderators group too")
        parser.add_argument("--include-audit-log", action="store_true", help="delete the audit log too")
        parser.add_argument("--dry-run", action="store_true", help="show the counts and stop")

    def handle(self, *args, **opts):
        alias = opts["database"]
        if settings.PRODUCTION and not opts["allow_production"]:
            raise CommandError("refusing to wipe a production database without --allow-production")
        name = dbtools.database_name(alias)
        plan = Plan(
            alias,
            keep_staff=not opts["include_staff"],
            keep_moderators=not opts["include_moderators_group"],
            keep_audit=not opts["include_audit_log"],
        )
        counts = plan.counts()
        self.stdout.write(f"wipe_data on {connections[alias].vendor} database {name!r} would delete:")
        width = max((len(t) for t in counts), default=10)
        for table, n in counts.items():
            if n:
                self.stdout.write(f"  {table:<{width}}  {n:>10}")
        total = sum(counts.values())
        self.stdout.write(f"  {'total':<{width}}  {total:>10}")
        self.stdout.write(
            f"keeping: {len(plan.kept_user_ids)} staff accounts, {len(plan.kept_group_ids)} Moderators group(s)"
            + ("" if opts["include_audit_log"] else ", the audit log")
        )
        if opts["dry_run"]:
            return

        if opts["yes_i_mean_it"]:
            if opts["database_name"] != name:
                raise CommandError(f"--database-name must be {name!r} to confirm (got {opts['database_name']!r})")
        else:
            try:
                typed = input(f"Type the database name ({name}) to delete these rows: ")
            except (EOFError, OSError):  # no terminal: never a yes
                typed = ""
            if typed.strip() != name:
                raise CommandError("confirmation did not match; nothing deleted")

        from audit.services import audit_record

        with transaction.atomic(using=alias):
            plan.detach_kept_rows()
            deleted = {}
            # Children first; foreign keys are also deferred to commit on both engines.
            for model in reversed(plan.wiped_models()):
                qs = plan.doomed(model)
                n = qs._raw_delete(alias) if model._meta.db_table in counts else 0
                if n:
                    deleted[model._meta.db_table] = n
            # Kept staff keep their accounts, not their profile extras (the seed's wipe clears
            # everyone's Instagram posts; locations went with their table above).
            if plan.kept_user_ids and hasattr(plan.user_model, "instagram_posts"):
                plan.user_model._base_manager.using(alias).filter(pk__in=plan.kept_user_ids).update(instagram_posts=[])
            if opts["include_audit_log"]:
                from audit.models import AuditLog

                n = AuditLog.objects.using(alias).all()._raw_delete(alias)
                if n:
                    deleted[AuditLog._meta.db_table] = n
            audit_record(
                actor=None,
                action="data.wipe",
                target_type="database",
                target_id=name,
                target_label=f"{connections[alias].vendor} {name}",
                after={
                    "deleted": deleted,
                    "kept_staff": len(plan.kept_user_ids),
                    "kept_groups": len(plan.kept_group_ids),
                },
            )
        keys = clear_cache_state()
        self.stdout.write(
            f"wiped {sum(deleted.values())} rows from {len(deleted)} tables; "
            f"cache cleared ({'all' if keys < 0 else keys} keys)"
        )
