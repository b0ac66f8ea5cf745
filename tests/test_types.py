"""The TypeScript types in static/campus/types/ are what ``make types`` makes from today's schemas
(a change to a serializer, an OpenAPI annotation or an event in config/events.py without
``make types`` fails here), and the SDK's JSDoc type-checks against them (``tsc -p tsconfig.json``).

Needs the pinned generators (``npm ci``; .ci/run does it): without them the tests skip locally
and fail in CI."""

import difflib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from config import events
from realtime.protocol import CLIENT_MESSAGES

ROOT = Path(__file__).resolve().parent.parent
TYPES = ROOT / "static" / "campus" / "types"
MODULES = ROOT / "node_modules"


@pytest.fixture(scope="module")
def node_modules():
    missing = [p for p in ("openapi-typescript", "json-schema-to-typescript", "typescript") if not (MODULES / p).is_dir()]
    if missing:
        why = f"{', '.join(missing)} not installed: run `npm ci` (pinned in package-lock.json)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def generated(node_modules, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("types")
    call_command("spectacular", "--format", "openapi-json", "--fail-on-warn", "--file", str(out / "openapi.json"))
    call_command("asyncapi", file=str(out / "asyncapi.json"))
    proc = subprocess.run(
        ["node", "web/types.mjs", str(out / "openapi.json"), str(out / "asyncapi.json"), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.parametrize("name", ["api.d.ts", "ws.d.ts"])
def test_checked_in_types_are_what_make_types_makes(generated, name):
    fresh = (generated / name).read_text()
    kept = (TYPES / name).read_text() if (TYPES / name).exists() else ""
    if fresh != kept:
        diff = "".join(list(difflib.unified_diff(
            kept.splitlines(True), fresh.splitlines(True), f"static/campus/types/{name}", "make types", n=1))[:80])
        pytest.fail(f"static/campus/types/{name} is out of date with the schemas: run `make types`.\n{diff}")


def test_ws_types_name_every_message_both_ways(generated):
    text = (generated / "ws.d.ts").read_text()

    def keys(interface: str) -> set[str]:
        body = text.split(f"export interface {interface} {{", 1)[1].split("\n}", 1)[0]
        return {json.loads(k) for k in re.findall(r'^\s+("[^"]+"):', body, re.M)}

    assert keys("ServerMessageMap") == set(events.SERVER_EVENTS)
    assert keys("ClientMessageMap") == set(CLIENT_MESSAGES)
    assert "export interface ServerRoomStarted {\n  type: \"room.started\";\n  room: RoomView;\n}" in text


def test_the_sdk_type_checks_against_the_generated_types(node_modules):
    proc = subprocess.run(
        ["node", str(MODULES / "typescript" / "bin" / "tsc"), "-p", "tsconfig.json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, f"tsc -p tsconfig.json (static/campus/sdk.js, call.js):\n{proc.stdout}{proc.stderr}"
