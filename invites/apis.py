"""Thin DRF views for invites, referral intros, notifications and USC card registration."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from accounts.selectors import user_get_by_public_id
from config import ratelimit
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView
from config.net import client_ip
from config.errors import NotFound, RateLimited
from config.openapi import raises
from invites import errors, selectors, services
from invites.qr import qr_svg
from invites.serializers import (
    MyInviteOutputSerializer,
    NotificationListOutputSerializer,
    NotificationOutputSerializer,
    NotificationsReadAllOutputSerializer,
    ReferralCreateInputSerializer,
    ReferralOutputSerializer,
    ReferralPreviewOutputSerializer,
    UscFinalizeInputSerializer,
    UscRegistrationOutputSerializer,
    UscScanInputSerializer,
    UscScanOutputSerializer,
)
from social import selectors as social_selectors


def _ua(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300]


class MyInviteApi(APIView):
    @extend_schema(
        responses={200: MyInviteOutputSerializer}, tags=["invites"],
        summary="My invite code and progress towards it",
        description="Locked until the caller completed enough calls (`calls_required`); then the code, its uses and a join link.",
    )
    def get(self, request):
        code = selectors.earned_code_for_user(user_id=request.user.pk)
        calls = social_selectors.completed_calls_count(user_id=request.user.pk)
        mine = selectors.my_invite(user=request.user, code=code, calls_completed=calls)
        body = {
            "unlocked": mine.unlocked,
            "calls_completed": mine.calls_completed,
            "calls_required": mine.calls_required,
            "progress": mine.progress,
            "code": None, "max_uses": None, "uses": None, "uses_left": None, "is_active": None,
            "join_link": None, "qr_svg_url": None,
        }
        if code is not None:
            body.update(
                code=code.code, max_uses=code.max_uses, uses=code.uses, uses_left=code.uses_left,
                is_active=code.is_active, join_link=services.join_link(code.code),
                qr_svg_url=request.build_absolute_uri(reverse("invites-mine-qr")),
            )
        return Response(MyInviteOutputSerializer(body).data)


class SvgRenderer(BaseRenderer):
    media_type = "image/svg+xml"
    format = "svg"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class MyInviteQrApi(APIView):
    # image/svg+xml is accepted for the QR; every error is JSON labelled application/json, whatever
    # the client asked for (an error body is never an image).
    renderer_classes = [JSONRenderer, SvgRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="QR code of the join link"),
        },
        tags=["invites"],
        operation_id="invites_mine_qr_svg",
        summary="QR code of my invite's join link (SVG)",
        description="`image/svg+xml`; 403 `invite_locked` while the code is not unlocked.",
        extensions=raises(errors.InviteLocked),
    )
    def get(self, request):
        code = selectors.earned_code_for_user(user_id=request.user.pk)
        if code is None:
            raise errors.InviteLocked()
        resp = HttpResponse(qr_svg(services.join_link(code.code)), content_type="image/svg+xml")
        resp["Cache-Control"] = "private, max-age=300"
        return resp


class ReferralCreateApi(APIView):
    @extend_schema(
        request=ReferralCreateInputSerializer, responses={201: ReferralOutputSerializer}, tags=["referrals"],
        summary="Create an intro link for a user",
        description="Whoever signs up through the link is introduced to `target_user_id` (a notification). At most 50 a day.",
        extensions=raises(errors.ReferralSelf, NotFound, RateLimited),
    )
    def post(self, request):
        data = ReferralCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ratelimit.check(
            f"referral:user:{request.user.pk}", limit=50, window=86400, message="Too many intro links today.",
            on_outage=ratelimit.LOCAL,
        )
        target = user_get_by_public_id(public_id=data.validated_data["target_user_id"])
        link = services.referral_create(actor=request.user, target=target, ip=client_ip(request))
        return Response(
            ReferralOutputSerializer(
                {"token": link.token, "link": services.intro_link(link.token), "target": target,
                 "created_at": link.created_at}
            ).data,
            status=status.HTTP_201_CREATED,
        )


class ReferralPreviewApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: ReferralPreviewOutputSerializer}, tags=["referrals"],
        summary="Preview an intro link",
        description="Public: who the link introduces to (their card), for the sign-up page.",
        extensions=raises(errors.ReferralInvalid),
    )
    def get(self, request, token: str):
        return Response(ReferralPreviewOutputSerializer(selectors.referral_link_get(token=token)).data)


class NotificationListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description="only unread notifications")],
        responses={200: NotificationListOutputSerializer},
        tags=["notifications"],
        summary="My notifications",
        description="Newest first (at most 100) and the unread count; `?unread=true` lists only unread ones.",
    )
    def get(self, request):
        unread_only = request.query_params.get("unread", "").lower() in {"1", "true", "yes"}
        notes = list(selectors.notification_list_for_user(user=request.user, unread_only=unread_only)[:100])
        return Response(
            NotificationListOutputSerializer(
                {"unread_count": selectors.notification_unread_count(user=request.user), "results": notes}
            ).data
        )


class NotificationReadApi(APIView):
    @extend_schema(
        request=None, responses={200: NotificationOutputSerializer}, tags=["notifications"],
        summary="Mark one notification read",
        description="Idempotent; 404 when it is not the caller's.",
    )
    def post(self, request, notification_id: int):
        note = services.notification_mark_read(user=request.user, notification_id=notification_id)
        return Response(NotificationOutputSerializer(note).data)


class NotificationsReadAllApi(APIView):
    @extend_schema(
        request=None, responses={200: NotificationsReadAllOutputSerializer}, tags=["notifications"],
        summary="Mark all my notifications read",
        description="Answers how many were unread.",
    )
    def post(self, request):
        return Response({"updated": services.notifications_mark_all_read(user=request.user)})


class UscScanApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        request=UscScanInputSerializer, responses={200: UscScanOutputSerializer}, tags=["usc"],
        summary="Scan a USC card",
        description=(
            "Open to visitors (sign-up starts with a scan); a signed-in caller is recorded on the attempt. "
            "Answers a short-lived `scan_token` for sign-up or `POST /api/usc/finalize-registration`. Repeated "
            "failures from one network or device lock scanning for a while (`scan_locked_out`)."
        ),
        extensions=raises(errors.CardUnreadable, errors.CardBanned, errors.CardTaken, errors.ScanLockedOut, RateLimited),
    )
    def post(self, request):
        data = UscScanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device_id = data.validated_data["device_id"] or request.META.get("HTTP_X_DEVICE_ID", "")
        token, last4 = services.usc_scan(
            raw=data.validated_data["raw"], ip=client_ip(request), user_agent=_ua(request), device_id=device_id,
            user=request.user if request.user is not None else None,
        )
        return Response({"scan_token": token, "last4": last4})


class UscFinalizeApi(APIView):
    @extend_schema(
        request=UscFinalizeInputSerializer, responses={200: UscRegistrationOutputSerializer}, tags=["usc"],
        summary="Register a scanned USC card to my account",
        description=(
            "Binds the scanned card to the caller (one account per card, one card per account). "
            "**Student-email rule:** a card account's email is in the student domain (`USC_EMAIL_DOMAIN`, "
            "default `usc.edu`): a permanent account with another email gets 400 `student_email_required`."
        ),
        extensions=raises(
            errors.ScanTokenInvalid, errors.CardBanned, errors.CardTaken, errors.CardAlreadyRegistered,
            errors.StudentEmailRequired,
        ),
    )
    def post(self, request):
        data = UscFinalizeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reg = services.usc_card_finalize(
            user=request.user, scan_token=data.validated_data["scan_token"], ip=client_ip(request), user_agent=_ua(request)
        )
        return Response(UscRegistrationOutputSerializer(reg).data)
