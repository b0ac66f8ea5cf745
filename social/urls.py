from django.urls import path

from social import apis

urlpatterns = [
    path("blocks", apis.BlockListApi.as_view(), name="blocks"),
    path("blocks/<uuid:user_id>", apis.BlockApi.as_view(), name="block"),
    path("history", apis.HistoryApi.as_view(), name="history"),
    path("history/<int:history_id>/messages", apis.RoomTranscriptApi.as_view(), name="history-messages"),
    path("rooms/<uuid:room_id>/messages", apis.RoomTranscriptApi.as_view(), name="room-messages"),
    path("cooldowns", apis.CooldownListApi.as_view(), name="cooldowns"),
]
