from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The Django admin's pages that combine apps (the User admin shows accounts, moderation and
    invites together), above every app they combine (docs/ARCHITECTURE.md)."""

    name = "backoffice"
    verbose_name = "Back office"
