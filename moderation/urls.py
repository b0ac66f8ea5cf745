from django.urls import path

from moderation import apis

urlpatterns = [
    path("reports", apis.ReportCreateApi.as_view(), name="reports"),
    path("reports/mine", apis.ReportMineApi.as_view(), name="reports-mine"),
    path("me/ban", apis.MyBanApi.as_view(), name="me-ban"),
]
