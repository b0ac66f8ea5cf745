"""Thin DRF views of the realtime app."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from rest_framework.views import APIView
from realtime.rtc import rtc_config_for_user
from realtime.serializers import RtcConfigOutputSerializer


class RtcConfigApi(APIView):
    @extend_schema(
        responses={200: RtcConfigOutputSerializer},
        tags=["realtime"],
        summary="ICE servers for WebRTC (STUN, and TURN with time-limited credentials)",
    )
    def get(self, request):
        return Response(RtcConfigOutputSerializer(rtc_config_for_user(user=request.user)).data)
