"""Thin DRF views of the realtime app: the queue, WebRTC configuration, the AsyncAPI document."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET
from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from realtime import asyncapi
from realtime import services as rt
from realtime.rtc import rtc_config_for_user
from realtime.serializers import QueuePageOutputSerializer, QueueQueryInputSerializer, RtcConfigOutputSerializer


class QueueApi(APIView):
    @extend_schema(
        parameters=[QueueQueryInputSerializer],
        responses={200: QueuePageOutputSerializer},
        tags=["social"],
        summary="Available users for me (paginated with offset/limit)",
        description=(
            "The queue as the caller sees it: never themselves, people in a call, blocked either way, banned, "
            "skipped this visit, or (unless `include_cooldown`) in cooldown with them. Referral intros first, "
            "then the most recently active. The WebSocket `queue.get` answers the same."
        ),
    )
    def get(self, request):
        query = QueueQueryInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        page = rt.queue_page(
            user_id=request.user.pk,
            offset=data["offset"],
            limit=data.get("limit") or settings.QUEUE_PAGE_SIZE,
            include_cooldown=data["include_cooldown"],
            nearby=data["nearby"],
        )
        return Response(QueuePageOutputSerializer(page).data)


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
