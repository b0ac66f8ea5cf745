"""The HTTP endpoints of the use cases in this package (sign-up, making an account permanent,
deletion, the export) — and with deletion the rest of ``/api/me``, one URL, one view.  Thin:
parse, call the flow (or an accounts service), serialize."""

from __future__ import annotations

import functools

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import errors, services
from accounts.apis import auth_response, request_user_agent
from accounts.authentication import BearerSessionAuthentication
from accounts.serializers import (
    AccountDeleteInputSerializer,
    AuthResultSerializer,
    DetailOutputSerializer,
    GuestSignupInputSerializer,
    MakePermanentInputSerializer,
    MeSerializer,
    ProfileUpdateInputSerializer,
    VerifyEmailInputSerializer,
    me_payload,
)
from config.api import exception_handler
from config.errors import RateLimited
from config.net import client_ip
from config.openapi import raises
from flows import account, signup


class GuestSignupApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=GuestSignupInputSerializer, responses={201: AuthResultSerializer}, tags=["auth"],
        summary="Sign up as a guest",
        description=(
            "Creates a guest account and signs it in: the answer carries the session `token` (send it as "
            "`Authorization: Bearer <token>` and in the WebSocket `auth` message). When sign-up is invite-only "
            "(`OPEN_SIGNUP` off) an `invite_code` or a `usc_scan_token` is required; a `referral_token` "
            "introduces the new user to the link's target."
        ),
        extensions=raises(
            "invites.errors.InviteRequired", "invites.errors.InviteInvalid", "invites.errors.InviteInactive",
            "invites.errors.InviteExpired", "invites.errors.InviteUsedUp", "invites.errors.ScanTokenInvalid",
            "invites.errors.CardTaken", "invites.errors.CardBanned", "invites.errors.ReferralInvalid", RateLimited,
        ),
    )
    def post(self, request):
        data = GuestSignupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = signup.do_guest_signup(
            **data.validated_data, ip=client_ip(request), user_agent=request_user_agent(request)
        )
        return auth_response(user, token, status.HTTP_201_CREATED)


class MakePermanentApi(APIView):
    @extend_schema(
        request=MakePermanentInputSerializer, responses={202: DetailOutputSerializer}, tags=["auth"],
        summary="Make my guest account permanent (step 1: email a code)",
        description=(
            "Mails a 6-digit code to `email`. **Student-email rule:** an account with a registered USC card "
            "becomes permanent only with an address in the student domain (`USC_EMAIL_DOMAIN`, default "
            "`usc.edu`, subdomains included) — 400 `student_email_required` otherwise."
        ),
        extensions=raises(
            errors.AlreadyPermanent, errors.EmailTaken, "invites.errors.StudentEmailRequired",
            "moderation.errors.EmailBanned", RateLimited,
        ),
    )
    def post(self, request):
        data = MakePermanentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account.do_make_permanent_request(user=request.user, **data.validated_data, ip=client_ip(request))
        return Response({"detail": "A 6-digit code was sent to that address."}, status=status.HTTP_202_ACCEPTED)


class VerifyEmailApi(APIView):
    @extend_schema(
        request=VerifyEmailInputSerializer, responses={200: MeSerializer}, tags=["auth"],
        summary="Make my guest account permanent (step 2: confirm the code)",
        description=(
            "Checks the code; the pending email and password become the account's. The student-email rule "
            "is checked again here: a code for a non-student address requested before a USC card was "
            "registered is refused with 400 `student_email_required`."
        ),
        extensions=raises(errors.CodeInvalid, errors.CodeExpired, errors.EmailTaken, "invites.errors.StudentEmailRequired"),
    )
    def post(self, request):
        data = VerifyEmailInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = account.do_email_verify(user=request.user, code=data.validated_data["code"], ip=client_ip(request))
        return Response(MeSerializer(user).data)


class MeApi(APIView):
    @extend_schema(
        responses={200: MeSerializer}, tags=["me"],
        summary="My account",
        description="The caller's card plus account fields (email, account type, paid status, timer total). Allowed while banned.",
    )
    def get(self, request):
        return Response(me_payload(request.user))

    @extend_schema(
        request=ProfileUpdateInputSerializer, responses={200: MeSerializer}, tags=["me"],
        summary="Edit my profile",
        description="Partial update of the card fields (name, gender, bio, Instagram handle); answers the account.",
    )
    def patch(self, request):
        data = ProfileUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.profile_update(user=request.user, data=data.validated_data)
        return Response(MeSerializer(user).data)

    @extend_schema(
        request=AccountDeleteInputSerializer, responses={204: None}, tags=["me"],
        summary="Delete my account",
        description=(
            "Permanent accounts confirm with their `password` (JSON body). Ends a live call (reason "
            "`account_deleted`), revokes every session and erases the profile; history rows are anonymised."
        ),
        extensions=raises(errors.InvalidCredentials, (400, "invalid", "a field is missing or wrong (see `fields`)"),
                          (400, "malformed_request", "the body is not valid JSON")),
    )
    def delete(self, request):
        data = AccountDeleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account.do_account_delete(user=request.user, password=data.validated_data["password"], ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


_me_api = MeApi.as_view()
_me_auth = BearerSessionAuthentication()
# DRF's Allow header for MeApi (as_view gives a view with get a head too)
_ME_ALLOW = ", ".join(m.upper() for m in MeApi.http_method_names if hasattr(MeApi, m) or m == "head")


def _me_error(request, exc: drf_exceptions.APIException) -> JsonResponse:
    # what DRF's APIView.handle_exception + config.api.exception_handler answer
    exc.auth_header = _me_auth.authenticate_header(request)
    drf_response = exception_handler(exc, {})
    response = JsonResponse(drf_response.data, status=drf_response.status_code)
    for header, value in drf_response.items():
        if header.lower() != "content-type":  # unset until DRF renders: JsonResponse's stands
            response[header] = value
    return response


def me_view(request, *args, **kwargs):
    """``/api/me``: ``GET`` as a plain Django view, every other method through ``MeApi`` (DRF).

    ``GET /api/me`` is the hottest authenticated call (clients poll it); DRF's per-request set-up
    around it costs more than the work.  It uses the same authentication class, answers in the
    same error shape and is ban-exempt like the DRF view (``MODERATION_BAN_EXEMPT_URL_NAMES``), so
    there is no permission left to check but "authenticated".  ``MeApi.get`` stays the documented
    schema and a test compares both answers.  ``functools.update_wrapper`` carries ``as_view``'s
    attributes (``cls``, ``csrf_exempt``), so the schema generator still sees ``MeApi``.
    """
    if request.method != "GET":
        return _me_api(request, *args, **kwargs)
    try:
        result = _me_auth.authenticate(request)
    except drf_exceptions.AuthenticationFailed as exc:
        return _me_error(request, exc)
    if result is None:
        return _me_error(request, drf_exceptions.NotAuthenticated())
    request.user, request.auth = result
    response = JsonResponse(me_payload(request.user), json_dumps_params={"separators": (",", ":")})
    response["Allow"] = _ME_ALLOW
    return response


functools.update_wrapper(me_view, _me_api)


class MeExportApi(APIView):
    @extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Everything stored about the caller.")},
        tags=["me"],
        summary="Export my data",
        description="Everything stored about the caller as one JSON document (download: `Content-Disposition: attachment`).",
    )
    def get(self, request):
        resp = Response(account.do_user_export(user=request.user))
        resp["Content-Disposition"] = 'attachment; filename="my-data.json"'
        resp["Cache-Control"] = "no-store"
        return resp
