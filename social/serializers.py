from rest_framework import serializers


class SocialUserCardSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    gender = serializers.CharField()
    bio = serializers.CharField()
    instagram_handle = serializers.CharField()
    photo_url = serializers.CharField(allow_null=True)
    intro_video_url = serializers.CharField(allow_null=True)
    instagram_posts = serializers.ListField(child=serializers.URLField(), help_text="Public Instagram post links")


class CallHistoryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    room_id = serializers.UUIDField(help_text="Also accepted by /api/rooms/<room_id>/messages.")
    partner = SocialUserCardSerializer()
    mode = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    duration_seconds = serializers.IntegerField()
    end_reason = serializers.CharField()


class CooldownOutputSerializer(serializers.Serializer):
    user = SocialUserCardSerializer()
    until = serializers.DateTimeField()
    remaining_seconds = serializers.IntegerField()


class CooldownListOutputSerializer(serializers.Serializer):
    results = CooldownOutputSerializer(many=True)


class BlockOutputSerializer(serializers.Serializer):
    user = SocialUserCardSerializer()
    created_at = serializers.DateTimeField()


class BlockListOutputSerializer(serializers.Serializer):
    results = BlockOutputSerializer(many=True)


class CallHistoryPageOutputSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CallHistoryOutputSerializer(many=True)


class TranscriptMessageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="1, 2, 3 … within the room.")
    sender = serializers.UUIDField(help_text="Public id of the sender.")
    from_you = serializers.BooleanField()
    body = serializers.CharField(allow_blank=True, help_text="Empty once purged (retention).")
    purged = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class TranscriptPageOutputSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TranscriptMessageOutputSerializer(many=True)
