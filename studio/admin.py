from django.contrib import admin

from .models import Prompt


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "model_id", "tags", "private", "times_used", "updated_at"]
    list_filter = ["private", "model_id"]
    search_fields = ["title", "text", "tags", "author__username"]
    raw_id_fields = ["author", "source_job"]
