"""Thin DRF views for users: file a report, see my reports' outcomes, see my ban."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from rest_framework.views import APIView
from config.net import client_ip
from moderation import selectors, services
from moderation.serializers import MyBanOutputSerializer, ReportCreateInputSerializer, ReportMineOutputSerializer


class ReportCreateApi(APIView):
    @extend_schema(request=ReportCreateInputSerializer, responses={201: ReportMineOutputSerializer}, tags=["moderation"])
    def post(self, request):
        data = ReportCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.report_create(reporter=request.user, **data.validated_data, ip=client_ip(request))
        return Response(ReportMineOutputSerializer(report).data, status=status.HTTP_201_CREATED)


class ReportMineApi(APIView):
    @extend_schema(responses={200: ReportMineOutputSerializer(many=True)}, tags=["moderation"])
    def get(self, request):
        reports = selectors.report_list_for_reporter(reporter=request.user)[:200]
        return Response(ReportMineOutputSerializer(reports, many=True).data)


class MyBanApi(APIView):
    """Allowed while banned: tells the client why and until when."""

    @extend_schema(responses={200: MyBanOutputSerializer}, tags=["me"])
    def get(self, request):
        ban = selectors.user_ban_active(user_id=request.user.pk)
        body = {
            "banned": ban is not None,
            "permanent": bool(ban is not None and ban["until"] is None),
            "until": ban["until"] if ban else None,
            "reason": ban["reason"] if ban else "",
        }
        return Response(MyBanOutputSerializer(body).data)
