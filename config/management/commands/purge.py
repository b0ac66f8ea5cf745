"""``manage.py purge [--dry-run] [--only NAME …] [--list] [--json] [--progress]``: apply the retention settings."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from config import purge
from config.management.base import OperatorCommand


class Command(OperatorCommand):
    help = "Delete (or scrub) data past its retention, in small batches. --dry-run prints counts only."
    progress_option = True

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
        parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these purgers")
        parser.add_argument("--batch-size", type=int, help="rows per transaction (default PURGE_BATCH_SIZE)")
        parser.add_argument("--list", action="store_true", help="list registered purgers and retentions")
        parser.add_argument("--json", action="store_true",
                            help='print {"dry_run", "purgers": {name: rows}, "total"} as JSON on stdout')

    def handle(self, *args, **opts):
        available = purge.purgers()
        if opts["list"]:
            for name, p in available.items():
                days = p.retention().total_seconds() / 86400
                self.stdout.write(f"{name:<24} {p.retention_setting}={days:g}d  {p.description}")
            return
        if opts["batch_size"] is not None and opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        unknown = [n for n in opts["only"] or [] if n not in available]
        if unknown:
            raise CommandError(f"unknown purger(s): {', '.join(unknown)}; known: {', '.join(available)}")

        def bar(name: str, total: int | None):
            return self.progress(total=total, desc=f"{name} ({'counting' if opts['dry_run'] else 'purging'})",
                                 unit="row")

        results = purge.run(names=opts["only"], dry_run=opts["dry_run"], batch_size=opts["batch_size"], progress=bar)
        if opts["json"]:
            self.stdout.write(json.dumps({"dry_run": opts["dry_run"], "purgers": results, "total": sum(results.values())}))
            return
        verb = "would purge" if opts["dry_run"] else "purged"
        for name, count in results.items():
            self.stdout.write(f"{name:<24} {verb} {count}")
        self.stdout.write(f"total {verb} {sum(results.values())}")
