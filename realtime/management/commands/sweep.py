"""``manage.py sweep``: finalise passed room deadlines and expire call invites once (cron-able;
every server process also sweeps on its own)."""

from config.management.base import OperatorCommand

from realtime.runtime import tick


class Command(OperatorCommand):
    help = "End rooms whose grace or timer deadline passed, move rooms of dead processes into grace, expire invites."

    def handle(self, *args, **options):
        result = tick(user_ids=set(), renew=False)
        self.stdout.write(" ".join(f"{k}={v}" for k, v in sorted(result.items())))
