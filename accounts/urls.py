from django.urls import path

from accounts import apis

urlpatterns = [
    path("me", apis.me_view, name="me"),
    path("auth/guest", apis.GuestSignupApi.as_view(), name="auth-guest"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/logout-others", apis.LogoutOthersApi.as_view(), name="auth-logout-others"),
    path("auth/sessions", apis.SessionListApi.as_view(), name="auth-sessions"),
    path("auth/sessions/<int:session_id>", apis.SessionRevokeApi.as_view(), name="auth-session"),
    path("auth/make-permanent", apis.MakePermanentApi.as_view(), name="auth-make-permanent"),
    path("auth/verify-email", apis.VerifyEmailApi.as_view(), name="auth-verify-email"),
    path("auth/password", apis.PasswordChangeApi.as_view(), name="auth-password"),
    path("me/export", apis.MeExportApi.as_view(), name="me-export"),
    path("me/photo", apis.MePhotoApi.as_view(), name="me-photo"),
    path("me/video", apis.MeVideoApi.as_view(), name="me-video"),
    path("me/instagram-posts", apis.MeInstagramPostsApi.as_view(), name="me-instagram-posts"),
    path("me/location", apis.MeLocationApi.as_view(), name="me-location"),
]
