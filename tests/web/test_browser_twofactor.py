"""Staff's second factor in Debian's chromium: first sign-in enrols the authenticator app (QR
and key), later sign-ins ask for its code, and a recovery code gets in once.

With STUDIO_SCREENSHOTS=<folder> set, the pages are saved there as twofactor-*.png.
"""

from __future__ import annotations

import base64
import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.browser_helpers import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


VIEWPORT = {"width": 1100, "height": 900}


def app_code(key_shown: str) -> str:
    """What an authenticator app shows for the key typed from the page."""
    key = base64.b32decode(key_shown.replace(" ", ""))
    return f"{TOTP(key).token():06d}"


def sign_in(page):
    page.context.clear_cookies()
    page.goto("/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("admin-pass-123")
    page.get_by_role("button", name="Log in").click()


def test_enrol_then_sign_in_with_the_app_then_with_a_recovery_code(page, admin_user):
    sign_in(page)
    page.wait_for_url(re.compile(r"/twofactor/enrol/\?next=%2Fadmin%2F$"))
    assert page.locator("figure.enrol-qr svg").is_visible()
    shot(page, "twofactor-enrol")
    key = page.locator("code.secret").inner_text()

    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_text("That code is not right").is_visible()
    # django-otp refuses any code for a second after a wrong one; an app user takes longer.
    page.wait_for_timeout(1100)
    page.get_by_label("Code").fill(app_code(key))
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_role("heading", name="Your recovery codes").is_visible()
    codes = page.locator("ol.recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    shot(page, "twofactor-codes")
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    assert page.get_by_role("heading", name="Site administration").is_visible()

    # The next sign-in: the app's code. (A code is accepted once per 30 s step: this stands
    # in for the next step, as a person signing in again later would be in.)
    TOTPDevice.objects.filter(user=admin_user).update(last_t=-1)
    sign_in(page)
    page.wait_for_url(re.compile(r"/twofactor/verify/"))
    shot(page, "twofactor-verify")
    page.get_by_label("Code").fill(app_code(key))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    # A lost phone: a recovery code, once.
    sign_in(page)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    sign_in(page)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    assert page.get_by_text("was already used").is_visible()
    page.goto("/admin/wallets/wallet/")
    page.wait_for_url(re.compile(r"/twofactor/verify/"))  # still not through
