"""Staff need a second factor (TOTP, or a single-use recovery code) for every admin URL and the
staff wallet actions; enforced by the server whatever the page shows."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.twofactor_helpers import current_code
from wallets.models import TopUp

pytestmark = pytest.mark.django_db


def wait_out_the_throttle(device) -> None:
    """As after waiting: django-otp refuses any code for a while after a wrong one."""
    type(device).objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)  # password only: no second factor yet
    return client


@pytest.fixture
def enrolled(admin_user):
    return TOTPDevice.objects.create(user=admin_user, name="Authenticator", confirmed=True)


def admin_urls() -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    return urls


def test_without_a_device_every_admin_url_sends_to_enrolment(staff):
    for url in admin_urls():
        response = staff.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/twofactor/enrol/?next="), url


def test_with_a_device_every_admin_url_asks_for_a_code(staff, enrolled):
    for url in admin_urls():
        response = staff.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/twofactor/verify/?next="), url


def test_members_are_unaffected_and_still_kept_out(client, member):
    client.force_login(member)
    assert client.get("/jobs/").status_code == 200
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_enrol_with_the_app_then_the_admin_opens(staff, admin_user):
    page = staff.get("/twofactor/enrol/?next=/admin/wallets/wallet/").content.decode()
    assert "<svg" in page and "Can't scan?" in page
    device = TOTPDevice.objects.get(user=admin_user, confirmed=False)
    assert device.key and " ".join(re.findall(r"[A-Z2-7]{4}", page))  # the key for typing

    wrong = staff.post("/twofactor/enrol/", {"code": "000000", "next": "/admin/"})
    assert "That code is not right" in wrong.content.decode()
    assert staff.get("/admin/").status_code == 302  # still not verified
    too_soon = staff.post("/twofactor/enrol/", {"code": current_code(device)})
    assert "Too many wrong codes" in too_soon.content.decode()
    wait_out_the_throttle(device)

    done = staff.post(
        "/twofactor/enrol/", {"code": current_code(device), "next": "/admin/wallets/wallet/"}
    )
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert sorted(codes) == sorted(
        StaticToken.objects.filter(device__user=admin_user).values_list("token", flat=True)
    )
    device.refresh_from_db()
    assert device.confirmed
    assert staff.get("/admin/wallets/wallet/").status_code == 200
    # Enrolled: the enrolment page cannot add a second app without the first.
    assert staff.get("/twofactor/enrol/")["Location"].startswith("/twofactor/verify/")


def test_a_code_from_the_app_verifies_the_session(staff, enrolled):
    wrong = staff.post("/twofactor/verify/", {"code": "123456", "next": "/admin/"})
    assert "That code is not right" in wrong.content.decode()
    wait_out_the_throttle(enrolled)
    response = staff.post("/twofactor/verify/", {"code": current_code(enrolled), "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert staff.get("/admin/").status_code == 200


def test_a_recovery_code_works_once(client, admin_user, enrolled):
    out = io.StringIO()
    call_command("twofactor", "codes", "admin", stdout=out, stderr=io.StringIO())
    first, second = out.getvalue().split()[:2]
    client.force_login(admin_user)
    assert client.post("/twofactor/verify/", {"code": first})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200

    client.logout()
    client.force_login(admin_user)
    again = client.post("/twofactor/verify/", {"code": first})
    assert "was already used" in again.content.decode()
    assert client.get("/admin/").status_code == 302
    wait_out_the_throttle(StaticDevice.objects.get(user=admin_user))
    assert client.post("/twofactor/verify/", {"code": second})["Location"] == "/admin/"


def test_fresh_codes_void_the_old(admin_user, enrolled):
    out = io.StringIO()
    call_command("twofactor", "codes", "admin", stdout=out, stderr=io.StringIO())
    old = out.getvalue().split()
    assert len(old) == 10
    out = io.StringIO()
    call_command("twofactor", "codes", "admin", stdout=out, stderr=io.StringIO())
    new = out.getvalue().split()
    assert len(new) == 10 and not set(old) & set(new)
    tokens = set(
        StaticToken.objects.filter(device__user=admin_user).values_list("token", flat=True)
    )
    assert tokens == set(new)


def test_codes_for_a_user_that_does_not_exist():
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("twofactor", "codes", "nobody", stdout=io.StringIO())


def test_staff_wallet_actions_need_the_second_factor(staff, enrolled, wallet):
    before = TopUp.objects.count()
    response = staff.post(reverse("wallets:top_up"), {"amount_usd": "10"})
    assert response["Location"] == "/twofactor/verify/?next=%2Fwallet%2F"
    response = staff.post(reverse("wallets:refresh"))
    assert response["Location"].startswith("/twofactor/verify/")
    assert TopUp.objects.count() == before
    assert staff.get(reverse("wallets:wallet")).status_code == 200  # the page itself is open


def test_next_only_returns_to_this_site(staff, enrolled):
    response = staff.post(
        "/twofactor/verify/", {"code": current_code(enrolled), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/admin/"


def test_the_admin_lists_devices_but_never_their_secrets(
    staff_client, admin_user, django_user_model
):
    other = django_user_model.objects.create_user("ops", password="ops-pass-123", is_staff=True)
    device = TOTPDevice.objects.create(user=other, name="Authenticator", confirmed=True)
    call_command("twofactor", "codes", "ops", stdout=io.StringIO(), stderr=io.StringIO())
    codes = list(StaticToken.objects.filter(device__user=other).values_list("token", flat=True))
    pages = [
        staff_client.get("/admin/otp_totp/totpdevice/"),
        staff_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/"),
        staff_client.get("/admin/otp_static/staticdevice/"),
        staff_client.get(
            f"/admin/otp_static/staticdevice/{StaticDevice.objects.get(user=other).pk}/change/"
        ),
    ]
    assert [page.status_code for page in pages] == [200] * 4
    shown = "".join(page.content.decode() for page in pages)
    assert "ops" in shown
    assert device.key not in shown and not any(code in shown for code in codes)
    assert staff_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code != 200
    assert staff_client.get("/admin/otp_totp/totpdevice/987654/config/").status_code < 500
