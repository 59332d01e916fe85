"""Only staff reach the admin: a member (or a visitor) is sent to the admin's sign-in from every
admin URL, the spend review's own included, and their POSTs change nothing."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver
from django.utils import timezone

from jobs.models import Job, Retention
from review.models import Difference
from studio.models import Prompt
from wallets import keys
from wallets.models import AuditEntry, Budget, LedgerEntry, TopUp, Wallet

pytestmark = pytest.mark.django_db

PUBLIC = {"login", "logout", "password_change", "password_change_done"}
# The spend review's own pages: each must be among the URLs checked below.
SPEND_REVIEW = {
    "review_spend_changelist",
    "review_spend_refresh",
    "wallets_wallet_add",
    "wallets_wallet_topup",
    "wallets_wallet_rotate_keys",
    "review_difference_reconcile",
    "review_difference_resolve",
    "wallets_ledgerentry_export_csv",
    "wallets_topup_export_csv",
    "jobs_job_export_csv",
    "wallets_budget_export_csv",
    "review_difference_export_csv",
    "wallets_auditentry_export_csv",
    "studio_prompt_export_csv",
    "alerts_channel_test",
}


@pytest.fixture
def records(django_user_model):
    """One of each record, so every change/history/delete URL has an object to point at."""
    owner = django_user_model.objects.create_user("owner", password="owner-pass-123")
    wallet = keys.create_evm_wallet("team", make_default=True)
    month = timezone.now().date().replace(day=1)
    job = Job.objects.create(
        user=owner,
        wallet=wallet,
        model_id="elevenlabs-music",
        prompt="x" * 12,
        quoted_usd=Decimal("0.5"),
        budget_month=month,
    )
    topup = TopUp.objects.create(
        wallet=wallet,
        amount_usd=Decimal("10"),
        amount_atomic="10000000",
        network="eip155:8453",
        asset="0x0",
        pay_to="0x0",
        payer=wallet.address,
        nonce="0x1",
        valid_before=timezone.now(),
    )
    entry = LedgerEntry.objects.create(
        wallet=wallet,
        venice_id="v1",
        type="CHARGE",
        amount_usd=Decimal("0.5"),
        created_at=timezone.now(),
    )
    budget = Budget.objects.create(user=owner, month=month, limit_usd=Decimal("25"))
    difference = Difference.objects.create(
        kind="charge_without_job", key="k", wallet=wallet, detail="d", last_seen_at=timezone.now()
    )
    audit = AuditEntry.objects.create(action="budget_change")
    prompt = Prompt.objects.create(title="t", text="a prompt text", author=owner)
    return {
        "wallet": wallet,
        "job": job,
        "topup": topup,
        "ledgerentry": entry,
        "budget": budget,
        "difference": difference,
        "auditentry": audit,
        "prompt": prompt,
        "user": owner,
        "retention": Retention.objects.create(),
    }


def admin_urls(records) -> dict[str, str]:
    """Every named admin URL with its parameters filled in from `records`."""
    found: dict[str, str] = {}

    def walk(patterns, prefix: str, model: str | None):
        for pattern in patterns:
            route = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                match = re.match(r"(\w+)/(\w+)/$", prefix + route)
                walk(pattern.url_patterns, prefix + route, match.group(2) if match else model)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found[pattern.name] = fill(prefix + route, model)

    def fill(route: str, model: str | None) -> str:
        obj = records.get(model or "", records["wallet"])
        route = re.sub(r"<path:object_id>|<int:pk>|<path:pk>", str(obj.pk), route)
        route = route.replace("<path:url>", "nowhere/").replace("<app_label>", "wallets")
        return "/admin/" + re.sub(r"<[^>]+>", "1", route)  # any other parameter

    walk(admin.site.get_urls(), "", None)
    found["app_list"] = "/admin/wallets/"  # the one regex route
    assert not [url for url in found.values() if re.search(r"[\^$()<>]", url)]
    return found


def test_every_admin_url_redirects_a_member_to_the_admin_sign_in(client, member, records):
    urls = admin_urls(records)
    assert set(urls) >= SPEND_REVIEW, SPEND_REVIEW - set(urls)
    client.force_login(member)
    checked = 0
    for name, url in urls.items():
        if name in PUBLIC:
            continue
        response = client.get(url)
        assert response.status_code == 302, (name, url, response.status_code)
        location = urlsplit(response["Location"])
        assert location.path == "/admin/login/", (name, url, response["Location"])
        checked += 1
    assert checked > 60


def test_a_members_posts_change_nothing(client, member, records):
    urls = admin_urls(records)
    client.force_login(member)
    wallet, budget, difference = records["wallet"], records["budget"], records["difference"]
    secret = Wallet.objects.get(pk=wallet.pk).secret_encrypted
    posts = {
        "wallets_wallet_rotate_keys": {},
        "review_difference_reconcile": {},
        "review_difference_resolve": {"note": "not mine to resolve"},
        "wallets_wallet_topup": {"amount": "10"},
        "wallets_wallet_add": {"mode": "create", "name": "sneaky"},
        "wallets_wallet_change": {
            "name": "renamed",
            "topup_amount_usd": "500",
            "topup_below_usd": "2",
            "max_topup_per_day_usd": "5000",
        },
        "wallets_budget_change": {"limit_usd": "9999"},
        "review_spend_refresh": {},
    }
    for name, data in posts.items():
        response = client.post(urls[name], data)
        assert response.status_code == 302, name
        assert urlsplit(response["Location"]).path == "/admin/login/", name
    wallet.refresh_from_db()
    budget.refresh_from_db()
    difference.refresh_from_db()
    assert wallet.name == "team" and wallet.topup_amount_usd == Decimal("10")
    assert Wallet.objects.get(pk=wallet.pk).secret_encrypted == secret
    assert budget.limit_usd == Decimal("25")
    assert difference.resolved_at is None
    assert not Wallet.objects.filter(name="sneaky").exists()
    assert not TopUp.objects.exclude(pk=records["topup"].pk).exists()
    assert AuditEntry.objects.count() == 1  # only the fixture's


def test_a_visitor_is_sent_to_sign_in(client, records):
    urls = admin_urls(records)
    for name in SPEND_REVIEW:
        response = client.get(urls[name])
        assert response.status_code == 302, name
        assert "login" in response["Location"], name


def test_staff_reach_the_spend_review(staff_client, client, admin_user, records):
    urls = admin_urls(records)
    for name in (
        "review_spend_changelist",
        "wallets_wallet_add",
        "wallets_wallet_topup",
        "review_difference_resolve",
        "wallets_ledgerentry_export_csv",
        "wallets_ledgerentry_changelist",
        "jobs_job_changelist",
        "wallets_topup_changelist",
        "wallets_wallet_changelist",
        "wallets_budget_changelist",
        "studio_prompt_changelist",
        "review_difference_changelist",
        "wallets_auditentry_changelist",
        "review_reconcilerun_changelist",
        "wallets_ledgerentry_change",
        "wallets_topup_change",
        "jobs_job_change",
        "review_difference_change",
    ):
        assert client.get(urls[name]).status_code == 200, name
    # Actions that only make sense as a POST say so.
    for name in (
        "wallets_wallet_rotate_keys",
        "review_difference_reconcile",
        "review_spend_refresh",
    ):
        assert client.get(urls[name]).status_code == 405, name
