from django.contrib.admin.apps import AdminConfig


class CampusAdminConfig(AdminConfig):
    """``django.contrib.admin`` with our site: rate-limited login, moderation dashboard."""

    default_site = "moderation.admin_site.CampusAdminSite"
