from django.contrib import admin

from wallets import audit
from wallets.admin.base import SingletonAdmin
from wallets.admin.csv_export import CsvExportMixin
from wallets.models import AuditEntry

from . import versioning
from .models import LibrarySettings, Prompt, PromptVersion

Action = AuditEntry.Action


class PromptVersionInline(admin.TabularInline):
    """The prompt's history, read only: versions are added by saving the prompt, and the approved
    label moves on the prompt's History page, where the move is written to the audit log."""

    model = PromptVersion
    extra = 0
    can_delete = False
    fields = ["number", "title", "model_id", "author", "created_at", "note", "approved"]
    readonly_fields = fields
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Prompt)
class PromptAdmin(CsvExportMixin, admin.ModelAdmin):
    """The shared prompt library. Not money: admins may tidy it (edit, unshare, delete)."""

    list_display = [
        "title",
        "author",
        "model_id",
        "tags_shown",
        "private",
        "times_used",
        "updated_at",
    ]
    list_filter = [
        "private",
        "model_id",
        ("author", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["author"]
    search_fields = ["title", "text", "lyrics", "tags", "author__username"]
    date_hierarchy = "created_at"
    readonly_fields = ["times_used", "source_job", "created_at", "updated_at"]
    inlines = [PromptVersionInline]
    csv_fields = (
        "id",
        "title",
        "author__username",
        "model_id",
        "tags",
        "private",
        "times_used",
        "created_at",
        "updated_at",
        "text",
    )

    def save_model(self, request, obj, form, change) -> None:
        # An admin's edit is an edit like a member's: it adds a version.
        versioning.save_prompt(obj, request.user, note="Edited in the admin")

    @admin.display(description="Tags", ordering="tags")
    def tags_shown(self, prompt):
        return " ".join(f"#{tag}" for tag in prompt.tag_list)


@admin.register(LibrarySettings)
class LibrarySettingsAdmin(SingletonAdmin):
    """One row: whether prompts' owners may move the approved label as admins do."""

    def save_model(self, request, obj, form, change) -> None:
        # Who may move the approved label is a permission: its changes go in the audit log.
        before = {"owners_may_approve": LibrarySettings.current().owners_may_approve}
        super().save_model(request, obj, form, change)
        after = {"owners_may_approve": obj.owners_may_approve}
        if before != after:
            audit.record(request.user, Action.LIBRARY_SETTINGS, obj, before=before, after=after)


from . import admin_otp  # noqa: E402, F401  (second-factor devices: studio/admin_otp.py)
