from django.urls import path

from social import apis

urlpatterns = [
    path("queue", apis.QueueApi.as_view(), name="queue"),
    path("blocks", apis.BlockListApi.as_view(), name="blocks"),
    path("blocks/<uuid:user_id>", apis.BlockApi.as_view(), name="block"),
    path("history", apis.HistoryApi.as_view(), name="history"),
    path("cooldowns", apis.CooldownListApi.as_view(), name="cooldowns"),
]
