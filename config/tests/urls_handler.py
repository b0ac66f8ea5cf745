"""URLs for the ASGI handler tests: views that say which thread ran them."""

import threading

from django.http import JsonResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

SEEN: dict = {}

handler404 = "config.api.json_404"
handler500 = "config.api.json_500"


def sync_view(request):
    SEEN["view"] = threading.get_ident()
    SEEN["view_thread"] = threading.current_thread()  # a strong reference: idents get reused
    return JsonResponse({"view": "sync"})


BARRIER = threading.Barrier(2, timeout=5)


def rendezvous_view(request):
    """Returns only when a second request is inside this view at the same time."""
    BARRIER.wait()
    return JsonResponse({"thread": threading.get_ident()})


async def async_view(request):
    return JsonResponse({"view": "async"})


class DrfView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        SEEN["view"] = threading.get_ident()
        return Response({"view": "drf"})


class ThreadRecordingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        SEEN["middleware"] = threading.get_ident()
        return self.get_response(request)


urlpatterns = [
    path("t/sync", sync_view),
    path("t/async", async_view),
    path("t/rendezvous", rendezvous_view),
    path("t/drf", DrfView.as_view()),
    path("", include("config.urls")),
]
