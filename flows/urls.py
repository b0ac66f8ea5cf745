from django.urls import path

from flows import apis

urlpatterns = [
    path("me", apis.me_view, name="me"),
    path("auth/guest", apis.GuestSignupApi.as_view(), name="auth-guest"),
    path("auth/make-permanent", apis.MakePermanentApi.as_view(), name="auth-make-permanent"),
    path("auth/verify-email", apis.VerifyEmailApi.as_view(), name="auth-verify-email"),
    path("me/export", apis.MeExportApi.as_view(), name="me-export"),
]
