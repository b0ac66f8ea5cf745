"""``manage.py seed_demo``: a populated demo so the admin and the app can be tried at once.

Creates a superuser-moderator to sign in to /admin/ with, guest users with photos and bios, a call
history (finished rooms with chat messages), reports with room evidence (one reported user has an
open report queue), one live room, and a batch of invite codes.  Everything goes through the
services, like real traffic.  Refused with ``DJANGO_ENV=production``; refused on a database that
was already seeded (``manage.py wipe_data`` first).

The live room is real: with no client connected, a running server's sweeper moves it into grace
and ends it after ``ROOM_GRACE_SECONDS`` — seed while the servers are stopped to look at it.
"""

from __future__ import annotations

import struct
import zlib

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import CommandError

from config import clock
from config.management.base import OperatorCommand

MODERATOR_EMAIL = "demo-moderator@example.com"
NAMES = [
    ("Ada", "female", "Maths, climbing, bad puns."), ("Ben", "male", "Film nerd. Ask me about Kurosawa."),
    ("Chloé", "female", "Exchange student from Lyon."), ("Dev", "male", "CS junior, coffee-powered."),
    ("Eli", "nonbinary", "Choir and chess."), ("Fatima", "female", "Pre-med; will talk about sleep."),
    ("Gus", "male", "Skate, surf, repeat."), ("Hana", "female", "Design student, plant collector."),
]
COLOURS = [(231, 76, 60), (52, 152, 219), (46, 204, 113), (155, 89, 182), (241, 196, 15), (26, 188, 156),
           (230, 126, 34), (52, 73, 94)]


def png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """A solid-colour PNG (a stand-in selfie), built with zlib only."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * size
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b""))


class Command(OperatorCommand):
    help = "Fill an empty development database with demo users, history, reports and a live room."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="demo-pass-1234",
                            help=f"password of {MODERATOR_EMAIL} (default demo-pass-1234)")

    def handle(self, *args, **opts):
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run with DJANGO_ENV=production (it makes fake users)")
        from accounts.models import User

        if User.objects.filter(email=MODERATOR_EMAIL).exists():
            raise CommandError("this database already holds the demo (run `manage.py wipe_data` first)")
        try:
            self._seed(opts["password"])
        finally:
            clock.reset()

    def _seed(self, password: str) -> None:
        from accounts import services as accounts_services
        from accounts.models import User
        from invites import services as invite_services
        from moderation import services as moderation_services
        from social import messages as social_messages
        from social import services as social_services

        moderator, _ = moderation_services.moderator_create(email=MODERATOR_EMAIL, name="Demo Moderator",
                                                            password=password, superuser=True)
        users = []
        for (name, gender, bio), colour in zip(NAMES, COLOURS):
            user = User.objects.create_user(name=name, gender=gender)
            accounts_services.profile_update(user=user, data={"bio": bio})
            accounts_services.media_set(user=user, kind="photo",
                                        upload=SimpleUploadedFile(f"{name}.png", png(colour), "image/png"))
            users.append(user)

        # call history, an hour ago: finished rooms with a little chat, long enough to count as calls
        clock.advance(-3600)
        rooms = []
        script = [(0, 1, "text"), (2, 3, "video"), (0, 2, "text"), (1, 3, "text"), (4, 0, "text"), (5, 0, "video")]
        for a, b, mode in script:
            room = social_services.room_start(inviter_id=users[a].pk, invitee_id=users[b].pk, mode=mode, seconds=600)
            lines = [(a, f"hi {users[b].name}!"), (b, "hey :)"), (a, "how's the semester going?"),
                     (b, "busy, but good")]
            if (a, b) in {(4, 0), (5, 0)}:
                lines.append((0, "send me your number or I'll find you"))  # reported below
            for i, (who, body) in enumerate(lines):
                clock.advance(15)
                social_messages.room_message_send(user_id=users[who].pk, sender_public_id=users[who].public_id,
                                                  client_id=f"demo-{room.pk}-{i}", body=body)
            clock.advance(settings.CALL_COMPLETION_MIN_SECONDS + 30)
            social_services.room_end(room_id=room.pk, reason="user", actor_id=users[a].pk)
            rooms.append(room)
            clock.advance(120)

        # reports with the room as evidence: two people reported Ada from their rooms
        clock.reset()
        for reporter, room in ((users[4], rooms[4]), (users[5], rooms[5])):
            moderation_services.report_create(
                reporter=reporter, reported_user_id=users[0].public_id, category="harassment",
                details="Threatening messages at the end of the call.", room_id=room.pk,
            )
        moderation_services.report_create(reporter=users[7], reported_user_id=users[6].public_id, category="spam",
                                          details="Kept posting a link to a crypto site.")

        live = social_services.room_start(inviter_id=users[6].pk, invitee_id=users[7].pk, mode="video", seconds=600)
        codes = invite_services.invite_batch_create(actor=moderator, count=3, max_uses=5, note="seed_demo")

        out = self.stdout.write
        out(f"admin: /admin/ as {MODERATOR_EMAIL} / {password} (superuser, Moderators group)")
        out(f"users: {len(users)} guests with photos ({', '.join(u.name for u in users)})")
        out(f"history: {len(rooms)} finished rooms with messages; live room {live.pk} ({users[6].name} ↔ {users[7].name})")
        out("reports: 3 open (2 against Ada with room evidence, 1 spam against Gus)")
        out(f"invite codes (5 uses each): {', '.join(c.code for c in codes)}")
