from django.contrib import admin

from wallets.admin.csv_export import CsvExportMixin

from .models import Prompt


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

    @admin.display(description="Tags", ordering="tags")
    def tags_shown(self, prompt):
        return " ".join(f"#{tag}" for tag in prompt.tag_list)


from . import admin_otp  # noqa: E402, F401  (second-factor devices: studio/admin_otp.py)
