from django.urls import path

from accounts import apis

urlpatterns = [
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/logout-others", apis.LogoutOthersApi.as_view(), name="auth-logout-others"),
    path("auth/sessions", apis.SessionListApi.as_view(), name="auth-sessions"),
    path("auth/sessions/<int:session_id>", apis.SessionRevokeApi.as_view(), name="auth-session"),
    path("auth/password", apis.PasswordChangeApi.as_view(), name="auth-password"),
    path("me/photo", apis.MePhotoApi.as_view(), name="me-photo"),
    path("me/video", apis.MeVideoApi.as_view(), name="me-video"),
    path("me/instagram-posts", apis.MeInstagramPostsApi.as_view(), name="me-instagram-posts"),
    path("me/location", apis.MeLocationApi.as_view(), name="me-location"),
]
