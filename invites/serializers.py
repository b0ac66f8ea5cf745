from rest_framework import serializers

from invites.models import ReferralNotification


class MyInviteOutputSerializer(serializers.Serializer):
    unlocked = serializers.BooleanField()
    calls_completed = serializers.IntegerField()
    calls_required = serializers.IntegerField()
    progress = serializers.CharField(help_text='e.g. "2 of 4 calls"')
    code = serializers.CharField(allow_null=True)
    max_uses = serializers.IntegerField(allow_null=True)
    uses = serializers.IntegerField(allow_null=True)
    uses_left = serializers.IntegerField(allow_null=True)
    is_active = serializers.BooleanField(allow_null=True)
    join_link = serializers.CharField(allow_null=True)
    qr_svg_url = serializers.CharField(allow_null=True)


class ReferralCreateInputSerializer(serializers.Serializer):
    target_user_id = serializers.UUIDField(help_text="The public id of the person to introduce people to.")


class ReferralOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    link = serializers.CharField()
    target_user_id = serializers.UUIDField(source="target.public_id")
    created_at = serializers.DateTimeField()


class ReferralPreviewOutputSerializer(serializers.Serializer):
    introducer_name = serializers.CharField(source="created_by.name")
    target_name = serializers.CharField(source="target.name")


class NotificationOutputSerializer(serializers.ModelSerializer):
    kind = serializers.SerializerMethodField()
    text = serializers.SerializerMethodField()
    read = serializers.SerializerMethodField()
    introducer_user_id = serializers.UUIDField(source="introducer.public_id", read_only=True)
    referred_user_id = serializers.UUIDField(source="referred_user.public_id", read_only=True)

    class Meta:
        model = ReferralNotification
        fields = ["id", "kind", "text", "read", "read_at", "created_at", "introducer_user_id", "referred_user_id"]
        read_only_fields = fields

    def get_kind(self, obj) -> str:
        return "intro"

    def get_text(self, obj) -> str:
        from invites.services import notification_text

        return notification_text(obj)

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class NotificationListOutputSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField()
    results = NotificationOutputSerializer(many=True)


class NotificationsReadAllOutputSerializer(serializers.Serializer):
    updated = serializers.IntegerField()


class UscScanInputSerializer(serializers.Serializer):
    raw = serializers.CharField(max_length=512, trim_whitespace=False, help_text="The text the barcode scanner read.")
    device_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class UscScanOutputSerializer(serializers.Serializer):
    scan_token = serializers.CharField(help_text="Pass to sign-up (usc_scan_token) or finalize-registration.")
    last4 = serializers.CharField()


class UscFinalizeInputSerializer(serializers.Serializer):
    scan_token = serializers.CharField(max_length=1000)


class UscRegistrationOutputSerializer(serializers.Serializer):
    last4 = serializers.CharField()
    registered_at = serializers.DateTimeField()
