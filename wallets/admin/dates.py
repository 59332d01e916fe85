"""A date hierarchy that stays fast on a million-row list.

The admin's date hierarchy lists the years, months or days that hold rows with
``queryset.datetimes(field, kind)``: a SELECT DISTINCT over every matching row (a third of a
second on a million ledger rows). Walking the field's index instead, one ``MIN(field) WHERE
field >= start of the next period`` per period found, takes a dozen index lookups, and keeps
every filter and search of the list since it runs on the same queryset.
"""

from __future__ import annotations

import datetime

from django.db.models import Min, QuerySet
from django.utils import timezone

KINDS = ("year", "month", "day")
MAX_STEPS = 500


def _start(moment: datetime.datetime, kind: str) -> datetime.datetime:
    moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind in ("year", "month"):
        moment = moment.replace(day=1)
    if kind == "year":
        moment = moment.replace(month=1)
    return moment


def _next(start: datetime.datetime, kind: str, tz) -> datetime.datetime:
    day = start.date()
    if kind == "year":
        day = day.replace(year=day.year + 1)
    elif kind == "month":
        day = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    else:
        day += datetime.timedelta(days=1)
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


class LooseDatesQuerySet(QuerySet):
    def datetimes(self, field_name, kind, order="ASC", tzinfo=None, **kwargs):
        if kind not in KINDS or order != "ASC" or kwargs:
            return super().datetimes(field_name, kind, order, tzinfo, **kwargs)
        tz = tzinfo or timezone.get_current_timezone()
        rows = self.order_by()
        found: list[datetime.datetime] = []
        after = None
        for _ in range(MAX_STEPS):
            step = rows if after is None else rows.filter(**{f"{field_name}__gte": after})
            first = step.aggregate(first=Min(field_name))["first"]
            if first is None:
                break
            period = _start(first.astimezone(tz), kind)
            found.append(period)
            after = _next(period, kind, tz)
        return found


class LooseDatesMixin:
    """For a ModelAdmin with a date_hierarchy on a DateTimeField."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return LooseDatesQuerySet(
            model=queryset.model, query=queryset.query.chain(), using=queryset.db
        )
