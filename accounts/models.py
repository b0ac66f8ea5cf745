from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(email__iexact=(username or "").strip())

    def create_user(self, email=None, password=None, **extra):
        email = self.normalize_email(email).lower() if email else None
        user = self.model(email=email, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password, **extra):
        extra.setdefault("name", "Admin")
        extra.update(is_staff=True, is_superuser=True, account_type=User.AccountType.PERMANENT)
        return self.create_user(email=email, password=password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    class Gender(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        NONBINARY = "nonbinary", "Non-binary"
        OTHER = "other", "Other"
        UNSPECIFIED = "unspecified", "Prefer not to say"

    class AccountType(models.TextChoices):
        GUEST = "guest", "Guest"
        PERMANENT = "permanent", "Permanent"

    class PaidStatus(models.TextChoices):
        UNPAID = "unpaid", "Unpaid"
        PAID = "paid", "Paid"
        INVITED = "invited", "Invited"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=50)
    gender = models.CharField(max_length=16, choices=Gender.choices, default=Gender.UNSPECIFIED)
    bio = models.CharField(max_length=500, blank=True, default="")
    instagram_handle = models.CharField(max_length=30, blank=True, default="")
    # Up to INSTAGRAM_POSTS_MAX normalised public post URLs, in the user's order
    # (accounts.location.instagram_posts_normalise is the only writer's gate).
    instagram_posts = models.JSONField(default=list, blank=True)
    # Stored lower-cased by the services; unique so it can be the admin login name.
    email = models.EmailField(max_length=254, unique=True, null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    account_type = models.CharField(max_length=16, choices=AccountType.choices, default=AccountType.GUEST)
    paid_status = models.CharField(max_length=16, choices=PaidStatus.choices, default=PaidStatus.UNPAID)
    timer_total_seconds = models.PositiveBigIntegerField(default=0)
    photo = models.FileField(upload_to="photos/%Y/%m/", blank=True, default="")
    intro_video = models.FileField(upload_to="videos/%Y/%m/", blank=True, default="")
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.email or 'guest'} #{self.pk})"

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class Session(models.Model):
    """An API session.  Only the SHA-256 of the bearer token is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_sessions")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    device_name = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["user", "revoked_at"]),
            models.Index(fields=["expires_at"]),
        ]

    def __str__(self) -> str:
        return f"session #{self.pk} of user #{self.user_id}"


class EmailVerification(models.Model):
    """A pending email + password change, confirmed by a 6-digit code (stored hashed)."""

    class Purpose(models.TextChoices):
        MAKE_PERMANENT = "make_permanent", "Make permanent"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_verifications")
    email = models.EmailField(max_length=254)
    password_hash = models.CharField(max_length=256)
    code_hash = models.CharField(max_length=64)
    purpose = models.CharField(max_length=32, choices=Purpose.choices, default=Purpose.MAKE_PERMANENT)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "consumed_at"])]


class UserLocation(models.Model):
    """A user's opt-in location, stored only **coarsened** to the centre of a grid cell of
    ``LOCATION_GRID_METERS`` and only until ``expires_at`` (read as absent afterwards, deleted by
    the ``locations_expired`` purger).  Never shown to anyone else as coordinates: other users see
    a distance bucket (``accounts.location``)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="location")
    lat = models.FloatField()
    lon = models.FloatField()
    accuracy_m = models.PositiveIntegerField()
    consented_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"location of user #{self.user_id}"
