"""``doctor``'s configuration checks (config/doctor_checks.py): each can fail, each passes when right."""

from __future__ import annotations

import io
import socket
import threading

import pytest
from django.core.management import CommandError, call_command

from config import doctor_checks as checks


def _levels(results):
    return [level for level, _ in results]


def test_secret_key_placeholder_short_and_good(settings):
    settings.PRODUCTION = True
    settings.SECRET_KEY = "change-me-to-50-random-characters"
    assert _levels(checks.check_secret_key()) == ["fail"]
    settings.SECRET_KEY = "aB3dE6gH9jK2mN5pQ8sT"
    ((level, message),) = checks.check_secret_key()
    assert level == "fail" and "20 characters" in message
    settings.SECRET_KEY = "x" * 60
    assert _levels(checks.check_secret_key()) == ["fail"]
    settings.SECRET_KEY = "Zq8v1Lw0Ym4s-Rk2Tn7uPj5Xc3Hb6Ga9Df_Ee1Kk4Mm7Nn0Pp2Qq5"
    assert _levels(checks.check_secret_key()) == ["ok"]
    settings.PRODUCTION = False
    settings.SECRET_KEY = "change-me"
    assert checks.check_secret_key() == []


@pytest.mark.parametrize("key", [
    "replace-me-" + "q7Zt" * 12, "django-insecure-" + "k3Jw" * 12, "your-secret-key-" + "m2Xv" * 12,
    "change-me", "aB3dE6gH9jK2mN5pQ8sT", "ab" * 40, "Zq8v1Lw0Ym4s-Rk2Tn7uPj5Xc3Hb6Ga9Df_Ee1Kk4Mm7Nn0Pp2Qq5",
])
def test_doctor_judges_the_secret_key_by_the_settings_own_rule(settings, key):
    """One rule: doctor fails exactly the keys production refuses to start with, with the same reason."""
    from config.env import secret_key_problem

    settings.PRODUCTION = True
    settings.SECRET_KEY = key
    problem = secret_key_problem(key)
    expected = [("fail", f"SECRET_KEY: {problem}")] if problem else [("ok", checks.check_secret_key()[0][1])]
    assert checks.check_secret_key() == expected
    assert (problem is None) == (key.startswith("Zq8v"))


def test_media_root_missing_unwritable_and_static_manifest(settings, tmp_path):
    settings.PRODUCTION = True
    (tmp_path / "a-file").write_text("")
    settings.MEDIA_ROOT = str(tmp_path / "a-file" / "media")
    settings.STATIC_ROOT = str(tmp_path / "static")
    results = checks.check_media_and_static()
    assert _levels(results) == ["fail", "fail"]
    assert "cannot be created" in results[0][1] and "collectstatic" in results[1][1]
    settings.MEDIA_ROOT = str(tmp_path / "not-yet")  # created by the first upload
    assert _levels(checks.check_media_and_static())[0] == "ok"
    (tmp_path / "media").mkdir()
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "staticfiles.json").write_text("{}")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    assert _levels(checks.check_media_and_static()) == ["ok", "ok"]
    import os

    if os.geteuid() != 0:  # root writes anywhere: the unwritable case needs an ordinary user
        (tmp_path / "media").chmod(0o555)
        assert _levels(checks.check_media_and_static())[0] == "fail"
        (tmp_path / "media").chmod(0o755)


def test_media_in_object_storage_is_not_checked_on_disk(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "missing")
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    ((level, message),) = checks.check_media_and_static()
    assert level == "ok" and "InMemoryStorage" in message


def test_turn_warns_in_production_without_a_relay(settings):
    settings.PRODUCTION = True
    settings.TURN_URLS, settings.TURN_SECRET = [], ""
    assert _levels(checks.check_turn()) == ["warn"]
    settings.TURN_URLS = ["turn:turn.example.edu:3478"]
    assert "both" in checks.check_turn()[0][1]
    settings.TURN_SECRET = "s3cret"
    assert _levels(checks.check_turn()) == ["ok"]


def _smtp_server(greeting: bytes):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        conn.sendall(greeting)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_mail_backend_must_deliver_in_production(settings):
    settings.PRODUCTION = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    ((level, message),) = checks.check_mail()
    assert level == "fail" and "never reach anyone" in message
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    server = _smtp_server(b"220 mail.example.edu ESMTP\r\n")
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.getsockname()[1]
    assert _levels(checks.check_mail()) == ["ok"]
    server.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    settings.EMAIL_PORT = closed.getsockname()[1]  # bound, not listening: refused
    ((level, message),) = checks.check_mail()
    closed.close()
    assert level == "warn" and "cannot reach" in message
    settings.PRODUCTION = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert checks.check_mail() == []


@pytest.mark.django_db
def test_doctor_fails_on_a_production_misconfiguration_with_one_line_each(settings, tmp_path):
    settings.PRODUCTION = True
    settings.SECRET_KEY = "change-me-to-50-random-characters"
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.MEDIA_ROOT = str(tmp_path)
    settings.STATIC_ROOT = str(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="3 check"):
        call_command("doctor", stdout=out, stderr=err)
    fails = [line for line in err.getvalue().splitlines() if line.startswith("FAIL")]
    assert [f.split(":")[0] for f in fails] == ["FAIL SECRET_KEY", "FAIL STATIC_ROOT", "FAIL EMAIL_BACKEND"]
    assert "warn TURN" in out.getvalue()
