"""Member pages of the spend review: each member's own usage, and asking for more budget."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from wallets import requests
from wallets.models import BudgetRequest

from . import charts
from .forms import BudgetRequestForm
from .usage import usage

RECENT_REQUESTS = 5


def _jobs(line) -> str:
    return f"{line.charges} job{'' if line.charges == 1 else 's'}"


def my_usage(request, form: BudgetRequestForm | None = None):
    figures = usage(request.user.pk)
    return render(
        request,
        "review/usage.html",
        {
            "usage": figures,
            "days_chart": charts.day_columns(figures.by_day, width=640, height=200, counts=_jobs),
            "models_chart": charts.bars(figures.by_model),
            "meter": charts.meter(figures.use.fraction, figures.use.level),
            "form": form or BudgetRequestForm(),
            "requests": BudgetRequest.objects.filter(user=request.user)[:RECENT_REQUESTS],
        },
        status=400 if form is not None else 200,
    )


@require_POST
def ask_for_budget(request):
    form = BudgetRequestForm(request.POST)
    if form.is_valid():
        try:
            requests.ask(request.user, form.cleaned_data["amount_usd"], form.cleaned_data["reason"])
        except requests.RequestRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(request, "Your request is with the admins; their answer shows here.")
            return redirect("usage")
    return my_usage(request, form)
