from django.contrib import admin

from social.models import Block, CallHistory, Cooldown, Room, RoomMessage, RoomParticipant, SessionCompletion


class RoomParticipantInline(admin.TabularInline):
    model = RoomParticipant
    extra = 0
    can_delete = False
    fields = ["user", "live", "connected", "lease_expires_at", "disconnected_at", "last_message_at", "torch_deadline"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class RoomMessageInline(admin.TabularInline):
    """The room's chat, read-only (reports carry their own evidence snapshot)."""

    model = RoomMessage
    extra = 0
    can_delete = False
    fields = ["seq", "sender", "body", "created_at", "body_purged_at"]
    readonly_fields = fields
    ordering = ["seq"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sender")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rooms and their bookkeeping change only through services (moderators end rooms by banning)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Room)
class RoomAdmin(ReadOnlyAdmin):
    list_display = ["id", "mode", "status", "started_at", "ends_at", "grace_deadline", "ended_at", "end_reason"]
    list_filter = ["status", "mode", "end_reason"]
    inlines = [RoomParticipantInline, RoomMessageInline]


@admin.register(CallHistory)
class CallHistoryAdmin(ReadOnlyAdmin):
    list_display = ["user", "partner", "mode", "started_at", "duration_seconds", "end_reason"]
    list_select_related = ["user", "partner"]
    list_filter = ["mode", "end_reason"]


@admin.register(Cooldown)
class CooldownAdmin(ReadOnlyAdmin):
    list_display = ["user_low", "user_high", "until"]
    list_select_related = ["user_low", "user_high"]


@admin.register(SessionCompletion)
class SessionCompletionAdmin(ReadOnlyAdmin):
    list_display = ["user", "room", "duration_seconds", "created_at"]
    list_select_related = ["user"]


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    list_select_related = ["blocker", "blocked"]
