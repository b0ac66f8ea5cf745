"""Admin screens for moderators.  Every change goes through ``moderation.services`` (audit rows
included); nothing here calls ``.save()`` or ``.delete()`` on a moderation model."""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from config import clock
from config.errors import ApplicationError
from config.net import client_ip
from moderation import admin_display as display
from moderation import cases, selectors, services, strikes
from audit.models import AuditLog
from moderation.models import Appeal, Ban, IpBan, Report, Strike, WarningPreset

EXPIRY_CHOICES = [
    ("", "Never"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
]
EXPIRY_DELTAS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _user_link(user, *, short: bool = False):
    """A link to the user's page: ``Name (email #id)``, or in list columns ``Name #id``."""
    if user is None:
        return "—"
    url = reverse("admin:accounts_user_change", args=[user.pk])
    if short:
        return format_html('<a href="{}">{}</a>&nbsp;<small>#{}</small>', url, user.name or "?", user.pk)
    return format_html('<a href="{}">{}</a>', url, str(user))


def _short_user(user):
    return f"{user.name} #{user.pk}" if user is not None else display.EMPTY


def run_service(request, fn, success: str, **kwargs):
    """Call a service from the admin: success and domain errors become admin messages."""
    try:
        result = fn(**kwargs)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return None
    if success:
        messages.success(request, success)
    return result


# --- audit log: read-only for everyone, superusers included ------------------------------------
class AuditChangeList(ChangeList):
    """The audit list, with the names of the users its entries mention read in one query."""

    def get_results(self, request):
        super().get_results(request)
        names = display.user_names(display.user_ids_in(self.result_list))
        for entry in self.result_list:
            entry.user_names = names


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["when", "actor_type", "actor_label", "action", "target_type", "target_label", "changes_summary",
                    "ip"]
    list_filter = ["action", "actor_type", "target_type"]
    search_fields = ["actor_label", "target_label", "=target_id", "action", "=ip"]
    date_hierarchy = "created_at"
    actions = None
    fields = ["when", "actor_type", "actor_link", "action", "target_type", "target_id", "target_label",
              "changes_detail", "ip", "raw_values"]
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return AuditChangeList

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="When", ordering="created_at")
    def when(self, obj):
        return display.when(obj.created_at)

    @admin.display(description="Actor")
    def actor_link(self, obj):
        return _user_link(obj.actor) if obj.actor_id else (obj.actor_label or obj.actor_type)

    @admin.display(description="Changes")
    def changes_summary(self, obj):
        return display.changes_text(obj.before, obj.after, getattr(obj, "user_names", None))

    @admin.display(description="Changes")
    def changes_detail(self, obj):
        names = display.user_names(display.user_ids_in([obj]))
        return display.changes_html(obj.before, obj.after, names)

    @admin.display(description="Stored values (JSON)")
    def raw_values(self, obj):
        return format_html(
            "<details><summary>before / after as stored</summary><pre>{}</pre><pre>{}</pre></details>",
            json.dumps(obj.before, indent=2, default=str), json.dumps(obj.after, indent=2, default=str),
        )


# --- reports ----------------------------------------------------------------------------------
class ReportAdminForm(forms.ModelForm):
    new_note = forms.CharField(
        label="Add a note", required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Appended to the notes thread about this user (earlier notes are never changed).",
    )

    class Meta:
        model = Report
        fields: list = []


def render_history(entries) -> str:
    """Audit entries as a table (the user page's history): local times, who, what, field: old → new."""
    entries = list(entries)
    if not entries:
        return format_html("<em>{}</em>", "No entries.")
    names = display.user_names(display.user_ids_in(entries))
    return format_html(
        '<table class="user-history"><tr><th>When</th><th>Who</th><th>Action</th><th>Changes</th><th>IP</th></tr>'
        "{}</table>",
        format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((display.when(e.created_at), e.actor_label or e.actor_type, e.action,
              display.changes_html(e.before, e.after, names), e.ip or display.EMPTY) for e in entries),
        ),
    )


