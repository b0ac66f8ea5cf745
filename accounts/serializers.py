from rest_framework import serializers

from accounts.models import Session, User
from accounts.selectors import user_card


class GuestSignupInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50, trim_whitespace=True)
    gender = serializers.ChoiceField(choices=User.Gender.choices, default=User.Gender.UNSPECIFIED)
    device_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    invite_code = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="",
        help_text="Required when sign-up is invite-only, unless usc_scan_token is given.",
    )
    usc_scan_token = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="", help_text="From POST /api/usc/scan."
    )
    referral_token = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="From an intro link."
    )


def me_payload(user: User) -> dict:
    """``MeSerializer``'s output, built by hand: ``GET /api/me`` is the hottest authenticated
    path and building a ModelSerializer's fields costs more than the rest of the request.
    ``MeSerializer`` stays the documented schema; a test keeps the two identical."""
    return {
        **user_card(user),
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        "account_type": user.account_type,
        "paid_status": user.paid_status,
        "timer_total_seconds": user.timer_total_seconds,
        "created_at": user.created_at.isoformat().replace("+00:00", "Z") if user.created_at else None,
    }


class MeSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    photo_url = serializers.SerializerMethodField()
    intro_video_url = serializers.SerializerMethodField()
    email_verified = serializers.BooleanField(read_only=True)
    instagram_posts = serializers.ListField(child=serializers.URLField(), read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "name",
            "gender",
            "bio",
            "instagram_handle",
            "email",
            "email_verified",
            "account_type",
            "paid_status",
            "timer_total_seconds",
            "photo_url",
            "intro_video_url",
            "instagram_posts",
            "created_at",
        ]
        read_only_fields = fields

    def get_photo_url(self, obj) -> str | None:
        return obj.photo.url if obj.photo else None

    def get_intro_video_url(self, obj) -> str | None:
        return obj.intro_video.url if obj.intro_video else None


class AuthResultSerializer(serializers.Serializer):
    token = serializers.CharField()
    user = MeSerializer()


class ProfileUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50, required=False, trim_whitespace=True)
    gender = serializers.ChoiceField(choices=User.Gender.choices, required=False)
    bio = serializers.CharField(max_length=500, required=False, allow_blank=True)
    instagram_handle = serializers.RegexField(
        r"^@?[A-Za-z0-9._]{1,30}$", required=False, allow_blank=True, max_length=31
    )

    def validate_instagram_handle(self, value: str) -> str:
        return value.lstrip("@")


class MakePermanentInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class VerifyEmailInputSerializer(serializers.Serializer):
    code = serializers.RegexField(r"^\s*\d{6}\s*$", error_messages={"invalid": "Enter the 6-digit code."})


class LoginInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    device_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class SessionOutputSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = ["id", "device_name", "user_agent", "ip", "created_at", "last_seen_at", "expires_at", "current"]

    def get_current(self, obj) -> bool:
        return obj.pk == self.context.get("current_session_id")


class UploadInputSerializer(serializers.Serializer):
    file = serializers.FileField()


class DetailOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()


class CountOutputSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


class AccountDeleteInputSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, required=False, allow_blank=True, default="",
        help_text="Required for permanent accounts.",
    )


class InstagramPostsInputSerializer(serializers.Serializer):
    # Shapes are checked as a whole by accounts.location (normalisation, duplicates, count).
    posts = serializers.ListField(child=serializers.CharField(max_length=300, trim_whitespace=True), max_length=100)


class InstagramPostsOutputSerializer(serializers.Serializer):
    posts = serializers.ListField(child=serializers.URLField())


class LocationInputSerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)
    accuracy_m = serializers.IntegerField(min_value=0, max_value=100_000, required=False, default=0)
    consent = serializers.BooleanField(help_text="Must be true: sharing a location is opt-in.")


class LocationOutputSerializer(serializers.Serializer):
    lat = serializers.FloatField(help_text="The centre of your grid cell, not your precise position.")
    lon = serializers.FloatField()
    accuracy_m = serializers.IntegerField()
    grid_m = serializers.IntegerField()
    consented_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
