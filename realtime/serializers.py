from rest_framework import serializers

from social.serializers import SocialUserCardSerializer


class RtcIceServerOutputSerializer(serializers.Serializer):
    urls = serializers.ListField(child=serializers.CharField())
    username = serializers.CharField(required=False)
    credential = serializers.CharField(required=False)


class RtcConfigOutputSerializer(serializers.Serializer):
    ice_servers = RtcIceServerOutputSerializer(many=True)
    ttl_seconds = serializers.IntegerField(help_text="Lifetime of the TURN credentials; fetch again before it ends.")


class QueueEntryOutputSerializer(SocialUserCardSerializer):
    cooldown_until = serializers.DateTimeField(allow_null=True)
    distance = serializers.ChoiceField(
        choices=["< 1 km", "1–5 km", "5–25 km", "far"],
        allow_null=True,
        help_text="How far away this person is, as a bucket; null unless both of you share a live location.",
    )


class QueuePageOutputSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    results = QueueEntryOutputSerializer(many=True)


class QueueQueryInputSerializer(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, max_value=100_000, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=100, required=False)
    include_cooldown = serializers.BooleanField(default=False)
    nearby = serializers.BooleanField(default=False, help_text="Nearest first (needs your live location).")
