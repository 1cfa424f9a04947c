from django.contrib import admin

from .models import ReviewDecision, ReviewItem


class ReviewDecisionInline(admin.TabularInline):
    model = ReviewDecision
    extra = 0
    can_delete = False
    readonly_fields = ("round", "kind", "moderator", "decision", "note", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    """Read-only: decisions are taken on the review pages, where they are checked and audited."""

    list_display = ("submission", "state", "round", "claimed_by", "decision", "decided_by", "decided_at", "created_at")
    list_filter = ("state", "decision", "submission__organisation")
    search_fields = ("submission__original_name", "submission__id", "claimed_by__email", "decided_by__email")
    readonly_fields = [f.name for f in ReviewItem._meta.fields]
    inlines = [ReviewDecisionInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
