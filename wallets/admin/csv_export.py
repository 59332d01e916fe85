"""CSV export of an admin list exactly as it is filtered, searched and sorted on screen.

A ModelAdmin mixes in CsvExportMixin: its list gains an "Export CSV" link that carries the
list's query string to ``export.csv``, which builds the same ChangeList from the same
parameters (so list_filter, date_hierarchy, search and ordering all apply) and streams every
matching row, not only the page shown. An "Export selected as CSV" action does the same for
ticked rows.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import lookup_field
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection); prompts
# and notes are free text, so such a cell is prefixed with an apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


class _ExportChangeList(ChangeList):
    """The changelist's filtered, searched and sorted queryset, without counting or paging it."""

    def get_results(self, request):
        self.result_count = self.full_result_count = 0
        self.result_list = self.queryset.none()
        self.can_show_all = self.multi_page = False


def csv_cell(value) -> str | Decimal | int:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | int):
        return value
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_START):
        try:
            Decimal(text)
        except ArithmeticError:
            return "'" + text
    return text


class CsvExportMixin:
    """For a ModelAdmin: `csv_fields` names the columns (model fields, `a__b` lookups, or
    attributes/methods of the model or the admin that return plain values); without it, the
    list's columns."""

    csv_fields: tuple[str, ...] = ()
    # Column names: the lookup itself (`wallet__name` as "wallet.name") unless renamed here.
    csv_headers: dict[str, str] = {}
    change_list_template = "admin/csv_change_list.html"
    actions = ["export_selected_csv"]

    def get_csv_fields(self, request) -> list[str]:
        return list(self.csv_fields) or [
            name for name in self.get_list_display(request) if name != "action_checkbox"
        ]

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_csv_view),
                name="{}_{}_export_csv".format(*info),
            ),
            *super().get_urls(),
        ]

    def get_changelist(self, request, **kwargs):
        if getattr(request, "_csv_export", False):
            return _ExportChangeList
        return super().get_changelist(request, **kwargs)

    def export_csv_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        request._csv_export = True
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            info = self.opts.app_label, self.opts.model_name
            return HttpResponseRedirect(
                reverse("admin:{}_{}_changelist".format(*info), current_app=self.admin_site.name)
                + "?e=1"
            )
        return self.csv_response(request, changelist.queryset)

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return self.csv_response(request, queryset)

    def csv_response(self, request, queryset: models.QuerySet) -> StreamingHttpResponse:
        fields = self.get_csv_fields(request)
        name = f"{self.opts.model_name}-{timezone.now():%Y%m%d-%H%M%S}.csv"
        writer = csv.writer(_Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in self.csv_rows(fields, queryset)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def csv_rows(self, fields: list[str], queryset: models.QuerySet) -> Iterator[Iterable]:
        yield [self.csv_headers.get(name, name.replace("__", ".")) for name in fields]
        for obj in queryset.iterator(chunk_size=2000):
            yield [csv_cell(self.csv_value(obj, name)) for name in fields]

    def csv_value(self, obj, name: str):
        _, _, value = lookup_field(name, obj, self)
        return value
