"""``manage.py purge [--dry-run] [--only NAME …] [--list]``: apply the retention settings."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from config import purge
from config.management.oneline import one_line_errors


class Command(BaseCommand):
    help = "Delete (or scrub) data past its retention, in small batches. --dry-run prints counts only."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
        parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these purgers")
        parser.add_argument("--batch-size", type=int, help="rows per transaction (default PURGE_BATCH_SIZE)")
        parser.add_argument("--list", action="store_true", help="list registered purgers and retentions")

    @one_line_errors("purge")
    def handle(self, *args, **opts):
        available = purge.purgers()
        if opts["list"]:
            for name, p in available.items():
                days = p.retention().total_seconds() / 86400
                self.stdout.write(f"{name:<24} {p.retention_setting}={days:g}d  {p.description}")
            return
        if opts["batch_size"] is not None and opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            results = purge.run(names=opts["only"], dry_run=opts["dry_run"], batch_size=opts["batch_size"])
        except KeyError as exc:
            raise CommandError(f"unknown purger(s): {exc.args[0]}; known: {', '.join(available)}") from exc
        except DatabaseError as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise CommandError(f"database error ({exc.__class__.__name__}: {first}); is it migrated?") from exc
        verb = "would purge" if opts["dry_run"] else "purged"
        for name, count in results.items():
            self.stdout.write(f"{name:<24} {verb} {count}")
        self.stdout.write(f"total {verb} {sum(results.values())}")
