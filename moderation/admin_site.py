"""The admin site: Django's, with a rate-limited login (per IP and per username, counted in the
shared cache so every process shares the budget), an audit entry per admin login, and the
moderation dashboard."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from config import ratelimit
from config.errors import RateLimited
from config.net import client_ip

LOGIN_WINDOW_SECONDS = 300


class CampusAdminSite(admin.AdminSite):
    site_header = "Campus Chat moderation"
    site_title = "Campus Chat admin"
    index_title = "Moderation"

    def login(self, request, extra_context=None):
        ip = client_ip(request)
        if request.method == "POST":
            username = (request.POST.get("username") or "").strip().lower()[:254]
            limit = settings.ADMIN_LOGIN_ATTEMPTS_PER_5_MIN
            try:
                ratelimit.check(f"admin-login:ip:{ip}", limit=limit, window=LOGIN_WINDOW_SECONDS)
                ratelimit.check(f"admin-login:user:{username}", limit=limit, window=LOGIN_WINDOW_SECONDS)
            except RateLimited as exc:
                context = {**self.each_context(request), "title": "Too many attempts", "retry_after": exc.retry_after}
                response = TemplateResponse(request, "admin/login_rate_limited.html", context, status=429)
                response["Retry-After"] = str(exc.retry_after)
                return response
        was_authenticated = request.user.is_authenticated
        response = super().login(request, extra_context)
        if request.method == "POST" and not was_authenticated and request.user.is_authenticated:
            from moderation.services import audit_record

            audit_record(actor=request.user, action="admin.login", target=request.user, ip=ip)
        return response

    def get_urls(self):
        urls = [path("dashboard/", self.admin_view(self.dashboard_view), name="moderation_dashboard")]
        return urls + super().get_urls()

    def dashboard_view(self, request):
        if not request.user.has_perm("moderation.view_dashboard"):
            raise PermissionDenied
        from moderation.selectors import dashboard_stats

        context = {**self.each_context(request), "title": "Moderation dashboard", "stats": dashboard_stats()}
        return TemplateResponse(request, "admin/moderation/dashboard.html", context)
