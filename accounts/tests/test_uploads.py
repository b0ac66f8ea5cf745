import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

def _image(fmt: str, size=(8, 6), color=(200, 30, 30), **save) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt, **save)
    return out.getvalue()


PNG = _image("PNG")
JPEG = _image("JPEG")
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


def _stored(user_json, media_root) -> bytes:
    from pathlib import Path

    return (Path(media_root) / user_json["photo_url"].split("/media/", 1)[1]).read_bytes()


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")])
def test_photos_are_stored_re_encoded_never_as_uploaded(auth_api, settings, fmt, ext):
    """A valid image with a PHP script after its end (a polyglot) is stored as a fresh encoding of
    its pixels: the script, and the metadata (EXIF GPS …), are not in the stored file."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {2: (34.0, 1.0, 20.0)}  # GPSInfo: latitude
    payload = b"<?php system($_GET['c']); ?>"
    upload = _image(fmt, size=(40, 30), exif=exif.tobytes()) + payload
    resp = auth_api().put("/api/me/photo", {"file": SimpleUploadedFile(f"a.{ext}", upload, "image/jpeg")}, format="multipart")
    assert resp.status_code == 200, resp.content
    assert resp.json()["photo_url"].endswith(f".{ext}")
    stored = _stored(resp.json(), settings.MEDIA_ROOT)
    assert stored != upload and b"<?php" not in stored and b"SpyCam" not in stored
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == fmt and img.size == (40, 30)
        assert not img.getexif()


def test_exif_orientation_is_applied_before_the_exif_is_dropped(auth_api, settings):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    upload = _image("JPEG", size=(40, 20), exif=exif.tobytes())
    resp = auth_api().put("/api/me/photo", {"file": SimpleUploadedFile("a.jpg", upload, "image/jpeg")}, format="multipart")
    with Image.open(io.BytesIO(_stored(resp.json(), settings.MEDIA_ROOT))) as img:
        assert img.size == (20, 40)


@pytest.mark.parametrize(
    "upload",
    [
        b"\xff\xd8\xff\xe0" + b"\x00" * 100,  # the magic bytes, no image
        b"\x89PNG\r\n\x1a\n<?php echo 1; ?>",
        _image("JPEG", size=(64, 64))[:200],  # truncated
    ],
    ids=["magic-only", "png-magic-then-php", "truncated-jpeg"],
)
def test_files_that_only_look_like_images_are_refused(auth_api, upload):
    client = auth_api()
    resp = client.put("/api/me/photo", {"file": SimpleUploadedFile("a.jpg", upload, "image/jpeg")}, format="multipart")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "image_invalid"
    assert client.get("/api/me").json()["photo_url"] is None


def test_too_many_pixels_are_refused_before_decoding(auth_api, settings):
    settings.PHOTO_MAX_PIXELS = 100
    upload = _image("PNG", size=(11, 10))  # a few hundred bytes, 110 pixels
    resp = auth_api().put("/api/me/photo", {"file": SimpleUploadedFile("a.png", upload, "image/png")}, format="multipart")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "image_invalid"
    assert "11×10" in resp.json()["error"]["message"] and "100 pixels" in resp.json()["error"]["message"]
