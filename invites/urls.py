from django.urls import path

from invites import apis

urlpatterns = [
    path("invites/mine", apis.MyInviteApi.as_view(), name="invites-mine"),
    path("invites/mine/qr.svg", apis.MyInviteQrApi.as_view(), name="invites-mine-qr"),
    path("referrals", apis.ReferralCreateApi.as_view(), name="referrals"),
    path("referrals/<str:token>", apis.ReferralPreviewApi.as_view(), name="referral-preview"),
    path("notifications", apis.NotificationListApi.as_view(), name="notifications"),
    path("notifications/read-all", apis.NotificationsReadAllApi.as_view(), name="notifications-read-all"),
    path("notifications/<int:notification_id>/read", apis.NotificationReadApi.as_view(), name="notification-read"),
    path("usc/scan", apis.UscScanApi.as_view(), name="usc-scan"),
    path("usc/finalize-registration", apis.UscFinalizeApi.as_view(), name="usc-finalize"),
]
