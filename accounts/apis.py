"""Thin DRF views: parse, call a service or selector, serialize."""

from __future__ import annotations

import functools

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts import location, selectors, services
from accounts.serializers import (
    AccountDeleteInputSerializer,
    AuthResultSerializer,
    CountOutputSerializer,
    DetailOutputSerializer,
    GuestSignupInputSerializer,
    InstagramPostsInputSerializer,
    InstagramPostsOutputSerializer,
    LocationInputSerializer,
    LocationOutputSerializer,
    LoginInputSerializer,
    MakePermanentInputSerializer,
    MeSerializer,
    PasswordChangeInputSerializer,
    ProfileUpdateInputSerializer,
    SessionOutputSerializer,
    UploadInputSerializer,
    VerifyEmailInputSerializer,
    me_payload,
)
from rest_framework.views import APIView
from accounts.authentication import BearerSessionAuthentication
from accounts import errors
from config.api import exception_handler
from config.errors import RateLimited
from config.openapi import raises
from config.net import client_ip
from config.parsers import MultiPartParser


def _ua(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300]


def _auth_response(user, token, status_code=status.HTTP_200_OK) -> Response:
    return Response(AuthResultSerializer({"token": token, "user": user}).data, status=status_code)


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
        user, token = services.guest_signup(
            **data.validated_data, ip=client_ip(request), user_agent=_ua(request)
        )
        return _auth_response(user, token, status.HTTP_201_CREATED)


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=LoginInputSerializer, responses={200: AuthResultSerializer}, tags=["auth"],
        summary="Sign in with email and password",
        description="For permanent accounts. Answers a new session token; rate-limited per network and per email.",
        extensions=raises(errors.InvalidCredentials, RateLimited),
    )
    def post(self, request):
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.login(**data.validated_data, ip=client_ip(request), user_agent=_ua(request))
        return _auth_response(user, token)


class LogoutApi(APIView):
    @extend_schema(
        request=None, responses={204: None}, tags=["auth"],
        summary="Sign out (revoke this session)",
        description="Revokes the session whose token made the call; its sockets are closed (4401) at their next heartbeat.",
    )
    def post(self, request):
        session = selectors.session_get_for_user(user=request.user, session_id=request.auth.session_id)
        services.session_revoke(session=session, actor=request.user, ip=client_ip(request), action="auth.logout")
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutOthersApi(APIView):
    @extend_schema(
        request=None, responses={200: CountOutputSerializer}, tags=["auth"],
        summary="Sign out everywhere else",
        description="Revokes every other session of the account; answers how many were revoked.",
    )
    def post(self, request):
        count = services.session_revoke_all(
            user=request.user,
            actor=request.user,
            except_session_id=request.auth.session_id,
            ip=client_ip(request),
            action="auth.logout_others",
        )
        return Response({"revoked": count})


class SessionListApi(APIView):
    @extend_schema(
        responses={200: SessionOutputSerializer(many=True)}, tags=["auth"],
        summary="My sessions (devices)",
        description="Live sessions of the account, newest first; `current` marks the one making the call.",
    )
    def get(self, request):
        sessions = selectors.session_list_for_user(user=request.user)
        return Response(
            SessionOutputSerializer(sessions, many=True, context={"current_session_id": request.auth.session_id}).data
        )


