"""``manage.py sweep``: one pass of the deadline sweeper (realtime.runtime.tick)."""

from django.core.management import call_command

from config import clock


def test_sweep_command_finalises_rooms(make_user, capsys):
    from social import services
    from social.models import Room

    a, b = make_user(), make_user()
    room = services.room_start(inviter_id=a.pk, invitee_id=b.pk, mode="text", seconds=60)
    clock.advance(61)
    call_command("sweep")
    assert "timer_ended=1" in capsys.readouterr().out
    assert Room.objects.get(pk=room.pk).end_reason == "timer"
    call_command("sweep")
    assert "timer_ended=0" in capsys.readouterr().out
