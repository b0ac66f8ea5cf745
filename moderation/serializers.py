from __future__ import annotations

from rest_framework import serializers

from moderation.models import Report
from moderation.selectors import report_outcome_text


class ReportCreateInputSerializer(serializers.Serializer):
    reported_user_id = serializers.UUIDField(help_text="The reported user's public id.")
    category = serializers.ChoiceField(choices=Report.Category.choices)
    details = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="",
                                    help_text="Required for the category “other”; at most 1,000 characters.")
    room_id = serializers.UUIDField(required=False, allow_null=True, default=None,
                                    help_text="A room the reporter was in: its evidence is kept with the report.")

    def validate(self, attrs):
        if attrs["category"] == Report.Category.OTHER and not attrs.get("details", "").strip():
            raise serializers.ValidationError({"details": ["Required for the category “other”."]})
        return attrs


class ReportMineOutputSerializer(serializers.ModelSerializer):
    """What the reporter may know about their report: never the moderator's name or notes."""

    reported_user_id = serializers.UUIDField(source="reported.public_id", read_only=True)
    reported_user_name = serializers.CharField(source="reported.name", read_only=True)
    outcome = serializers.SerializerMethodField()
    has_evidence = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "reported_user_id", "reported_user_name", "category", "details", "room_id", "has_evidence",
                  "status", "outcome", "created_at", "resolved_at"]
        read_only_fields = fields

    def get_outcome(self, obj) -> str:
        return report_outcome_text(obj)

    def get_has_evidence(self, obj) -> bool:
        return obj.evidence is not None


class MyBanOutputSerializer(serializers.Serializer):
    banned = serializers.BooleanField()
    permanent = serializers.BooleanField()
    until = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    ban_id = serializers.IntegerField(allow_null=True, help_text="The ban to appeal (`POST /api/appeals`).")
    appealable_until = serializers.DateTimeField(allow_null=True)
    appeal = serializers.DictField(allow_null=True, help_text="This ban's appeal, if filed (see AppealOutput).")


class AppealOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.ChoiceField(choices=["ban", "warning"])
    ban_id = serializers.IntegerField(allow_null=True)
    warning_id = serializers.IntegerField(allow_null=True)
    text = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "approved", "rejected"])
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField(allow_blank=True, help_text="Why an appeal was rejected.")


class WarningOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    withdrawn = serializers.BooleanField()
    withdrawn_at = serializers.DateTimeField(allow_null=True)
    appealable_until = serializers.DateTimeField()
    appeal = AppealOutputSerializer(allow_null=True)


class WarningListOutputSerializer(serializers.Serializer):
    results = WarningOutputSerializer(many=True)
    standing = serializers.IntegerField(help_text="Warnings that count (not withdrawn).")
    unacknowledged = serializers.IntegerField()


class AppealCreateInputSerializer(serializers.Serializer):
    ban_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    warning_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    text = serializers.CharField(max_length=2000, help_text="Why the decision should change; at most 2,000 characters.")

    def validate(self, attrs):
        if (attrs.get("ban_id") is None) == (attrs.get("warning_id") is None):
            raise serializers.ValidationError({"ban_id": ["Give exactly one of ban_id and warning_id."]})
        return attrs