class SessionRevokeApi(APIView):
    @extend_schema(
        responses={204: None}, tags=["auth"],
        summary="Revoke one of my sessions",
        description="Signs that device out; 404 when the session is not yours or does not exist.",
    )
    def delete(self, request, session_id: int):
        session = selectors.session_get_for_user(user=request.user, session_id=session_id)
        services.session_revoke(session=session, actor=request.user, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


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
        services.make_permanent_request(user=request.user, **data.validated_data, ip=client_ip(request))
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
        user = services.email_verify(user=request.user, code=data.validated_data["code"], ip=client_ip(request))
        return Response(MeSerializer(user).data)


class PasswordChangeApi(APIView):
    @extend_schema(
        request=PasswordChangeInputSerializer, responses={204: None}, tags=["auth"],
        summary="Change my password",
        description="Needs the current password; every other session is revoked, this one stays.",
        extensions=raises(errors.InvalidCredentials),
    )
    def post(self, request):
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_change(
            user=request.user, **data.validated_data, keep_session_id=request.auth.session_id, ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


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
        services.account_delete(user=request.user, password=data.validated_data["password"], ip=client_ip(request))
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
        resp = Response(selectors.user_export(user=request.user))
        resp["Content-Disposition"] = 'attachment; filename="my-data.json"'
        resp["Cache-Control"] = "no-store"
        return resp


class _MediaApi(APIView):
    parser_classes = [MultiPartParser]
    kind = ""

    def put(self, request):
        data = UploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.media_set(user=request.user, kind=self.kind, upload=data.validated_data["file"])
        return Response(MeSerializer(user).data)


class MePhotoApi(_MediaApi):
    kind = "photo"

    @extend_schema(
        request={"multipart/form-data": UploadInputSerializer}, responses={200: MeSerializer}, tags=["me"],
        summary="Upload my photo",
        description="`multipart/form-data` with one `file` (JPEG, PNG or WebP, checked by content); replaces the previous one.",
        extensions=raises(errors.UploadTooLarge, errors.UploadInvalid, errors.ImageInvalid),
    )
    def put(self, request):
        return super().put(request)


class MeVideoApi(_MediaApi):
    kind = "video"

    @extend_schema(
        request={"multipart/form-data": UploadInputSerializer}, responses={200: MeSerializer}, tags=["me"],
        summary="Upload my intro video",
        description="`multipart/form-data` with one `file` (MP4 or WebM, checked by content); replaces the previous one.",
        extensions=raises(errors.UploadTooLarge, errors.UploadInvalid),
    )
    def put(self, request):
        return super().put(request)


class MeInstagramPostsApi(APIView):
    @extend_schema(
        request=InstagramPostsInputSerializer,
        responses={200: InstagramPostsOutputSerializer},
        tags=["me"],
        summary="Set the Instagram posts shown on my card",
        description=(
            "Replaces the ordered list (at most `INSTAGRAM_POSTS_MAX`, default 6). Only "
            "`https://www.instagram.com/p/<id>/` and `/reel/<id>/` links are accepted; they are stored "
            "normalised (https, www host, no query string). Duplicates are refused. An empty list clears them."
        ),
    )
    def put(self, request):
        data = InstagramPostsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        posts = location.instagram_posts_set(user=request.user, urls=data.validated_data["posts"])
        return Response({"posts": posts})


class MeLocationApi(APIView):
    @extend_schema(
        responses={200: LocationOutputSerializer, 204: None},
        tags=["me"],
        summary="My stored location (coarsened), if live",
        description="204 when you have no live location (never set, deleted, or expired).",
    )
    def get(self, request):
        data = location.location_export(user_id=request.user.pk)
        if data is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(LocationOutputSerializer(data).data)

    @extend_schema(
        request=LocationInputSerializer,
        responses={200: LocationOutputSerializer},
        tags=["me"],
        summary="Share my location (opt-in, coarsened, expiring)",
        description=(
            "Needs `consent: true`. Stored only as the centre of a grid cell of `LOCATION_GRID_METERS` "
            "(default 500 m) and only for `LOCATION_TTL_HOURS` (default 24 h); send it again to refresh. "
            "Other users never see coordinates — only a distance bucket on queue cards when both of you "
            "share a live location."
        ),
    )
    def put(self, request):
        data = LocationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stored = location.location_set(user=request.user, **data.validated_data)
        return Response(LocationOutputSerializer(location.location_payload(stored)).data)

    @extend_schema(
        request=None, responses={204: None}, tags=["me"], summary="Stop sharing my location (deleted at once)",
        description="Deletes the stored location now; queue cards stop showing a distance to you.",
    )
    def delete(self, request):
        location.location_clear(user_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
