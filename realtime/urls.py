from django.urls import path

from realtime import apis

urlpatterns = [
    path("rtc-config", apis.RtcConfigApi.as_view(), name="rtc-config"),
    path("asyncapi.json", apis.asyncapi_document, name="asyncapi"),
]
