"""Thin DRF views for the queue, blocks, call history and cooldowns."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from accounts.selectors import user_get_by_public_id
from config import clock
from rest_framework.views import APIView
from config.openapi import raises
from social import errors, selectors, services
from accounts.selectors import user_card
from social.serializers import (
    BlockListOutputSerializer,
    BlockOutputSerializer,
    CallHistoryOutputSerializer,
    CallHistoryPageOutputSerializer,
    CooldownListOutputSerializer,
    TranscriptMessageOutputSerializer,
    TranscriptPageOutputSerializer,
)


class BlockListApi(APIView):
    @extend_schema(
        responses={200: BlockListOutputSerializer}, tags=["social"], summary="Users I blocked",
        description="The caller's blocks, newest first (at most 500).",
    )
    def get(self, request):
        blocks = selectors.blocks_for_user(user_id=request.user.pk)[:500]
        data = [{"user": user_card(b.blocked), "created_at": b.created_at} for b in blocks]
        return Response(BlockListOutputSerializer({"results": data}).data)


class BlockApi(APIView):
    @extend_schema(
        request=None,
        responses={201: BlockOutputSerializer, 200: BlockOutputSerializer},
        tags=["social"],
        summary="Block a user (idempotent)",
        description="Neither of you sees the other in the queue or can invite the other. 201 when new, 200 when already blocked.",
        extensions=raises(errors.InvalidTarget),
    )
    def post(self, request, user_id):
        other = user_get_by_public_id(public_id=user_id)
        block, created = services.block_create(user=request.user, other=other)
        body = BlockOutputSerializer({"user": user_card(other), "created_at": block.created_at}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        request=None, responses={204: None}, tags=["social"], summary="Unblock a user (idempotent)",
        description="Removes the caller's block of that user, if any.",
    )
    def delete(self, request, user_id):
        other = user_get_by_public_id(public_id=user_id)
        services.block_delete(user=request.user, other=other)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _CursorPagination(CursorPagination):
    """DRF's cursor pagination, with a cursor that can't be decoded being bad input (400
    ``invalid``, field ``cursor``) rather than DRF's 404."""

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except drf_exceptions.NotFound:
            raise drf_exceptions.ValidationError({"cursor": [self.invalid_cursor_message]}) from None


class HistoryPagination(_CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class HistoryApi(APIView):
    pagination_class = HistoryPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str, description="Opaque cursor from `next`/`previous`."),
            OpenApiParameter("page_size", int, description="1–100 (default 20)."),
        ],
        responses={200: CallHistoryPageOutputSerializer},
        tags=["social"],
        summary="My call history, newest first (cursor pagination)",
        description="One entry per ended call: partner, mode, start, end, duration and end reason.",
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.history_for_user(user_id=request.user.pk), request, view=self)
        data = [
            {
                "id": h.pk,
                "room_id": h.room_id,
                "partner": user_card(h.partner),
                "mode": h.mode,
                "started_at": h.started_at,
                "ended_at": h.ended_at,
                "duration_seconds": h.duration_seconds,
                "end_reason": h.end_reason,
            }
            for h in page
        ]
        return paginator.get_paginated_response(CallHistoryOutputSerializer(data, many=True).data)


class CooldownListApi(APIView):
    @extend_schema(
        responses={200: CooldownListOutputSerializer}, tags=["social"], summary="My active cooldowns",
        description="People the caller talked to recently and can't invite again yet, with the time left.",
    )
    def get(self, request):
        now = clock.now()
        me = request.user.pk
        data = []
        for c in selectors.cooldowns_for_user(user_id=me)[:500]:
            other = c.user_high if c.user_low_id == me else c.user_low
            data.append(
                {"user": user_card(other), "until": c.until, "remaining_seconds": int((c.until - now).total_seconds())}
            )
        return Response(CooldownListOutputSerializer({"results": data}).data)


class TranscriptPagination(_CursorPagination):
    ordering = ("id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class RoomTranscriptApi(APIView):
    """A room's messages, oldest first — for its two participants only (404 for anybody else)."""

    pagination_class = TranscriptPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str, description="Opaque cursor from `next`/`previous`."),
            OpenApiParameter("page_size", int, description="1–200 (default 50)."),
        ],
        responses={200: TranscriptPageOutputSerializer},
        tags=["social"],
        summary="Transcript of one of my conversations, oldest first (cursor pagination)",
        description=(
            "`<id>` is a history entry id (`GET /api/history`) or, under /api/rooms/, the room id. For the two "
            "participants only (404 for anybody else); bodies older than the retention are blanked (`purged`)."
        ),
    )
    def get(self, request, history_id=None, room_id=None):
        rid = selectors.transcript_room_id_for_user(user_id=request.user.pk, history_id=history_id, room_id=room_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.room_messages_for_transcript(room_id=rid), request, view=self)
        me = str(request.user.public_id)
        data = []
        for m in page:
            row = selectors.message_row(m)
            data.append({**row, "from_you": row["sender"] == me})
        return paginator.get_paginated_response(TranscriptMessageOutputSerializer(data, many=True).data)
