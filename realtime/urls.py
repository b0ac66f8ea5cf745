from django.urls import path

from realtime import apis

urlpatterns = [
    path("queue", apis.QueueApi.as_view(), name="queue"),
    path("rtc-config", apis.RtcConfigApi.as_view(), name="rtc-config"),
    path("asyncapi.json", apis.asyncapi_document, name="asyncapi"),
]
