"""Text no column can store (NUL, lone surrogates) is refused at the HTTP edge with 400 ``invalid``
in the one error shape — wherever it is in the request, before any view or database sees it."""

import io

import pytest
from django.test import Client

MESSAGE = "Text may not contain NUL characters or unpaired surrogates."


def _refused(resp, where):
    assert resp.status_code == 400, (resp.status_code, resp.content[:300])
    assert resp["Content-Type"] == "application/json"
    assert resp.json() == {"error": {"code": "invalid", "message": MESSAGE, "fields": {where: [MESSAGE]}}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/referrals/%00", "/api/referrals/a%00b", "/api/nope/%00", "/admin/%00/", "/%00"],
)
def test_nul_in_the_path(auth_api, path):
    _refused(auth_api().get(path), "path")


@pytest.mark.django_db
def test_nul_in_the_path_before_authentication(api):
    _refused(api.get("/api/referrals/%00"), "path")


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["cursor=%00", "limit=1&cursor=a%00", "a%00=1", "x=\x00"])
def test_nul_in_the_query_string(auth_api, query):
    where = "query" if query.startswith("a%00") else query.split("=")[0].split("&")[-1]
    if query.startswith("limit"):
        where = "cursor"
    _refused(auth_api().get("/api/history", QUERY_STRING=query), where)


@pytest.mark.django_db
def test_a_percent_sign_that_is_no_nul_passes(auth_api):
    assert auth_api().get("/api/history", QUERY_STRING="x=%2500&y=%ED%A0%80").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ('{"name": "a\\u0000b"}', "name"),
        ('{"name": "a\\ud800b"}', "name"),  # a lone high surrogate
        ('{"name": "a\\udc00"}', "name"),  # a lone low surrogate
        ('{"name": "ok", "device_name": "\\uDBFF"}', "device_name"),
        ('{"name": "ok", "extra": {"deep": ["x", {"y": "\\u0000"}]}}', "extra"),
        ('{"name": "ok", "k\\u0000": 1}', "body"),  # in a key
        ('["\\u0000"]', "body"),
        ('"\\u0000"', "body"),
    ],
)
def test_json_bodies(api, raw, where):
    _refused(api.post("/api/auth/guest", raw, content_type="application/json"), where)


@pytest.mark.django_db
def test_json_subtype_and_authenticated_patch(auth_api):
    client = auth_api()
    _refused(client.patch("/api/me", '{"name": "\\u0000"}', content_type="application/merge-patch+json"), "name")
    _refused(client.post("/api/reports", '{"details": "\\ud83d"}', content_type="application/json"), "details")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ('{"name": "Ann \\ud83d\\ude00"}', "Ann \U0001f600"),  # a surrogate *pair* is one character
        ('{"name": "back\\\\u0000slash"}', "back\\u0000slash"),  # an escaped backslash, then text
        ('{"name": "Zo\\u00eb"}', "Zo\u00eb"),
    ],
)
def test_storable_text_that_looks_alike_passes(api, raw, name):
    resp = api.post("/api/auth/guest", raw, content_type="application/json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["user"]["name"] == name


@pytest.mark.django_db
def test_malformed_json_is_still_the_parsers_answer(api):
    resp = api.post("/api/auth/guest", '{"name": "\\u0000', content_type="application/json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "malformed_request"


@pytest.mark.django_db
def test_url_encoded_bodies(api):
    resp = api.post("/api/auth/guest", "name=a%00b", content_type="application/x-www-form-urlencoded")
    _refused(resp, "name")
    resp = api.put("/api/me", "name=\x00", content_type="application/x-www-form-urlencoded")
    _refused(resp, "name")


@pytest.mark.django_db
def test_multipart_fields(auth_api):
    client = auth_api()
    upload = io.BytesIO(b"\xff\xd8\xff\x00binary NULs in a file are fine\x00")
    upload.name = "me.jpg"
    _refused(client.put("/api/me/photo", {"file": upload, "note": "a\x00b"}, format="multipart"), "note")


@pytest.mark.django_db
def test_header_values_and_cookies(api):
    _refused(api.get("/api/me", HTTP_X_CLIENT="a\x00b"), "x-client")
    client = Client()
    client.cookies["sessionid"] = "\x00"
    _refused(client.get("/admin/"), "cookie")


@pytest.mark.django_db
def test_too_large_json_body_is_413_in_the_error_shape(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    resp = api.post("/api/auth/guest", '{"name": "' + "x" * 2000 + '"}', content_type="application/json")
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"
