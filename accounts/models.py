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
