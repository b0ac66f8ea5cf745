"""``manage.py asyncapi [--file PATH]``: the AsyncAPI 3.0 document of ``/ws/`` as JSON, as
``GET /api/asyncapi.json`` serves it but without a ``servers`` entry (no request, no host) — the
counterpart of ``manage.py spectacular`` for the REST schema (``make types`` uses both)."""

import json

from config.management.base import OperatorCommand
from realtime import asyncapi


class Command(OperatorCommand):
    help = "Write the AsyncAPI document of the WebSocket protocol (JSON) to stdout or --file."
    requires_database = False  # a document built from code

    def add_arguments(self, parser):
        parser.add_argument("--file", help="write here instead of stdout")

    def handle(self, *args, file=None, **options):
        text = json.dumps(asyncapi.document(), indent=2, ensure_ascii=False) + "\n"
        if file:
            with open(file, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            self.stdout.write(text, ending="")
