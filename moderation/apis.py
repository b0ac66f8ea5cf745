"""Thin DRF views for users: file a report, see my reports' outcomes, see my ban."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from rest_framework.views import APIView
from config.net import client_ip
from config.errors import NotFound, RateLimited
from config.openapi import raises
from moderation import errors, selectors, services, strikes
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
    @extend_schema(
        request=ReportCreateInputSerializer, responses={201: ReportMineOutputSerializer}, tags=["moderation"],
        summary="Report a user",
        description=(
            "Files a report for the moderators; if the two of you shared a room, its evidence (transcript "
            "snapshot) is attached. One open report per reporter and reported user."
        ),
        extensions=raises(errors.AlreadyReported, errors.CannotReportSelf, NotFound, RateLimited),
    )
    def post(self, request):
        data = ReportCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.report_create(reporter=request.user, **data.validated_data, ip=client_ip(request))
        return Response(ReportMineOutputSerializer(report).data, status=status.HTTP_201_CREATED)


class ReportMineApi(APIView):
    @extend_schema(
        responses={200: ReportMineOutputSerializer(many=True)}, tags=["moderation"],
        summary="My reports and their outcomes",
        description="Reports the caller filed, newest first (at most 200), with their status.",
    )
    def get(self, request):
        reports = selectors.report_list_for_reporter(reporter=request.user)[:200]
        return Response(ReportMineOutputSerializer(reports, many=True).data)


class MyBanApi(APIView):
    @extend_schema(
        responses={200: MyBanOutputSerializer}, tags=["me"],
        summary="My ban, if any",
        description="Allowed while banned: tells the client why and until when (`permanent` when it has no end).",
    )
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
    @extend_schema(
        responses={200: WarningListOutputSerializer}, tags=["me"], summary="My warnings (strikes)",
        description="Allowed while banned: the caller's warnings, newest first, with how many stand and how many are unacknowledged.",
    )
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

    @extend_schema(
        request=None, responses={200: WarningOutputSerializer}, tags=["me"], summary="Acknowledge a warning",
        description="Marks the warning as seen (idempotent); 404 when it is not the caller's.",
    )
    def post(self, request, warning_id: int):
        strike = strikes.strike_acknowledge(user=request.user, strike_id=warning_id)
        return Response(WarningOutputSerializer(strikes.strike_payload(strike)).data)


class AppealApi(APIView):
    allowed_while_banned = True

    @extend_schema(
        request=AppealCreateInputSerializer, responses={201: AppealOutputSerializer}, tags=["moderation"],
        summary="Appeal a ban or a warning",
        description="Open to banned users: appealing is how a banned user is heard. Once per ban or warning, within "
                    "`MODERATION_APPEAL_WINDOW_DAYS` (20) of it; at most 2,000 characters.",
        extensions=raises(strikes.AlreadyAppealed, strikes.AppealWindowClosed, strikes.AppealNotAllowed, NotFound),
    )
    def post(self, request):
        data = AppealCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = strikes.appeal_create(user=request.user, **data.validated_data, ip=client_ip(request))
        return Response(AppealOutputSerializer(strikes.appeal_payload(appeal)).data, status=status.HTTP_201_CREATED)


class AppealMineApi(APIView):
    allowed_while_banned = True

    @extend_schema(
        responses={200: AppealOutputSerializer(many=True)}, tags=["moderation"], summary="My appeals and their outcomes",
        description="Allowed while banned: the caller's appeals, newest first (at most 100), with the decisions.",
    )
    def get(self, request):
        appeals = strikes.appeals_for_user(user_id=request.user.pk)[:100]
        return Response(AppealOutputSerializer([strikes.appeal_payload(a) for a in appeals], many=True).data)
