import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
WEBM = b"\x1a\x45\xdf\xa3" + b"\x00" * 100


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)


def test_photo_upload_sniffs_real_type(auth_api):
    client = auth_api()
    # declared as text, really a PNG: accepted on its bytes
    resp = client.put("/api/me/photo", {"file": SimpleUploadedFile("a.txt", PNG, "text/plain")}, format="multipart")
    assert resp.status_code == 200, resp.content
    assert resp.json()["photo_url"].endswith(".png")
    resp = client.put("/api/me/photo", {"file": SimpleUploadedFile("a.jpg", JPEG, "image/jpeg")}, format="multipart")
    assert resp.json()["photo_url"].endswith(".jpg")


def test_photo_upload_rejects_wrong_type_and_size(auth_api, settings):
    client = auth_api()
    resp = client.put("/api/me/photo", {"file": SimpleUploadedFile("a.png", b"GIF89a" + b"0" * 50, "image/png")}, format="multipart")
    assert resp.status_code == 415 and resp.json()["error"]["code"] == "unsupported_file_type"
    settings.PHOTO_MAX_BYTES = 50
    resp = client.put("/api/me/photo", {"file": SimpleUploadedFile("a.png", PNG, "image/png")}, format="multipart")
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "file_too_large"
    resp = client.put("/api/me/photo", {}, format="multipart")
    assert resp.status_code == 400 and "file" in resp.json()["error"]["fields"]
    resp = client.put("/api/me/photo", {"x": 1}, format="json")
    assert resp.status_code == 415


def test_video_upload(auth_api):
    client = auth_api()
    resp = client.put("/api/me/video", {"file": SimpleUploadedFile("v.mp4", MP4, "video/mp4")}, format="multipart")
    assert resp.status_code == 200 and resp.json()["intro_video_url"].endswith(".mp4")
    resp = client.put("/api/me/video", {"file": SimpleUploadedFile("v.webm", WEBM, "video/webm")}, format="multipart")
    assert resp.status_code == 200 and resp.json()["intro_video_url"].endswith(".webm")
    resp = client.put("/api/me/video", {"file": SimpleUploadedFile("v.png", PNG, "image/png")}, format="multipart")
    assert resp.status_code == 415
