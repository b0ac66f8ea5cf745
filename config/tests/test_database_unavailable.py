"""The three places that turn 'database unavailable' into 503 + Retry-After + the one error body.
(The real thing — a PostgreSQL server stopped under load — is in test_database_down.py.)"""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client


class DbDownMiddleware:
    """Stands in for a middleware that touches the database (sessions, auth) while it is down."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/ok" and request.GET.get("mw") == "down":
            raise OperationalError("the database system is shutting down")
        return self.get_response(request)


@pytest.fixture
def dbdown_urls(settings):
    settings.ROOT_URLCONF = "config.tests.urls_dbdown"
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "config.tests.test_database_unavailable.DbDownMiddleware"]
    return Client(raise_request_exception=False)


def _assert_unavailable(resp):
    assert resp.status_code == 503
    assert resp["Retry-After"] == "5"
    assert resp.json() == {
        "error": {"code": "unavailable", "message": "The database is temporarily unavailable; retry shortly.", "fields": {}}
    }


def test_plain_view_gets_503(dbdown_urls):
    _assert_unavailable(dbdown_urls.get("/plain-db-down"))


def test_error_raised_in_middleware_gets_503(dbdown_urls):
    _assert_unavailable(dbdown_urls.get("/ok?mw=down"))
    assert dbdown_urls.get("/ok").status_code == 200


def test_other_errors_stay_a_plain_500_without_traceback(dbdown_urls):
    resp = dbdown_urls.get("/plain-bug")
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "server_error"
    assert "Traceback" not in resp.content.decode()


def test_production_exempts_metrics_from_https_redirect(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, DJANGO_ENV="production", SECRET_KEY="k3y-" + "0123456789abcdef" * 4, ALLOWED_HOSTS="example.com",
               VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("REDIS_URL", None)
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_REDIRECT_EXEMPT)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "^metrics$" in proc.stdout and "^readyz$" in proc.stdout
