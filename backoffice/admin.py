"""User admin (in ``backoffice``: it combines accounts, moderation and invites).  Moderators (see the "Moderators" group) can view users and act on them through
the actions below — ban, lift ban, ban their IPs, revoke all sessions — which call the moderation
services (audited); they cannot edit accounts, staff or permissions (only superusers can).

Superusers' edits go through ``accounts.services`` too (``user_admin_update``, ``_create``,
``_password_set``): audited with before/after, the cached account dropped, and deactivation (or a
new password) revokes the sessions and closes the sockets — never a bare ``save()``."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db.models import Exists, OuterRef
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.models import Session, User
from config import clock
from invites.admin import InvitedByInline, UscCardInline
from config.net import client_ip
from moderation import selectors as mod_selectors
from moderation import services as mod_services
from moderation.admin import EXPIRY_CHOICES, EXPIRY_DELTAS, ReasonForm, intermediate, render_history, run_service
from moderation.admin_display import when
from audit.models import AuditLog
from moderation.models import Ban, Report
from accounts import services as account_services


class _ReadOnlyInline(admin.TabularInline):
    """A history table on the user page: its ``fields`` shown read-only, newest first."""

    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-created_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SessionInline(_ReadOnlyInline):
    model = Session
    show_change_link = False
    fields = ["device_name", "ip", "created_at", "last_seen_at", "expires_at", "revoked_at"]
    ordering = ["-last_seen_at"]
    verbose_name_plural = "Sessions"


class ReportsAgainstInline(_ReadOnlyInline):
    model = Report
    fk_name = "reported"
    verbose_name_plural = "Reports against this user"
    fields = ["created_at", "reporter", "category", "status", "action_taken", "details"]


class ReportsByInline(_ReadOnlyInline):
    model = Report
    fk_name = "reporter"
    verbose_name_plural = "Reports filed by this user"
    fields = ["created_at", "reported", "category", "status", "action_taken", "details"]


class BanInline(_ReadOnlyInline):
    model = Ban
    fk_name = "user"
    verbose_name_plural = "Bans"
    fields = ["created_at", "expires_at", "reason", "automatic", "created_by", "lifted_at", "lifted_by", "lift_reason"]


class BannedFilter(admin.SimpleListFilter):
    title = "banned"
    parameter_name = "banned"

    def lookups(self, request, model_admin):
        return [("yes", "Banned now"), ("permanent", "Banned permanently"), ("no", "Not banned")]

    def queryset(self, request, queryset):
        active = mod_selectors.ban_active_qs()
        if self.value() == "yes":
            return queryset.filter(pk__in=active.values("user_id"))
        if self.value() == "permanent":
            return queryset.filter(pk__in=active.filter(expires_at__isnull=True).values("user_id"))
        if self.value() == "no":
            return queryset.exclude(pk__in=active.values("user_id"))
        return queryset


class BanUsersForm(forms.Form):
    DURATIONS = [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days"), ("permanent", "Permanent")]
    duration = forms.ChoiceField(choices=DURATIONS, initial="24h")
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))


class BanIpsForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="30d")


# The request of the admin's password page, for the form's save (Django's view builds the form
# from the user alone); set only while that view runs.
_password_request: ContextVar = ContextVar("admin_password_request")


class PasswordSetForm(AdminPasswordChangeForm):
    """Django's admin password form, saved through ``accounts.services.user_admin_password_set``."""

    def save(self, commit=True):
        request = _password_request.get()
        password = self.cleaned_data["password1"] if self.cleaned_data.get("set_usable_password", True) else None
        return account_services.user_admin_password_set(
            user_id=self.user.pk, actor=request.user, password=password, ip=client_ip(request)
        )


