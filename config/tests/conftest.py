"""Fixtures for the operations tests: throwaway PostgreSQL databases and subprocess helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import dj_database_url
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _server_url() -> dict:
    """Where to create throwaway databases: the suite's PostgreSQL server when it runs on one,
    else ``TEST_PG_URL`` (default: the local server as ``postgres``)."""
    if settings.ENV.database_url.startswith("postgres"):
        cfg = dj_database_url.parse(settings.ENV.database_url)
        base = cfg["NAME"]
    else:
        cfg = dj_database_url.parse(os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
        base = f"dev_{settings.CACHES['default'].get('KEY_PREFIX') or 'cc'}"
    return {**cfg, "BASE": base}


def _admin_connect(cfg: dict):
    import psycopg

    return psycopg.connect(
        host=cfg.get("HOST") or "127.0.0.1",
        port=cfg.get("PORT") or 5432,
        user=cfg.get("USER") or "postgres",
        password=cfg.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


def url_for(cfg: dict, name: str) -> str:
    user = cfg.get("USER") or "postgres"
    password = cfg.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql://{auth}{cfg.get('HOST') or '127.0.0.1'}:{cfg.get('PORT') or 5432}/{name}"


@pytest.fixture
def throwaway_pg():
    """``make(purpose) -> url`` of a fresh, empty PostgreSQL database; all dropped at teardown."""
    cfg = _server_url()
    try:
        admin = _admin_connect(cfg)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no PostgreSQL server for throwaway databases: {exc}")
    created: list[str] = []

    def make(purpose: str) -> str:
        name = f"{cfg['BASE']}_{purpose}_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return url_for(cfg, name)

    yield make
    for name in created:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def manage(*args: str, env: dict | None = None, input: str | None = None, timeout: float = 120):
    """Run ``manage.py`` in a subprocess with the given environment overrides."""
    full_env = dict(os.environ)
    full_env.setdefault("DJANGO_ENV", "test")
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )
