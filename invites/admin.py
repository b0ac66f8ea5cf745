"""Admin screens.  History (redemptions, intros, card registrations, scan attempts) is read-only;
invite codes change only through services (batch creation, activate/deactivate), which audit."""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from config.net import client_ip
from invites import selectors, services
from invites.exports import CSV_COLUMNS, code_row
from invites.models import (
    InviteCode,
    InviteRedemption,
    ReferralLink,
    ReferralNotification,
    UscCardRegistration,
    UscScanAttempt,
)


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- inlines for the user admin (hooked in by backoffice/admin.py: UserAdmin.inlines) ----------
class InvitedByInline(ReadOnlyAdminMixin, admin.TabularInline):
    """"Invited by": the code this user joined with and who created it."""

    model = InviteRedemption
    fk_name = "user"
    verbose_name = "Invited by"
    verbose_name_plural = "Invited by"
    extra = 0
    fields = ["code", "inviter", "redeemed_at", "ip"]
    readonly_fields = fields

    @admin.display(description="inviter")
    def inviter(self, obj):
        return obj.code.created_by or "—"


class UscCardInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = UscCardRegistration
    fk_name = "user"
    extra = 0
    fields = ["last4", "registered_at", "ip"]
    readonly_fields = fields


# --- invite codes ---------------------------------------------------------------------------
def codes_csv_response(codes, filename: str) -> HttpResponse:
    resp = HttpResponse(content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(resp)
    writer.writerow(CSV_COLUMNS)
    for c in codes:
        writer.writerow(code_row(c))
    return resp


class InviteBatchForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=1000, initial=10)
    max_uses = forms.IntegerField(min_value=1, required=False, help_text="Leave empty for unlimited.")
    expires_at = forms.DateTimeField(required=False, help_text="UTC, e.g. 2027-01-31 23:59. Empty: never.")
    note = forms.CharField(max_length=200, required=False)


@admin.register(InviteCode)
class InviteCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "kind", "created_by", "uses", "max_uses", "expires_at", "is_active", "batch", "created_at"]
    list_filter = ["kind", "is_active", "batch"]
    search_fields = ["code", "batch", "note", "created_by__email", "created_by__name"]
    list_select_related = ["created_by"]
    readonly_fields = ["code", "kind", "created_by", "max_uses", "uses", "expires_at", "is_active", "batch", "note",
                       "created_at", "join_link"]
    fields = readonly_fields
    actions = ["activate", "deactivate", "export_csv"]
    change_list_template = "admin/invites/invitecode/change_list.html"

    def has_add_permission(self, request):
        return False  # codes are created in batches (see batch_view), never one bare row

    def has_delete_permission(self, request, obj=None):
        return False  # redemptions reference codes; deactivate instead

    def save_model(self, request, obj, form, change):
        pass  # every field is read-only; changes go through the actions

    @admin.display(description="join link")
    def join_link(self, obj):
        return services.join_link(obj.code)

    @admin.action(description="Activate selected codes", permissions=["change"])
    def activate(self, request, queryset):
        for code in queryset:
            services.invite_code_set_active(actor=request.user, invite=code, active=True, ip=client_ip(request))
        self.message_user(request, f"{queryset.count()} code(s) active.")

    @admin.action(description="Deactivate selected codes", permissions=["change"])
    def deactivate(self, request, queryset):
        for code in queryset:
            services.invite_code_set_active(actor=request.user, invite=code, active=False, ip=client_ip(request))
        self.message_user(request, f"{queryset.count()} code(s) deactivated.")

    @admin.action(description="Export selected codes as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return codes_csv_response(queryset.order_by("created_at", "id"), "invite-codes.csv")

    def get_urls(self):
        return [
            path("batch/", self.admin_site.admin_view(self.batch_view), name="invites_invitecode_batch"),
            path("batch/<str:batch>.csv", self.admin_site.admin_view(self.batch_csv_view),
                 name="invites_invitecode_batch_csv"),
        ] + super().get_urls()

    def batch_view(self, request):
        if not self.has_change_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        form = InviteBatchForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            codes = services.invite_batch_create(
                actor=request.user, count=form.cleaned_data["count"], max_uses=form.cleaned_data["max_uses"],
                expires_at=form.cleaned_data["expires_at"], note=form.cleaned_data["note"] or "",
                ip=client_ip(request),
            )
            batch = codes[0].batch
            csv_url = reverse("admin:invites_invitecode_batch_csv", args=[batch])
            messages.success(
                request, format_html('Created {} codes in batch {}. <a href="{}">Download CSV</a>', len(codes), batch, csv_url)
            )
            return HttpResponseRedirect(reverse("admin:invites_invitecode_changelist") + f"?batch={batch}")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": "Create a batch of invite codes"}
        return render(request, "admin/invites/invitecode/batch.html", context)

    def batch_csv_view(self, request, batch: str):
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        return codes_csv_response(InviteCode.objects.filter(batch=batch).order_by("id"), f"invite-codes-{batch}.csv")


@admin.register(InviteRedemption)
class InviteRedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["code", "user", "invited_by", "redeemed_at", "ip"]
    list_select_related = ["code__created_by", "user"]
    search_fields = ["code__code", "user__email", "user__name"]
    date_hierarchy = "redeemed_at"

    @admin.display(description="invited by")
    def invited_by(self, obj):
        return obj.code.created_by or "—"


# --- referral intros ------------------------------------------------------------------------
@admin.register(ReferralLink)
class ReferralLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["token", "created_by", "target", "created_at", "is_active"]
    list_select_related = ["created_by", "target"]
    list_filter = ["is_active"]
    search_fields = ["token", "created_by__email", "target__email", "created_by__name", "target__name"]


@admin.register(ReferralNotification)
class ReferralNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["recipient", "introducer", "referred_user", "created_at", "read_at"]
    list_select_related = ["recipient", "introducer", "referred_user"]


# --- USC cards ------------------------------------------------------------------------------
@admin.register(UscCardRegistration)
class UscCardRegistrationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "last4", "registered_at", "ip"]
    list_select_related = ["user"]
    search_fields = ["last4", "user__email", "user__name"]
    search_help_text = "Search by the full student ID (matched by its keyed hash), last 4 digits, email or name."
    exclude = ["card_hash"]

    def get_search_results(self, request, queryset, search_term):
        found = selectors.usc_registration_find(student_id=search_term) if search_term.strip() else None
        if found is not None:
            return queryset.filter(pk=found.pk), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(UscScanAttempt)
class UscScanAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "success", "failure_reason", "ip", "device_id", "last4", "user"]
    list_filter = ["success", "failure_reason"]
    list_select_related = ["user"]
    search_fields = ["ip", "device_id", "last4"]
    date_hierarchy = "created_at"
    exclude = ["card_hash"]
