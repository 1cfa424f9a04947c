from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .api_keys import create_api_key, revoke_api_key
from .models import ApiKey, Organisation, User


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "priority", "member_count", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.members.count()


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "organisation", "roles", "is_staff", "is_active", "last_login")
    list_filter = ("organisation", "groups", "is_staff", "is_active")
    search_fields = ("email", "first_name", "last_name", "organisation__name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "organisation")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "organisation", "password1", "password2")}),)

    @admin.display(description="roles")
    def roles(self, obj):
        return ", ".join(g.name for g in obj.groups.all())

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organisation").prefetch_related("groups")


class ApiKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple, initial=["read"])

    class Meta:
        model = ApiKey
        fields = ("organisation", "name", "scopes")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made here (shown once, in a message) and revoked with an action; never edited or deleted."""

    list_display = ("prefix", "name", "organisation", "scopes", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("organisation", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "organisation__name")
    readonly_fields = ("organisation", "prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by")
    actions = ["revoke_keys"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, raw_key = create_api_key(
            organisation=obj.organisation, name=obj.name, scopes=form.cleaned_data["scopes"], actor=request.user
        )
        obj.pk, obj.prefix, obj.key_hash, obj.scopes, obj.created_at = key.pk, key.prefix, key.key_hash, key.scopes, key.created_at
        obj._state.adding = False
        self.message_user(
            request,
            f"The new API key is {raw_key} — copy it now: it is shown only this once.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected API keys")
    def revoke_keys(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            revoke_api_key(key, actor=request.user)
        self.message_user(request, "Revoked.")

    def has_delete_permission(self, request, obj=None):
        return False