def render_notes(notes) -> str:
    rows = [(display.when(n.created_at), n.author_label or "system",
             f"report #{n.report_id}" if n.report_id else "", n.text) for n in notes]
    if not rows:
        return format_html("<em>{}</em>", "No notes yet.")
    return format_html(
        '<ol class="notes-thread">{}</ol>',
        format_html_join("", "<li><strong>{}</strong> · {} <small>{}</small><br>{}</li>", rows),
    )


def _fact(key: str, value) -> str:
    if key in ("duration", "duration_seconds", "seconds"):
        return display.duration(value)
    return display.plain(value)


def render_evidence(evidence) -> str:
    """The room snapshot as a readable page: facts, participants, transcript (and the raw JSON)."""
    if not evidence:
        return format_html("<em>{}</em>", "No room evidence (the report was not about a room).")
    if not isinstance(evidence, dict):
        return format_html("<pre>{}</pre>", json.dumps(evidence, indent=2, default=str))
    facts = [(k, v) for k, v in evidence.items() if not isinstance(v, (list, dict))]
    people = evidence.get("users") or evidence.get("participants") or []
    msgs = evidence.get("messages") or evidence.get("last_messages") or []
    names = {}
    for p in people if isinstance(people, list) else []:
        if isinstance(p, dict):
            names[str(p.get("public_id") or p.get("id"))] = p.get("name") or p.get("public_id")
    parts = [
        format_html(
            '<table class="evidence-facts">{}</table>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((display.label(k), _fact(k, v)) for k, v in facts)),
        )
    ]
    if people:
        parts.append(
            format_html(
                "<p><strong>Participants:</strong> {}</p>",
                format_html_join(
                    ", ", "{} <small>({})</small>",
                    ((p.get("name", "?"), p.get("public_id") or p.get("id") or "") for p in people if isinstance(p, dict)),
                ),
            )
        )
    rows = []
    for m in msgs if isinstance(msgs, list) else []:
        if not isinstance(m, dict):
            continue
        sender = m.get("sender_name") or m.get("name") or names.get(str(m.get("sender") or m.get("sender_id") or m.get("from"))) or m.get("sender") or m.get("from") or "?"
        at = m.get("at") or m.get("created_at") or m.get("sent_at")
        rows.append((display.when(at), sender, m.get("body") or m.get("text") or display.EMPTY))
    if rows:
        parts.append(
            format_html(
                '<table class="evidence-transcript"><caption>Transcript (last {} messages)</caption>'
                "<tr><th>Time</th><th>From</th><th>Message</th></tr>{}</table>",
                len(rows),
                format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
            )
        )
    else:
        parts.append(format_html("<p><em>{}</em></p>", "No text messages in this room."))
    parts.append(
        format_html("<details><summary>Raw snapshot</summary><pre>{}</pre></details>",
                    json.dumps(evidence, indent=2, default=str))
    )
    return format_html_join("", "{}", ((p,) for p in parts))


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    form = ReportAdminForm
    change_form_template = "admin/moderation/report/change_form.html"
    list_display = ["id", "reported_short", "category", "status", "auto", "others",
                    "assignee_short", "filed"]
    list_display_links = ["id"]
    list_filter = ["status", "auto_banned", "category"]
    search_fields = ["reported__name", "reported__email", "reporter__name", "reporter__email", "=id"]
    readonly_fields = ["reporter_link", "reported_link", "category", "details", "room_id", "created_when", "status",
                       "action_taken", "resolved_when", "resolved_by", "assigned_to", "auto_banned", "prior_reports_col",
                       "evidence_display", "notes_thread"]
    fieldsets = (
        ("Report", {"fields": ("reporter_link", "reported_link", "category", "details", "created_when",
                               "prior_reports_col", "auto_banned")}),
        ("Evidence", {"fields": ("room_id", "evidence_display")}),
        ("Handling", {"fields": ("status", "action_taken", "assigned_to", "resolved_when", "resolved_by")}),
        ("Notes about this user", {"fields": ("notes_thread", "new_note")}),
    )
    # Permanent bans only from the case page, with a confirmation.
    actions = ["resolve_ban_24h", "resolve_ban_7d", "dismiss", "assign_to_me"]

    def get_queryset(self, request):
        return selectors.report_queue()

    def get_ordering(self, request):
        return ["status_rank", "-auto_banned", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Reported user")
    def reported_link(self, obj):
        return _user_link(obj.reported)

    @admin.display(description="User", ordering="reported__name")
    def reported_short(self, obj):
        return _user_link(obj.reported, short=True)

    @admin.display(description="Others", ordering="prior_reports")
    def others(self, obj):  # the list's narrow column: other reports against this user
        return self.prior_reports_col(obj)

    @admin.display(description="Auto-ban", boolean=True, ordering="auto_banned")
    def auto(self, obj):
        return obj.auto_banned

    @admin.display(description="Assigned", ordering="assigned_to__name")
    def assignee_short(self, obj):
        return _short_user(obj.assigned_to)

    @admin.display(description="Filed", ordering="created_at")
    def filed(self, obj):
        return display.when(obj.created_at, seconds=False)

    @admin.display(description="Filed")
    def created_when(self, obj):
        return display.when(obj.created_at)

    @admin.display(description="Resolved at")
    def resolved_when(self, obj):
        return display.when(obj.resolved_at)

    @admin.display(description="Reporter")
    def reporter_link(self, obj):
        return _user_link(obj.reporter)

    @admin.display(description="Other reports against this user", ordering="prior_reports")
    def prior_reports_col(self, obj):
        count = getattr(obj, "prior_reports", 0)
        if not count:
            return 0
        url = reverse("admin:moderation_report_changelist") + f"?reported__id__exact={obj.reported_id}"
        return format_html('<a href="{}">{}</a>', url, count)

    @admin.display(description="Room evidence")
    def evidence_display(self, obj):
        return render_evidence(obj.evidence)

    @admin.display(description="Notes thread")
    def notes_thread(self, obj):
        return render_notes(cases.notes_for_user(user_id=obj.reported_id)) if obj and obj.pk else "—"

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.has_perm("moderation.add_moderatornote") and self.has_change_permission(request, obj):
            return fieldsets
        # No note box for someone who can't add notes (the thread itself stays visible).
        return tuple((name, {**opts, "fields": tuple(f for f in opts["fields"] if f != "new_note")})
                     for name, opts in fieldsets)

    def save_model(self, request, obj, form, change):
        text = (form.cleaned_data.get("new_note") or "").strip()
        if text and not request.user.has_perm("moderation.add_moderatornote"):
            raise PermissionDenied
        if change and text:
            cases.note_add(user=obj.reported, actor=request.user, text=text, report=obj, ip=client_ip(request))

    # bulk actions (the queue): each decides the whole case of every selected report's user -------
    def _decide_cases(self, request, queryset, key):
        user_ids = sorted({r.reported_id for r in queryset if r.status == Report.Status.OPEN})
        from accounts.models import User

        decided = 0
        for user in User.objects.filter(pk__in=user_ids):
            result = run_service(request, cases.case_decide, "", user=user, actor=request.user, decision=key,
                                 ip=client_ip(request))
            decided += len(result or [])
        if decided:
            messages.success(request, f"{CASE_DECISION_TEXT[key]} ({decided} report{'s' if decided != 1 else ''} "
                                      f"in {len(user_ids)} case{'s' if len(user_ids) != 1 else ''}).")

    def has_ban_permission(self, request):
        return self.has_change_permission(request) and request.user.has_perm("moderation.add_ban")

    @admin.action(description="Decide the cases: ban 24 h", permissions=["ban"])
    def resolve_ban_24h(self, request, queryset):
        self._decide_cases(request, queryset, "ban_24h")

    @admin.action(description="Decide the cases: ban 7 days", permissions=["ban"])
    def resolve_ban_7d(self, request, queryset):
        self._decide_cases(request, queryset, "ban_7d")

    @admin.action(description="Decide the cases: dismiss (no violation)", permissions=["change"])
    def dismiss(self, request, queryset):
        self._decide_cases(request, queryset, "dismiss")

    @admin.action(description="Assign the cases to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        from accounts.models import User

        for user in User.objects.filter(pk__in={r.reported_id for r in queryset}):
            cases.case_assign(user=user, actor=request.user, assignee=request.user, ip=client_ip(request))
        messages.success(request, "Assigned to you.")

    # buttons on the report page --------------------------------------------------------------
    def get_urls(self):
        urls = [
            path("<path:object_id>/act/", self.admin_site.admin_view(self.act_view), name="moderation_report_act"),
        ]
        return urls + super().get_urls()

    def act_view(self, request, object_id):
        """The report page's buttons.  Decisions apply to the whole case (every open report about
        the reported user); afterwards the moderator lands on the next case."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        report = self.get_object(request, object_id)
        if report is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, report):
            raise PermissionDenied
        key = request.POST.get("do", "")
        ip = client_ip(request)
        here = HttpResponseRedirect(reverse("admin:moderation_report_change", args=[report.pk]))
        if key in cases.CASE_DECISIONS:
            if key in services.BAN_DURATIONS and not request.user.has_perm("moderation.add_ban"):
                raise PermissionDenied
            if key == "ban_permanent" and request.POST.get("confirm_permanent") != "1":
                messages.error(request, "Tick “I confirm a permanent ban” to ban permanently.")
                return here
            preset = None
            if key == "warn" and request.POST.get("preset"):
                preset = WarningPreset.objects.filter(pk=request.POST["preset"], active=True).first()
            decided = run_service(
                request, cases.case_decide, "", user=report.reported, actor=request.user, decision=key,
                reason=request.POST.get("reason", ""), warning_text=request.POST.get("warning_text", ""),
                preset=preset, ip=ip,
            )
            if decided is None:
                return here
            messages.success(request, f"{CASE_DECISION_TEXT[key]} ({len(decided)} report{'s' if len(decided) != 1 else ''}"
                                      f"; each reporter is told).")
            return self._next_case_redirect(request, after_user_id=report.reported_id)
        if key == "assign_to_me":
            run_service(request, cases.case_assign, "Case assigned to you.", user=report.reported,
                        actor=request.user, assignee=request.user, ip=ip)
        elif key == "unassign":
            run_service(request, cases.case_assign, "Case unassigned.", user=report.reported, actor=request.user,
                        assignee=None, ip=ip)
        elif key == "reopen":
            run_service(request, cases.report_reopen, "Report reopened.", report=report, actor=request.user, ip=ip)
        else:
            messages.error(request, "Unknown action.")
        return here

    def _next_case_redirect(self, request, *, after_user_id: int):
        user_id = cases.next_case_user_id(after_user_id=after_user_id, moderator=request.user)
        nxt = cases.open_reports_for(user_id=user_id).first() if user_id else None
        if nxt is None:
            messages.info(request, "No open case left.")
            return HttpResponseRedirect(reverse("admin:moderation_cases"))
        return HttpResponseRedirect(reverse("admin:moderation_report_change", args=[nxt.pk]))

    def render_change_form(self, request, context, *args, **kwargs):
        obj = context.get("original")
        may_change = bool(obj is not None and self.has_change_permission(request, obj))
        context["report_actions_allowed"] = may_change and obj.status == Report.Status.OPEN
        context["reopen_allowed"] = may_change and obj.status != Report.Status.OPEN
        context["ban_allowed"] = context["report_actions_allowed"] and request.user.has_perm("moderation.add_ban")
        if obj is not None:
            assignees = set(cases.open_reports_for(user_id=obj.reported_id).exclude(assigned_to=None)
                            .values_list("assigned_to", flat=True))
            context["assign_allowed"] = context["report_actions_allowed"] and assignees != {request.user.pk}
            context["unassign_allowed"] = context["report_actions_allowed"] and bool(assignees)
            context["default_ban_reason"] = f"Report #{obj.pk}: {obj.get_category_display()}"
            context["case_open_count"] = cases.open_reports_for(user_id=obj.reported_id).count()
            context["case_categories"] = [
                Report.Category(c).label for c in cases.case_categories(user_ids=[obj.reported_id]).get(obj.reported_id, [])
            ]
            context["case_strikes"] = cases.strikes_count(user_id=obj.reported_id)
            context["warning_presets"] = WarningPreset.objects.filter(active=True)
        return super().render_change_form(request, context, *args, **kwargs)


CASE_DECISION_TEXT = {
    "ban_24h": "Case decided: banned 24 h",
    "ban_7d": "Case decided: banned 7 days",
    "ban_permanent": "Case decided: banned permanently",
    "warn": "Case decided: warned",
    "no_action": "Case resolved with no action",
    "dismiss": "Case dismissed",
}


# --- bans -------------------------------------------------------------------------------------
class ActiveBanFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("ended", "Lifted or expired")]

    def queryset(self, request, queryset):
        active_ids = selectors.ban_active_qs().values("pk")
        if self.value() == "active":
            return queryset.filter(pk__in=active_ids)
        if self.value() == "ended":
            return queryset.exclude(pk__in=active_ids)
        return queryset


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))


def intermediate(modeladmin, request, queryset, *, action: str, title: str, form, button: str):
    return TemplateResponse(
        request,
        "admin/moderation/intermediate_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "form": form,
            "action": action,
            "button": button,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


@admin.register(Ban)
class BanAdmin(admin.ModelAdmin):
    list_display = ["id", "user_short", "state", "until", "automatic", "reason", "by", "created"]
    list_filter = [ActiveBanFilter, "automatic"]
    search_fields = ["user__name", "user__email", "reason", "=user__id"]
    readonly_fields = ["user_link", "reason", "created_at", "created_by", "expires_at", "automatic", "report",
                       "banned_email", "lifted_at", "lifted_by", "lift_reason", "state"]
    fields = readonly_fields
    actions = ["lift"]
    list_select_related = ["user", "created_by", "lifted_by"]

    def has_add_permission(self, request):
        return False  # bans are created from a user or a report (duration + reason)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="User")
    def user_link(self, obj):
        return _user_link(obj.user)

    @admin.display(description="User", ordering="user__name")
    def user_short(self, obj):
        return _user_link(obj.user, short=True)

    @admin.display(description="Until", ordering="expires_at")
    def until(self, obj):
        return display.when(obj.expires_at, seconds=False) if obj.expires_at else "never"

    @admin.display(description="By", ordering="created_by__name")
    def by(self, obj):
        return _short_user(obj.created_by) if obj.created_by_id else "automatic"

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return display.when(obj.created_at, seconds=False)

    @admin.display(description="State")
    def state(self, obj):
        if obj.lifted_at:
            return f"lifted {display.when(obj.lifted_at, seconds=False)}"
        if obj.is_active(clock.now()):
            return "active (permanent)" if obj.permanent else "active"
        return "expired"

    @admin.action(description="Lift the selected bans", permissions=["change"])
    def lift(self, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            n = sum(services.ban_lift(ban=b, actor=request.user, reason=form.cleaned_data["reason"],
                                      ip=client_ip(request)) for b in queryset)
            messages.success(request, f"Lifted {n} ban(s).")
            return None
        return intermediate(self, request, queryset, action="lift", title="Lift bans", form=form, button="Lift")


# --- IP bans ----------------------------------------------------------------------------------
class IpBanAddForm(forms.ModelForm):
    """A single address is banned on submit; a range (a prefix wider than one address) only with
    “I confirm” ticked, after the form has said how many addresses and which ones it covers."""

    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires in")
    confirm_range = forms.BooleanField(
        required=False, label="I confirm banning every address in this range",
        help_text="Needed when the network covers more than one address (e.g. a /24 is 256 addresses).",
    )

    class Meta:
        model = IpBan
        fields = ["network", "reason"]

    def clean_network(self):
        try:
            return services.network_normalize(self.cleaned_data["network"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean(self):
        cleaned = super().clean()
        network = cleaned.get("network")
        if network:
            net = ipaddress.ip_network(network)
            if net.num_addresses > 1 and not cleaned.get("confirm_range"):
                self.add_error("confirm_range", forms.ValidationError(
                    "%(network)s covers %(count)s addresses (%(first)s – %(last)s). Tick the box to ban all of them.",
                    code="confirm_range",
                    params={"network": network, "count": f"{net.num_addresses:,}", "first": net[0], "last": net[-1]},
                ))
        return cleaned


class ActiveIpBanFilter(ActiveBanFilter):
    def queryset(self, request, queryset):
        now = clock.now()
        from django.db.models import Q

        active = Q(lifted_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        if self.value() == "active":
            return queryset.filter(active)
        if self.value() == "ended":
            return queryset.exclude(active)
        return queryset


@admin.register(IpBan)
class IpBanAdmin(admin.ModelAdmin):
    list_display = ["network", "state", "expires_at", "reason", "source_user", "created_by", "created_at", "lifted_at"]
    list_filter = [ActiveIpBanFilter]
    search_fields = ["network", "reason"]
    actions = ["lift"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = IpBanAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["network", "reason", "expires_in", "confirm_range"]
        return ["network", "reason", "expires_at", "source_user", "created_by", "created_at", "lifted_at", "lifted_by"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        # The change permission is what lifting needs; the page itself stays read-only.
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="State")
    def state(self, obj):
        if obj.lifted_at:
            return "lifted"
        return "active" if obj.is_active(clock.now()) else "expired"

    def save_model(self, request, obj, form, change):
        if change:
            return  # read-only once created
        delta = EXPIRY_DELTAS.get(form.cleaned_data.get("expires_in") or "")
        created = services.ip_ban_create(
            network=form.cleaned_data["network"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
            expires_at=clock.now() + delta if delta else None,
            ip=client_ip(request),
        )
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})
        obj._state.adding = False

    @admin.action(description="Lift the selected IP bans", permissions=["change"])
    def lift(self, request, queryset):
        n = sum(services.ip_ban_lift(ip_ban=b, actor=request.user, ip=client_ip(request)) for b in queryset)
        messages.success(request, f"Lifted {n} IP ban(s).")


# --- warnings, presets, appeals ---------------------------------------------------------------
@admin.register(WarningPreset)
class WarningPresetAdmin(admin.ModelAdmin):
    list_display = ["title", "active", "text"]
    list_filter = ["active"]
    search_fields = ["title", "text"]


@admin.register(Strike)
class StrikeAdmin(admin.ModelAdmin):
    list_display = ["id", "user_short", "created", "by", "acknowledged", "withdrawn", "short_text"]
    list_filter = [("withdrawn_at", admin.EmptyFieldListFilter), ("acknowledged_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__name", "user__email", "text"]
    readonly_fields = ["user_link", "text", "preset", "report", "created_at", "created_by", "acknowledged_at",
                       "withdrawn_at", "withdrawn_by", "withdraw_reason"]
    fields = readonly_fields
    list_select_related = ["user", "created_by"]
    actions = ["withdraw"]

    def has_add_permission(self, request):
        return False  # warnings are given from a case (the report page)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="User")
    def user_link(self, obj):
        return _user_link(obj.user)

    @admin.display(description="User", ordering="user__name")
    def user_short(self, obj):
        return _user_link(obj.user, short=True)

    @admin.display(description="Given", ordering="created_at")
    def created(self, obj):
        return display.when(obj.created_at, seconds=False)

    @admin.display(description="By", ordering="created_by__name")
    def by(self, obj):
        return _short_user(obj.created_by)

    @admin.display(description="Acknowledged", ordering="acknowledged_at")
    def acknowledged(self, obj):
        return display.when(obj.acknowledged_at, seconds=False)

    @admin.display(description="Withdrawn", ordering="withdrawn_at")
    def withdrawn(self, obj):
        return display.when(obj.withdrawn_at, seconds=False)

    @admin.display(description="Text")
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 80 else obj.text[:79] + "…"

    @admin.action(description="Withdraw the selected warnings", permissions=["change"])
    def withdraw(self, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            n = sum(strikes.strike_withdraw(strike=s, actor=request.user, reason=form.cleaned_data["reason"],
                                            ip=client_ip(request)) for s in queryset)
            messages.success(request, f"Withdrew {n} warning(s).")
            return None
        return intermediate(self, request, queryset, action="withdraw", title="Withdraw warnings", form=form,
                            button="Withdraw")


class AppealStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Appeal.Status.choices

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(Appeal)
class AppealAdmin(admin.ModelAdmin):
    """The appeal queue: pending first, oldest first.  Approve lifts the ban (every process) or
    withdraws the warning; reject needs a reason the user is shown."""

    list_display = ["id", "user_short", "subject", "status", "short_text", "filed", "decided_by_short"]
    list_filter = [AppealStatusFilter]
    search_fields = ["user__name", "user__email", "text"]
    readonly_fields = ["user_link", "subject", "text", "created_at", "status", "decided_at", "decided_by",
                       "decision_reason"]
    fields = readonly_fields
    list_select_related = ["user", "decided_by"]
    actions = ["approve", "reject"]

    def get_queryset(self, request):
        from django.db.models import Case, IntegerField, Value, When

        rank = Case(When(status=Appeal.Status.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField())
        return super().get_queryset(request).annotate(rank=rank).order_by("rank", "created_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="User")
    def user_link(self, obj):
        return _user_link(obj.user)

    @admin.display(description="User", ordering="user__name")
    def user_short(self, obj):
        return _user_link(obj.user, short=True)

    @admin.display(description="Why")
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 80 else obj.text[:79] + "…"

    @admin.display(description="Filed", ordering="created_at")
    def filed(self, obj):
        return display.when(obj.created_at, seconds=False)

    @admin.display(description="Decided by", ordering="decided_by__name")
    def decided_by_short(self, obj):
        return _short_user(obj.decided_by)

    @admin.display(description="Appeal of")
    def subject(self, obj):
        if obj.ban_id:
            return format_html('<a href="{}">ban #{}</a>', reverse("admin:moderation_ban_change", args=[obj.ban_id]),
                               obj.ban_id)
        return format_html('<a href="{}">warning #{}</a>',
                           reverse("admin:moderation_strike_change", args=[obj.strike_id]), obj.strike_id)

    @admin.action(description="Approve (lift the ban / withdraw the warning)", permissions=["change"])
    def approve(self, request, queryset):
        # approving undoes the strike: it needs the permission that lifts that ban / withdraws
        # that warning directly (the Bans / Warnings pages' "change")
        allowed, refused = [], 0
        for a in queryset:
            needed = "moderation.change_ban" if a.ban_id else "moderation.change_strike"
            if request.user.has_perm(needed):
                allowed.append(a)
            else:
                refused += 1
        if refused:
            messages.error(request, f"{refused} appeal{'s' if refused != 1 else ''} not approved: lifting "
                                    "that ban / withdrawing that warning needs the permission to change it.")
        n = sum(
            run_service(request, strikes.appeal_approve, "", appeal=a, actor=request.user, ip=client_ip(request))
            is not None
            for a in allowed
        )
        if n:
            messages.success(request, f"Approved {n} appeal{'s' if n != 1 else ''}; "
                                      f"{'the users are' if n != 1 else 'the user is'} told.")

    @admin.action(description="Reject (with a reason shown to the user)", permissions=["change"])
    def reject(self, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            n = sum(
                run_service(request, strikes.appeal_reject, "", appeal=a, actor=request.user,
                            reason=form.cleaned_data["reason"], ip=client_ip(request)) is not None
                for a in queryset
            )
            if n:
                messages.success(request, f"Rejected {n} appeal{'s' if n != 1 else ''}; "
                                          f"{'the users are' if n != 1 else 'the user is'} told.")
            return None
        return intermediate(self, request, queryset, action="reject", title="Reject appeals", form=form,
                            button="Reject")
