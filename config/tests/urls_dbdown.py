"""URLconf for the database-unavailable tests: a plain Django view that hits a dead database."""

from django.db import OperationalError
from django.http import HttpResponse
from django.urls import path

handler500 = "config.api.json_500"


def plain_view_db_down(request):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


def plain_view_bug(request):
    raise ValueError("an ordinary bug")


def ok(request):
    return HttpResponse("ok")


urlpatterns = [
    path("plain-db-down", plain_view_db_down),
    path("plain-bug", plain_view_bug),
    path("ok", ok),
]
