"""Media through Django's storage API: the storage is chosen by settings (MEDIA_STORAGE_BACKEND /
MEDIA_STORAGE_OPTIONS), so S3-compatible object storage plugs in without code changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from config.tests.conftest import ROOT

from config.management.commands.seed_demo import png

PNG = png((200, 10, 10))
PNG2 = png((10, 200, 10))


def _settings_in_subprocess(env: dict, expr: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_ENV": "test", **env}
    code = f"import django, json; django.setup(); from django.conf import settings; print(json.dumps({expr}))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=60)


def test_storage_backend_and_options_come_from_the_environment():
    options = {"bucket_name": "chat-media", "endpoint_url": "https://s3.example.edu", "querystring_auth": False}
    result = _settings_in_subprocess(
        {"MEDIA_STORAGE_BACKEND": "storages.backends.s3.S3Storage", "MEDIA_STORAGE_OPTIONS": json.dumps(options)},
        'settings.STORAGES["default"]',
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    # the default: files under MEDIA_ROOT (served by nginx at /media/)
    result = _settings_in_subprocess({"MEDIA_STORAGE_BACKEND": "", "MEDIA_STORAGE_OPTIONS": ""},
                                     'settings.STORAGES["default"]')
    assert json.loads(result.stdout) == {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {}}


@pytest.mark.parametrize("raw", ["{bucket", "[1, 2]"])
def test_bad_storage_options_are_one_clear_line(raw):
    result = _settings_in_subprocess({"MEDIA_STORAGE_OPTIONS": raw}, "1")
    assert result.returncode != 0
    assert "MEDIA_STORAGE_OPTIONS: expected a JSON object" in result.stderr


@pytest.mark.django_db
def test_uploads_go_to_the_configured_storage_not_media_root(auth_api, settings, tmp_path,
                                                             django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage",
                    "OPTIONS": {"base_url": "https://media.example.edu/m/"}},
    }
    client = auth_api()
    resp = client.put("/api/me/photo", {"file": SimpleUploadedFile("a.png", PNG, "image/png")}, format="multipart")
    assert resp.status_code == 200, resp.content
    first = resp.json()["photo_url"]
    assert first.startswith("https://media.example.edu/m/photos/"), first
    name = first.removeprefix("https://media.example.edu/m/")
    assert default_storage.open(name).read().startswith(b"\x89PNG")  # (re-encoded on upload)
    assert not any(tmp_path.iterdir())  # nothing written to MEDIA_ROOT
    # replacing the photo deletes the old object from that storage (after commit)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.put("/api/me/photo", {"file": SimpleUploadedFile("b.png", PNG2, "image/png")},
                          format="multipart")
    assert resp.status_code == 200
    assert not default_storage.exists(name)
