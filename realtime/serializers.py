from rest_framework import serializers


class RtcIceServerOutputSerializer(serializers.Serializer):
    urls = serializers.ListField(child=serializers.CharField())
    username = serializers.CharField(required=False)
    credential = serializers.CharField(required=False)


class RtcConfigOutputSerializer(serializers.Serializer):
    ice_servers = RtcIceServerOutputSerializer(many=True)
    ttl_seconds = serializers.IntegerField(help_text="Lifetime of the TURN credentials; fetch again before it ends.")
