"""Thin DRF views of the realtime app."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from realtime import asyncapi
from realtime.rtc import rtc_config_for_user
from realtime.serializers import RtcConfigOutputSerializer


class RtcConfigApi(APIView):
    @extend_schema(
        responses={200: RtcConfigOutputSerializer},
        tags=["realtime"],
        summary="ICE servers for WebRTC (STUN, and TURN with time-limited credentials)",
        description=(
            "For `RTCPeerConnection({iceServers})` in video rooms. TURN credentials follow the TURN REST "
            "convention and expire after `ttl_seconds`: fetch again before then."
        ),
    )
    def get(self, request):
        return Response(RtcConfigOutputSerializer(rtc_config_for_user(user=request.user)).data)


@require_GET
def asyncapi_document(request):
    """``GET /api/asyncapi.json``: the AsyncAPI 3.0 document of ``/ws/`` (public, like the OpenAPI schema)."""
    return JsonResponse(asyncapi.document(host=request.get_host(), secure=request.is_secure()))
