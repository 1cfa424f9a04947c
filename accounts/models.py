from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


class Role(models.TextChoices):
    """Roles are Django groups of these names; `accounts.roles` gives them their permissions."""

    JOURNALIST = "journalist", "Journalist"
    MODERATOR = "moderator", "Moderator"
    PARTNER = "partner", "Partner"
    ADMIN = "admin", "Admin"


class Organisation(models.Model):
    class Kind(models.TextChoices):
        NEWSROOM = "newsroom", "Newsroom"
        PARTNER = "partner", "Partner"

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NEWSROOM)
    # Higher numbers are reviewed first.
    priority = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("an email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with an email address; belongs to at most one organisation."""

    username = None
    email = models.EmailField("email address", unique=True)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    def has_role(self, role):
        if self.is_superuser and role == Role.ADMIN:
            return True
        return self.groups.filter(name=role).exists()

    @property
    def role_names(self):
        return sorted(self.groups.values_list("name", flat=True))

    @property
    def may_manage_api_keys(self):
        """A partner admin: a member of an organisation allowed to create and revoke its API keys."""
        return bool(
            self.is_authenticated
            and self.organisation_id is not None
            and self.has_perm("accounts.manage_organisation_api_keys")
        )

    @property
    def uses_partner_api(self):
        """Whom the portal shows the way to the API docs: partner organisations' members, key managers, staff."""
        if self.is_staff or self.may_manage_api_keys:
            return True
        return self.organisation is not None and self.organisation.kind == Organisation.Kind.PARTNER


class ApiKey(models.Model):
    """A partner organisation's key for the REST API (`Authorization: Bearer <key>`).

    Only a SHA-256 hash of the key is stored, beside a visible prefix that names it in lists and logs;
    the key itself is shown once, when it is made (`accounts.api_keys.create_api_key`).
    """

    class Scope(models.TextChoices):
        SUBMIT = "submit", "Submit images"
        READ = "read", "Read results"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="what the key is for, e.g. 'production ingest'")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        permissions = [("manage_organisation_api_keys", "Can create and revoke their own organisation's API keys")]

    def __str__(self):
        return f"{self.prefix}… ({self.organisation}: {self.name})"

    @property
    def is_active(self):
        return self.revoked_at is None

    def has_scope(self, scope):
        return scope in self.scopes
