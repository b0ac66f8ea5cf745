from django.urls import path

from moderation import apis

urlpatterns = [
    path("reports", apis.ReportCreateApi.as_view(), name="reports"),
    path("reports/mine", apis.ReportMineApi.as_view(), name="reports-mine"),
    path("me/ban", apis.MyBanApi.as_view(), name="me-ban"),
    path("me/warnings", apis.MyWarningsApi.as_view(), name="me-warnings"),
    path("me/warnings/<int:warning_id>/ack", apis.MyWarningAckApi.as_view(), name="me-warning-ack"),
    path("appeals", apis.AppealApi.as_view(), name="appeals"),
    path("appeals/mine", apis.AppealMineApi.as_view(), name="appeals-mine"),
]
