"""Thin DRF views for users: file a report, see my reports' outcomes, see my ban."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from rest_framework.views import APIView
from config.net import client_ip
from moderation import selectors, services, strikes
from moderation.serializers import (
    AppealCreateInputSerializer,
    AppealOutputSerializer,
    MyBanOutputSerializer,
    ReportCreateInputSerializer,
    ReportMineOutputSerializer,
    WarningListOutputSerializer,
    WarningOutputSerializer,
)


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
        row = selectors.ban_active_qs().filter(user_id=request.user.pk).order_by("-created_at").first() if ban else None
        appeal = strikes.ban_appeal_for(ban_id=row.pk) if row else None
        body = {
            "banned": ban is not None,
            "permanent": bool(ban is not None and ban["until"] is None),
            "until": ban["until"] if ban else None,
            "reason": ban["reason"] if ban else "",
            "ban_id": row.pk if row else None,
            "appealable_until": row.created_at + strikes.appeal_window() if row else None,
            "appeal": strikes.appeal_payload(appeal) if appeal else None,
        }
        return Response(MyBanOutputSerializer(body).data)


class MyWarningsApi(APIView):
    """Allowed while banned (GET): the user's warnings, newest first."""

    @extend_schema(responses={200: WarningListOutputSerializer}, tags=["me"], summary="My warnings (strikes)")
    def get(self, request):
        items = strikes.strikes_for_user(user_id=request.user.pk)
        body = {
            "results": items,
            "standing": sum(1 for w in items if not w["withdrawn"]),
            "unacknowledged": sum(1 for w in items if w["acknowledged_at"] is None and not w["withdrawn"]),
        }
        return Response(WarningListOutputSerializer(body).data)


class MyWarningAckApi(APIView):
    allowed_while_banned = True

    @extend_schema(request=None, responses={200: WarningOutputSerializer}, tags=["me"],
                   summary="Acknowledge a warning")
    def post(self, request, warning_id: int):
        strike = strikes.strike_acknowledge(user=request.user, strike_id=warning_id)
        return Response(WarningOutputSerializer(strikes.strike_payload(strike)).data)


class AppealApi(APIView):
    """Open to banned users: appealing is how a banned user is heard."""

    allowed_while_banned = True

    @extend_schema(
        request=AppealCreateInputSerializer, responses={201: AppealOutputSerializer}, tags=["moderation"],
        summary="Appeal a ban or a warning",
        description="Once per ban or warning, within `MODERATION_APPEAL_WINDOW_DAYS` (20) of it; at most 2,000 "
                    "characters. 409 `already_appealed`; 403 `appeal_window_closed` / `appeal_not_allowed`.",
    )
    def post(self, request):
        data = AppealCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = strikes.appeal_create(user=request.user, **data.validated_data, ip=client_ip(request))
        return Response(AppealOutputSerializer(strikes.appeal_payload(appeal)).data, status=status.HTTP_201_CREATED)


class AppealMineApi(APIView):
    allowed_while_banned = True

    @extend_schema(responses={200: AppealOutputSerializer(many=True)}, tags=["moderation"],
                   summary="My appeals and their outcomes")
    def get(self, request):
        appeals = strikes.appeals_for_user(user_id=request.user.pk)[:100]
        return Response(AppealOutputSerializer([strikes.appeal_payload(a) for a in appeals], many=True).data)
