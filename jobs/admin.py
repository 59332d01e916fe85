from django.contrib import admin

from wallets.admin import ReadOnlyAdmin

from .models import Job, JobEvent


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "state", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "created_at",
        "user",
        "model_id",
        "state",
        "quoted_usd",
        "charged_usd",
        "refunded_usd",
        "error_code",
    ]
    list_filter = ["state", "model_id", "user"]
    search_fields = ["prompt", "queue_id"]
    date_hierarchy = "created_at"
    inlines = [JobEventInline]
