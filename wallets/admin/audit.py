"""The audit log of admins' actions on money and wallets (wallets.audit): read-only."""

from __future__ import annotations

from django.contrib import admin

from wallets.models import AuditEntry

from .base import ReadOnlyAdmin
from .csv_export import CsvExportMixin
from .dates import LooseDatesMixin


@admin.register(AuditEntry)
class AuditEntryAdmin(LooseDatesMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "object_repr", "change", "note"]
    list_filter = [
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("at", admin.DateFieldListFilter),
    ]
    list_select_related = ["actor"]
    search_fields = ["object_repr", "note"]
    date_hierarchy = "at"
    csv_fields = (
        "id",
        "at",
        "actor__username",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before",
        "after",
        "note",
    )

    @admin.display(description="Change")
    def change(self, entry):
        names = list(dict.fromkeys([*entry.before, *entry.after]))
        return "; ".join(
            f"{name}: {entry.before[name]} → {entry.after.get(name)}"
            if name in entry.before
            else f"{name}: {entry.after[name]}"
            for name in names
        )
