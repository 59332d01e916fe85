"""Member pages of the spend review: each member's own usage."""

from __future__ import annotations

from django.shortcuts import render

from . import charts
from .usage import usage


def _jobs(line) -> str:
    return f"{line.charges} job{'' if line.charges == 1 else 's'}"


def my_usage(request):
    figures = usage(request.user.pk)
    return render(
        request,
        "review/usage.html",
        {
            "usage": figures,
            "days_chart": charts.day_columns(figures.by_day, width=640, height=200, counts=_jobs),
            "models_chart": charts.bars(figures.by_model),
            "meter": charts.meter(figures.use.fraction, figures.use.level),
        },
    )
