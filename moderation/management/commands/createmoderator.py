"""``manage.py createmoderator``: a staff account in the "Moderators" group (or promote one).

    manage.py createmoderator --email mod@example.edu --name "Mo Derator"        # prompts for the password
    printf '%s\n' "$PW" | manage.py createmoderator --email mod@example.edu --password-stdin
    manage.py createmoderator --email lead@example.edu --superuser                 # also a superuser

An existing account with that email is promoted; its password changes only when one is given.
"""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import CommandError

from config.errors import ApplicationError
from config.management.base import OperatorCommand
from moderation import services


class Command(OperatorCommand):
    help = "Create a moderator (staff + Moderators group) or promote an existing account."

    def add_arguments(self, parser):
        parser.add_argument("--email", help="login email (prompted when missing and interactive)")
        parser.add_argument("--name", default="", help="display name (default: the part before @)")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
        parser.add_argument("--no-password", action="store_true",
                            help="promote an existing account without touching its password")
        parser.add_argument("--superuser", action="store_true", help="also make it a superuser (full admin)")

    def handle(self, *args, **opts):
        from accounts.models import User

        email = opts["email"]
        if not email:
            if not sys.stdin.isatty():
                raise CommandError("--email is required when not interactive")
            email = input("Email: ").strip()
        exists = User.objects.filter(email=User.objects.normalize_email(email).lower()).exists()
        password = None
        if opts["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: stdin was empty")
        elif not opts["no_password"]:
            if not sys.stdin.isatty():
                raise CommandError("no terminal to prompt for a password: use --password-stdin"
                                   + (" or --no-password" if exists else ""))
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords did not match")
        try:
            user, created = services.moderator_create(email=email, name=opts["name"], password=password,
                                                      superuser=opts["superuser"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        role = "superuser and moderator" if user.is_superuser else "moderator"
        self.stdout.write(f"{'created' if created else 'promoted'} {role}: {user.email} (sign in at /admin/)")
