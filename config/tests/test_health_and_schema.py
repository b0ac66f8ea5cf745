import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from config.net import client_ip_from


@pytest.mark.django_db
def test_healthz_and_readyz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.content
    expected = {"database": "ok", "cache": "ok", "migrations": "ok"}
    if settings.REDIS_URL:
        expected["channel_layer"] = "receiving"
    assert resp.json()["checks"] == expected


@pytest.mark.django_db
def test_readyz_503_when_database_unreachable(client, monkeypatch):
    from config import health

    monkeypatch.setattr(health, "database_ok", lambda: (False, "OperationalError"))
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["status"] == "not_ready"


def test_openapi_schema_has_no_warnings():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "openapi" in out.getvalue()


@pytest.mark.django_db
def test_swagger_ui_served_locally(client):
    resp = client.get("/api/docs/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()


@pytest.mark.django_db
def test_doctor_reports_storage_and_passes():
    out = io.StringIO()
    call_command("doctor", stdout=out)
    text = out.getvalue()
    assert "storage: database=" in text
    assert "What survives a restart here" in text
    assert "all checks passed" in text


def test_doctor_fails_with_one_line_reason_when_database_down(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, DATABASE_URL="postgresql://postgres@127.0.0.1:5433/nope", DJANGO_ENV="test")
    env.pop("REDIS_URL", None)
    proc = subprocess.run(
        [sys.executable, "manage.py", "doctor"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "DATABASE_URL: connection refused at 127.0.0.1:5433" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_production_refuses_to_start_without_secret_key():
    import os
    import subprocess
    import sys

    env = dict(os.environ, DJANGO_ENV="production", ALLOWED_HOSTS="example.com")
    env.pop("SECRET_KEY", None)
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "SECRET_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("change-me-to-50-random-characters", "placeholder"),  # deploy/env.example as shipped
        ("change-me-to-50-random-characters-" + "q" * 30, "placeholder"),
        ("django-insecure-" + "a1b2c3d4e5" * 5, "placeholder"),
        ("Sh0rt-but-random-9f8e7d", "is 23 characters; at least 50"),
        ("ab" * 40, "fewer than 5 distinct"),
    ],
)
def test_production_refuses_a_placeholder_or_weak_secret_key_and_doctor_says_why(key, why):
    import os
    import subprocess
    import sys

    env = dict(os.environ, DJANGO_ENV="production", ALLOWED_HOSTS="example.com", SECRET_KEY=key)
    proc = subprocess.run([sys.executable, "manage.py", "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: configuration: SECRET_KEY: ") and why in proc.stderr
    assert "refusing to start" in proc.stderr and key not in proc.stderr  # never echo the secret
    assert "Traceback" not in proc.stderr


def test_secret_key_rule():
    from config.env import secret_key_problem

    assert secret_key_problem("k3y-" + "0123456789abcdef" * 4) is None
    assert secret_key_problem("x" * 50) is not None


def test_check_deploy_clean_in_production():
    import os
    import subprocess
    import sys

    env = dict(os.environ, DJANGO_ENV="production", ALLOWED_HOSTS="example.com", SECRET_KEY="x" * 30 + "Yz9!" * 10)
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "hops,remote,xff,expected",
    [
        (0, "10.0.0.1", "1.2.3.4", "10.0.0.1"),  # no trusted proxy: header ignored
        (1, "10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # spoofed left entry ignored
        (1, "10.0.0.1", None, "10.0.0.1"),
        (2, "10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"),
        (1, "10.0.0.1", "garbage", "10.0.0.1"),
        (1, "10.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_trusted_proxy_rule(settings, hops, remote, xff, expected):
    settings.TRUSTED_PROXY_COUNT = hops
    assert client_ip_from(remote, xff) == expected


def test_startup_line_never_contains_a_password(settings, monkeypatch):
    from config import storage

    monkeypatch.setitem(
        settings.DATABASES,
        "default",
        {"ENGINE": "django.db.backends.postgresql", "HOST": "db", "PORT": 5432, "NAME": "app", "PASSWORD": "s3cret"},
    )
    line = storage.summary_line()
    assert "s3cret" not in line and "db:5432/app" in line
