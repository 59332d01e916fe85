"""Forms of the spend review: the overview's range, resolving differences, asking for budget."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django import forms

from wallets.models import Wallet
from wallets.requests import MAX_REQUEST_USD

MAX_RANGE_DAYS = 3660


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        help_text="What was found and what was done about it. Kept with the difference and in "
        "the audit log.",
    )


class SpendRangeForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    wallet = forms.ModelChoiceField(
        queryset=Wallet.objects.order_by("name"), required=False, empty_label="All wallets"
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The range starts after it ends.")
            if end - start > datetime.timedelta(days=MAX_RANGE_DAYS):
                raise forms.ValidationError("Choose a range of at most ten years.")
        return data


class BudgetRequestForm(forms.Form):
    amount_usd = forms.DecimalField(
        label="How much more (USD)",
        min_value=Decimal("0.01"),
        max_value=MAX_REQUEST_USD,
        max_digits=10,
        decimal_places=2,
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text="What it is for: admins decide from this.",
    )
