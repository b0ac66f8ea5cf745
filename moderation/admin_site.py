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
    empty_value_display = "—"  # never a bare "-" or "None" for an empty value

    def login(self, request, extra_context=None):
        ip = client_ip(request)
        if request.method == "POST":
            username = (request.POST.get("username") or "").strip().lower()[:254]
            limit = settings.ADMIN_LOGIN_ATTEMPTS_PER_5_MIN
            try:
                ratelimit.check(f"admin-login:ip:{ip}", limit=limit, window=LOGIN_WINDOW_SECONDS, on_outage=ratelimit.CLOSED)
                ratelimit.check(
                    f"admin-login:user:{username}", limit=limit, window=LOGIN_WINDOW_SECONDS, on_outage=ratelimit.CLOSED
                )
            except RateLimited as exc:
                context = {**self.each_context(request), "title": "Too many attempts", "retry_after": exc.retry_after}
                response = TemplateResponse(request, "admin/login_rate_limited.html", context, status=429)
                response["Retry-After"] = str(exc.retry_after)
                return response
        was_authenticated = request.user.is_authenticated
        response = super().login(request, extra_context)
        if request.method == "POST" and not was_authenticated and request.user.is_authenticated:
            from audit.services import audit_record

            audit_record(actor=request.user, action="admin.login", target=request.user, ip=ip)
        return response

    def each_context(self, request):
        context = super().each_context(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_active and user.is_staff and user.has_perm("moderation.view_report"):
            from moderation.cases import open_case_count

            context["open_case_count"] = open_case_count()  # the header's count, on every admin page
        return context

    def get_urls(self):
        urls = [
            path("dashboard/", self.admin_view(self.dashboard_view), name="moderation_dashboard"),
            path("cases/", self.admin_view(self.cases_view), name="moderation_cases"),
            path("cases/digest/", self.admin_view(self.digest_view), name="moderation_digest"),
        ]
        return urls + super().get_urls()

    def digest_view(self, request):
        """Turn the e-mail digest of new cases on or off for oneself (POST)."""
        from django.contrib import messages
        from django.http import HttpResponseNotAllowed, HttpResponseRedirect
        from django.urls import reverse

        from moderation.digest import digest_subscribe

        if not request.user.has_perm("moderation.view_report"):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        on = request.POST.get("on") == "1"
        if on and not request.user.email:
            messages.error(request, "Your account has no e-mail address to send the digest to.")
        else:
            digest_subscribe(moderator=request.user, on=on)
            messages.success(request, "Case digest turned on." if on else "Case digest turned off.")
        return HttpResponseRedirect(reverse("admin:moderation_cases"))

    def cases_view(self, request):
        """The queue, one row per case (open reports grouped by the reported user)."""
        if not request.user.has_perm("moderation.view_report"):
            raise PermissionDenied
        from accounts.models import User
        from moderation import cases
        from moderation.models import Report

        f = request.GET.get("filter", "")
        category = request.GET.get("category") or None
        if category not in Report.Category.values:
            category = None
        rows = list(
            cases.case_queue(
                assigned_to=request.user if f == "mine" else None,
                unassigned=f == "unassigned",
                category=category,
                auto_banned=True if f == "auto_banned" else None,
            )[:200]
        )
        ids = [r["reported_id"] for r in rows]
        users = User.objects.in_bulk(ids)
        categories = cases.case_categories(user_ids=ids)
        first_report = {}  # the oldest open report of each case (later rows overwrite newer ones)
        for uid, pk in (Report.objects.filter(status=Report.Status.OPEN, reported_id__in=ids)
                        .order_by("-created_at").values_list("reported_id", "pk")):
            first_report[uid] = pk
        assignees = {}
        for uid, name in (Report.objects.filter(status=Report.Status.OPEN, reported_id__in=ids, assigned_to__isnull=False)
                          .values_list("reported_id", "assigned_to__name").distinct()):
            assignees.setdefault(uid, []).append(name)
        table = [
            {
                **r,
                "user": users.get(r["reported_id"]),
                "categories": [Report.Category(c).label for c in categories.get(r["reported_id"], [])],
                "age": cases.case_age(r["oldest"]),
                "report_id": first_report.get(r["reported_id"]),
                "assignees": assignees.get(r["reported_id"], []),
            }
            for r in rows
        ]
        from django.conf import settings as dj_settings

        from moderation.digest import digest_subscribed

        context = {
            **self.each_context(request), "title": "Cases", "cases": table, "filter": f,
            "digest_on": digest_subscribed(moderator=request.user),
            "digest_minutes": dj_settings.MODERATION_DIGEST_MINUTES,
            "category": category or "", "categories": Report.Category.choices,
        }
        return TemplateResponse(request, "admin/moderation/cases.html", context)

    def dashboard_view(self, request):
        if not request.user.has_perm("moderation.view_dashboard"):
            raise PermissionDenied
        from moderation.selectors import dashboard_stats

        context = {**self.each_context(request), "title": "Moderation dashboard", "stats": dashboard_stats()}
        return TemplateResponse(request, "admin/moderation/dashboard.html", context)
