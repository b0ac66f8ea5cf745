from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """Admin login by email (case-insensitive); deleted or inactive accounts can't log in."""

    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and getattr(user, "deleted_at", None) is None
