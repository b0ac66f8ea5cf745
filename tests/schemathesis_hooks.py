"""Schemathesis hooks for fuzzing the REST API (``schemathesis.toml`` loads this file; docs/CLIENT.md,
"Fuzzing the API", has the command line).

Authentication, the schemathesis way: one ``@schemathesis.auth`` provider whose token is cached for
the whole run and refreshed on a 401 (schemathesis's ``retry_on``: it fetches a new token and replays
the request once).  Some operations end the very session they run on — ``DELETE /api/me`` deletes the
account, ``POST /api/auth/logout`` revokes the token, ``DELETE /api/auth/sessions/{id}`` may hit the
fuzzer's own session — so without a refresh every case after the first of them would be a 401 that
tests nothing.  Excluding them instead would leave three operations unfuzzed.

Where fresh tokens come from:

* ``CAMPUS_FUZZ_TOKENS``: a file with one bearer token a line (the CI test mints them in the test
  database: each is a guest of its own, so a killed token never takes another one with it);
* otherwise a new guest is signed up through ``POST /api/auth/guest`` on the server under test
  (works against ``make run``; sign-ups are rate-limited to 30 an hour per address).
"""

from __future__ import annotations

import os
import threading
import uuid

import requests
import schemathesis

_lock = threading.Lock()
_pool: list[str] | None = None


def _pooled() -> str | None:
    global _pool
    with _lock:
        if _pool is None:
            path = os.environ.get("CAMPUS_FUZZ_TOKENS", "")
            _pool = [t.strip() for t in open(path).read().splitlines() if t.strip()] if path else []
            _pool.reverse()
        return _pool.pop() if _pool else None


def _signed_up(base_url: str) -> str:
    resp = requests.post(
        base_url.rstrip("/") + "/api/auth/guest",
        json={"name": f"fuzz-{uuid.uuid4().hex[:8]}", "gender": "unspecified", "invite_code": ""},
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()["token"]


@schemathesis.auth(refresh_interval=3600)  # a run is about a minute: only a 401 refreshes it
class CampusBearer:
    def get(self, case, context):
        token = _pooled()
        if token is None:
            server = case.operation.base_url  # e.g. http://127.0.0.1:8000 (the schema's own server)
            token = _signed_up(server)
        return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
