"""Thin DRF views: parse, call a service or selector, serialize.  The endpoints of use cases that
span apps (sign-up, making an account permanent, deletion with the rest of ``/api/me``, the
export) are in ``flows/apis.py``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts import location, selectors, services
from accounts.serializers import (
    AuthResultSerializer,
    CountOutputSerializer,
    InstagramPostsInputSerializer,
    InstagramPostsOutputSerializer,
    LocationInputSerializer,
    LocationOutputSerializer,
    LoginInputSerializer,
    MeSerializer,
    PasswordChangeInputSerializer,
    SessionOutputSerializer,
    UploadInputSerializer,
)
from rest_framework.views import APIView
from accounts import errors
from config.errors import RateLimited
from config.openapi import raises
from config.net import client_ip
from config.parsers import MultiPartParser


def request_user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300]


def auth_response(user, token, status_code=status.HTTP_200_OK) -> Response:
    return Response(AuthResultSerializer({"token": token, "user": user}).data, status=status_code)


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
        user, token = services.login(**data.validated_data, ip=client_ip(request), user_agent=request_user_agent(request))
        return auth_response(user, token)


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
