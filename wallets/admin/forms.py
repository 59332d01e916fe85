"""Forms of the wallets admin: adding a wallet, its top-up policy, a manual top-up, a budget."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from venice.payments import MAX_TOP_UP_USD, MIN_TOP_UP_USD
from wallets.models import Budget, Wallet


class WalletCreateForm(forms.Form):
    """A new wallet. The pasted secret's field never renders a value: it is read once."""

    MODES = [
        ("create", "Create a new wallet (Studio generates its key)"),
        ("import", "Import an existing wallet's private key"),
        ("api_key", "Add a Venice API key"),
    ]

    mode = forms.ChoiceField(choices=MODES, initial="create", widget=forms.RadioSelect)
    name = forms.SlugField(max_length=50, help_text="Letters, digits, '-' or '_'.")
    private_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="64 hexadecimal characters (0x optional). Read once, stored encrypted, "
        "never shown again.",
    )
    api_key = forms.CharField(
        required=False,
        strip=True,
        label="Venice API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Read once, stored encrypted, never shown again.",
    )
    make_default = forms.BooleanField(
        required=False,
        label="Make it the default wallet",
        help_text="Members' jobs are paid from the default wallet.",
    )

    def clean(self):
        data = super().clean()
        mode = data.get("mode")
        if mode == "import" and not data.get("private_key"):
            self.add_error("private_key", "Paste the private key to import.")
        if mode == "api_key" and not data.get("api_key"):
            self.add_error("api_key", "Paste the Venice API key.")
        # Only the chosen mode's secret is kept, so the other can never be used by mistake.
        if mode != "import":
            data["private_key"] = ""
        if mode != "api_key":
            data["api_key"] = ""
        return data


class WalletPolicyForm(forms.ModelForm):
    class Meta:
        model = Wallet
        fields = [
            "name",
            "is_default",
            "topup_amount_usd",
            "topup_below_usd",
            "max_topup_per_day_usd",
            "approve_topups_above_usd",
        ]
        labels = {
            "topup_amount_usd": "Top up by (USD)",
            "topup_below_usd": "When credit falls below (USD)",
            "max_topup_per_day_usd": "At most per UTC day (USD)",
            "approve_topups_above_usd": "Second admin approves top-ups above (USD)",
        }
        help_texts = {
            "approve_topups_above_usd": "Empty: no approval. A top-up above it (the worker's or "
            "an admin's) waits until an admin other than the one who asked approves it."
        }

    def clean_approve_topups_above_usd(self):
        limit = self.cleaned_data["approve_topups_above_usd"]
        if limit is not None and limit < 0:
            raise forms.ValidationError("An approval amount cannot be negative.")
        return limit

    def clean_topup_amount_usd(self):
        amount = self.cleaned_data["topup_amount_usd"]
        if amount < MIN_TOP_UP_USD:
            raise forms.ValidationError(f"Venice's smallest top-up is ${MIN_TOP_UP_USD:.2f}.")
        if amount > MAX_TOP_UP_USD:
            raise forms.ValidationError(f"Venice's largest top-up is ${MAX_TOP_UP_USD:,.2f}.")
        return amount

    def clean_topup_below_usd(self):
        below = self.cleaned_data["topup_below_usd"]
        if below < 0:
            raise forms.ValidationError("A credit level cannot be negative.")
        return below

    def clean_is_default(self):
        value = self.cleaned_data["is_default"]
        if self.instance.pk and self.instance.is_default and not value:
            raise forms.ValidationError(
                "Make another wallet the default instead: members' jobs need one."
            )
        return value

    def _get_validation_exclusions(self):
        # Only one wallet is the default: making this one the default un-defaults the other in
        # the same transaction (WalletAdmin.save_model), so that constraint is not checked here.
        exclude = super()._get_validation_exclusions()
        exclude.add("is_default")
        return exclude

    def clean(self):
        data = super().clean()
        amount, per_day = data.get("topup_amount_usd"), data.get("max_topup_per_day_usd")
        if amount is not None and per_day is not None and per_day < amount:
            self.add_error("max_topup_per_day_usd", "The daily cap must allow at least one top-up.")
        return data


class ManualTopUpForm(forms.Form):
    amount = forms.DecimalField(
        label="Amount (USD)", max_digits=10, decimal_places=2, min_value=Decimal("0.01")
    )

    def __init__(self, *args, wallet: Wallet, topped_up_today: Decimal, **kwargs):
        super().__init__(*args, **kwargs)
        self.wallet = wallet
        self.topped_up_today = topped_up_today
        self.fields["amount"].initial = wallet.topup_amount_usd

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        wallet = self.wallet
        if amount < MIN_TOP_UP_USD:
            raise forms.ValidationError(f"Venice's smallest top-up is ${MIN_TOP_UP_USD:.2f}.")
        if amount > wallet.topup_amount_usd:
            raise forms.ValidationError(
                f"The policy allows at most ${wallet.topup_amount_usd:.2f} per top-up."
            )
        if self.topped_up_today + amount > wallet.max_topup_per_day_usd:
            left = max(Decimal("0"), wallet.max_topup_per_day_usd - self.topped_up_today)
            raise forms.ValidationError(
                f"Today's top-ups are ${self.topped_up_today:.2f} of the "
                f"${wallet.max_topup_per_day_usd:.2f} a day the policy allows: at most "
                f"${left:.2f} more today."
            )
        return amount


class BudgetForm(forms.ModelForm):
    class Meta:
        model = Budget
        fields = ["user", "month", "limit_usd"]
        help_texts = {"user": "Leave empty for the team's budget."}

    def clean_month(self):
        month = self.cleaned_data["month"]
        return month.replace(day=1) if month else month

    def clean_limit_usd(self):
        limit = self.cleaned_data["limit_usd"]
        if limit < 0:
            raise forms.ValidationError("A budget cannot be negative.")
        return limit
