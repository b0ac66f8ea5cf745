from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import Session, User


class SessionInline(admin.TabularInline):
    model = Session
    extra = 0
    can_delete = False
    fields = ["device_name", "ip", "created_at", "last_seen_at", "expires_at", "revoked_at"]
    readonly_fields = fields
    ordering = ["-last_seen_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-created_at"]
    list_display = ["name", "email", "account_type", "paid_status", "created_at", "is_staff"]
    list_filter = ["account_type", "paid_status", "is_staff", "is_active"]
    search_fields = ["name", "email"]
    readonly_fields = ["public_id", "created_at", "last_login", "timer_total_seconds", "email_verified_at"]
    fieldsets = (
        (None, {"fields": ("public_id", "email", "password")}),
        ("Profile", {"fields": ("name", "gender", "bio", "instagram_handle", "photo", "intro_video")}),
        ("Status", {"fields": ("account_type", "paid_status", "email_verified_at", "timer_total_seconds")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),)
    inlines = [SessionInline]