_BAN_DELTAS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "permanent": None}


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-created_at"]
    list_display = ["name", "email", "account_type", "paid_status", "banned_now", "created_at", "is_staff"]
    list_filter = [BannedFilter, "account_type", "paid_status", "is_staff", "is_active"]
    search_fields = ["name", "email", "=public_id"]
    readonly_fields = ["public_id", "created_at", "last_login", "timer_total_seconds", "email_verified_at",
                       "ban_state", "history", "instagram_posts_list", "location_state"]
    fieldsets = (
        (None, {"fields": ("public_id", "email", "password")}),
        ("Profile", {"fields": ("name", "gender", "bio", "instagram_handle", "instagram_posts_list", "photo",
                                "intro_video", "location_state")}),
        ("Status", {"fields": ("account_type", "paid_status", "email_verified_at", "timer_total_seconds", "ban_state")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_at")}),
        ("History (audit log)", {"fields": ("history",)}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),)
    inlines = [SessionInline, InvitedByInline, UscCardInline, BanInline, ReportsAgainstInline, ReportsByInline]
    actions = ["ban_users", "lift_bans", "ban_ips", "revoke_sessions"]
    change_password_form = PasswordSetForm

    # --- saves go through the accounts services ------------------------------------------------
    def save_model(self, request, obj, form, change):
        if not change:
            account_services.user_admin_create(user=obj, actor=request.user, ip=client_ip(request))
            return
        # The form has applied its values to ``obj`` (files included); many-to-many values are
        # only in cleaned_data.  The service reads the row afresh for "before" and writes both.
        m2m = {f.name for f in User._meta.many_to_many}
        changes = {
            name: form.cleaned_data[name] if name in m2m else getattr(obj, name)
            for name in form.changed_data
            if name in m2m or hasattr(obj, name)
        }
        if changes:
            account_services.user_admin_update(user_id=obj.pk, actor=request.user, changes=changes,
                                               ip=client_ip(request))
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        if not change:
            form.save_m2m()  # a new account: the add form carries no many-to-many fields anyway
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def has_delete_permission(self, request, obj=None):
        # A hard delete would skip every rule above (and cascade into sessions with their cached
        # copies still valid): accounts are deactivated here, or anonymised by ``account_delete``.
        return False

    def user_change_password(self, request, id, form_url=""):
        token = _password_request.set(request)
        try:
            return super().user_change_password(request, id, form_url)
        finally:
            _password_request.reset(token)

    def get_queryset(self, request):
        # One EXISTS per page instead of one ban lookup per row.
        active = mod_selectors.ban_active_qs().filter(user_id=OuterRef("pk"))
        return super().get_queryset(request).annotate(banned_now=Exists(active))

    @admin.display(description="Banned", boolean=True, ordering="banned_now")
    def banned_now(self, obj):
        return getattr(obj, "banned_now", None)

    # Search: an exact USC ID finds its account through the keyed-hash lookup of the invites app.
    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = (search_term or "").strip()
        if term.isdigit():
            from invites.selectors import usc_registration_find

            registration = usc_registration_find(student_id=term)
            if registration is not None:
                results = results | queryset.filter(pk=registration.user_id)
        return results, may_have_duplicates

    @admin.display(description="Ban")
    def ban_state(self, obj):
        ban = mod_selectors.user_ban_active(user_id=obj.pk)
        if ban is None:
            return "—"
        return "permanent" if ban["until"] is None else f"until {when(ban['until'])}"

    @admin.display(description="History")
    def history(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return render_history(AuditLog.objects.filter(target_type="accounts.user", target_id=str(obj.pk))[:50])

    # The same actions as buttons on the user page (object tools).
    USER_PAGE_ACTIONS = {"ban": "ban_users", "lift": "lift_bans", "ban-ips": "ban_ips", "revoke": "revoke_sessions"}

    # --- profile extras: Instagram posts (moderators may remove one) and the opt-in location -----
    @admin.display(description="Instagram posts")
    def instagram_posts_list(self, obj):
        return self._instagram_posts(obj, remove_button=False)

    @admin.display(description="Instagram posts")
    def instagram_posts_removable(self, obj):
        return self._instagram_posts(obj, remove_button=True)

    def _instagram_posts(self, obj, *, remove_button: bool):
        posts = list(getattr(obj, "instagram_posts", None) or ()) if obj is not None and obj.pk else []
        if not posts:
            return "—"
        if not remove_button:
            return format_html("<ol class=\"instagram-posts\">{}</ol>", format_html_join(
                "", '<li><a href="{0}" rel="noopener noreferrer" target="_blank">{0}</a></li>', ((url,) for url in posts)))
        action = reverse("admin:accounts_user_instagram_post_remove", args=[obj.pk])
        # Buttons submit the surrounding change form to the removal view (no nested forms).
        return format_html(
            "<ol class=\"instagram-posts\">{}</ol>",
            format_html_join(
                "",
                '<li><a href="{0}" rel="noopener noreferrer" target="_blank">{0}</a> '
                '<button type="submit" class="button" formaction="{1}" formmethod="post" formnovalidate '
                'name="post_url" value="{0}">Remove</button></li>',
                ((url, action) for url in posts),
            ),
        )

    @admin.display(description="Location")
    def location_state(self, obj):
        return self._location_state(obj, reveal_button=False)

    @admin.display(description="Location")
    def location_state_superuser(self, obj):
        return self._location_state(obj, reveal_button=True)

    def _location_state(self, obj, *, reveal_button: bool):
        from accounts.location import location_live_for_user

        if obj is None or obj.pk is None:
            return "—"
        loc = location_live_for_user(user_id=obj.pk)
        if loc is None:
            return "No live location."
        text = format_html(
            "Live (shared {}, expires {}). Coordinates are not shown.", when(loc.updated_at), when(loc.expires_at),
        )
        if reveal_button:
            action = reverse("admin:accounts_user_location_reveal", args=[obj.pk])
            text = format_html(
                '{} <button type="submit" class="button" formaction="{}" formmethod="post" formnovalidate '
                'name="reveal" value="1">Show coordinates (audited)</button>', text, action,
            )
        return text

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # Moderators view accounts: no "Set password" button that would only lead to a 403.
            fieldsets = tuple(
                (name, {**opts, "fields": tuple(f for f in opts.get("fields", ()) if f != "password")})
                for name, opts in fieldsets
            )
        if obj is not None and request.user.has_perm("moderation.change_report"):
            # The Remove buttons only for those the removal view lets through.
            fieldsets = tuple(
                (name, {**opts, "fields": tuple("instagram_posts_removable" if f == "instagram_posts_list" else f
                                                for f in opts.get("fields", ()))})
                for name, opts in fieldsets
            )
        if not request.user.is_superuser or obj is None:
            return fieldsets
        # Superusers get the field with the (audited) reveal button; nobody else sees it.
        return tuple(
            (name, {**opts, "fields": tuple("location_state_superuser" if f == "location_state" else f
                                            for f in opts.get("fields", ()))})
            for name, opts in fieldsets
        )

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "location_state_superuser", "instagram_posts_removable"]

    def instagram_post_remove_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))
        if not request.user.has_perm("moderation.change_report"):
            raise PermissionDenied
        user = User.objects.filter(pk=object_id).first()
        if user is None:
            raise Http404
        url = request.POST.get("post_url", "")
        if mod_services.profile_instagram_post_remove(user=user, url=url, actor=request.user, ip=client_ip(request)):
            messages.success(request, f"Removed {url} from the card (audited).")
        else:
            messages.warning(request, "That post is no longer on the card.")
        return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))

    def location_reveal_view(self, request, object_id):
        if not request.user.is_superuser:
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))
        user = User.objects.filter(pk=object_id).first()
        if user is None:
            raise Http404
        data = mod_services.profile_location_reveal(user=user, actor=request.user, ip=client_ip(request))
        if data is None:
            messages.info(request, "No live location.")
        else:
            messages.info(
                request,
                f"Stored location (centre of a {data['grid_m']} m cell): {data['lat']:.6f}, {data['lon']:.6f}; "
                f"updated {when(data['updated_at'])}. This look was written to the audit log.",
            )
        return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))

    def get_urls(self):
        urls = [
            path("<int:object_id>/moderate/<slug:what>/", self.admin_site.admin_view(self.moderate_view),
                 name="accounts_user_moderate"),
            path("<int:object_id>/instagram-post/remove/", self.admin_site.admin_view(self.instagram_post_remove_view),
                 name="accounts_user_instagram_post_remove"),
            path("<int:object_id>/location/reveal/", self.admin_site.admin_view(self.location_reveal_view),
                 name="accounts_user_location_reveal"),
        ]
        return urls + super().get_urls()

    def moderate_view(self, request, object_id, what):
        name = self.USER_PAGE_ACTIONS.get(what)
        queryset = self.get_queryset(request).filter(pk=object_id)
        if name is None or not queryset.exists():
            raise Http404
        func, _, _ = self.get_actions(request).get(name, (None, None, None))
        if func is None:
            raise PermissionDenied
        if request.method == "POST":
            response = func(self, request, queryset)
            if response is not None:
                return response  # the form again (invalid input)
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))
        if what == "revoke":
            return intermediate(self, request, queryset, action=name, title="Revoke all sessions", form=None,
                                button="Revoke all sessions")
        return func(self, request, queryset)

    def render_change_form(self, request, context, *args, **kwargs):
        actions = self.get_actions(request) if context.get("original") is not None else {}
        context["moderation_buttons"] = [
            (what, label) for what, label in (
                ("ban", "Ban…"), ("lift", "Lift ban…"), ("ban-ips", "Ban their IPs…"), ("revoke", "Revoke all sessions…")
            ) if self.USER_PAGE_ACTIONS[what] in actions
        ]
        return super().render_change_form(request, context, *args, **kwargs)

    # Moderators act through the actions; they never edit accounts.
    def has_ban_permission(self, request):
        return request.user.has_perm("moderation.add_ban")

    def has_lift_permission(self, request):
        return request.user.has_perm("moderation.change_ban")

    def has_ipban_permission(self, request):
        return request.user.has_perm("moderation.add_ipban")

    def has_revoke_permission(self, request):
        return request.user.has_perm("moderation.revoke_sessions")

    @admin.action(description="Ban the selected users (duration + reason)", permissions=["ban"])
    def ban_users(self, request, queryset):
        form = BanUsersForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for user in queryset:
                done += run_service(
                    request, mod_services.ban_create, "", user=user, actor=request.user,
                    reason=form.cleaned_data["reason"], duration=_BAN_DELTAS[form.cleaned_data["duration"]],
                    ip=client_ip(request),
                ) is not None
            if done:
                messages.success(request, f"Banned {done} user(s).")
            return None
        return intermediate(self, request, queryset, action="ban_users", title="Ban users", form=form, button="Ban")

    @admin.action(description="Lift the bans of the selected users", permissions=["lift"])
    def lift_bans(self, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            n = sum(
                mod_services.user_bans_lift(user=u, actor=request.user, reason=form.cleaned_data["reason"],
                                            ip=client_ip(request))
                for u in queryset
            )
            messages.success(request, f"Lifted {n} ban(s).")
            return None
        return intermediate(self, request, queryset, action="lift_bans", title="Lift bans", form=form, button="Lift")

    @admin.action(description="Ban the IP addresses of the selected users' sessions", permissions=["ipban"])
    def ban_ips(self, request, queryset):
        form = BanIpsForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            delta = EXPIRY_DELTAS.get(form.cleaned_data.get("expires_in") or "")
            created = []
            for user in queryset:
                created += run_service(
                    request, mod_services.user_ips_ban, "", user=user, actor=request.user,
                    reason=form.cleaned_data["reason"], expires_at=clock.now() + delta if delta else None,
                    ip=client_ip(request),
                ) or []
            messages.success(request, f"Banned {len(created)} address(es): {', '.join(b.network for b in created) or 'none new'}.")
            return None
        return intermediate(self, request, queryset, action="ban_ips", title="Ban these users' IP addresses",
                            form=form, button="Ban IPs")

    @admin.action(description="Revoke all sessions of the selected users", permissions=["revoke"])
    def revoke_sessions(self, request, queryset):
        n = 0
        for user in queryset:
            n += run_service(request, mod_services.user_sessions_revoke, "", user=user, actor=request.user,
                             ip=client_ip(request)) or 0
        messages.success(request, f"Revoked {n} session(s).")
