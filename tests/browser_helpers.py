"""Debian's chromium for the browser tests (Playwright drives it; no browser is downloaded),
and their screenshots."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]


@contextlib.contextmanager
def chromium() -> Iterator:
    """A launched browser; the test is skipped where chromium is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make browser-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page, name: str) -> None:
    """With STUDIO_SCREENSHOTS=<folder> set, save the whole page there as <name>.png."""
    folder = os.environ.get("STUDIO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        # caret="initial": hiding the caret injects an inline style, which the CSP refuses.
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True, caret="initial")


def switched_to(model_id: str = ""):
    """For page.expect_response: the answer to Generate's model switch (to this model), which
    htmx POSTs with the form in the body."""

    def answer(response) -> bool:
        sent = response.request.post_data or ""
        return response.url.endswith("/generate/form/") and f"model={model_id}" in sent

    return answer


def at(path: str):
    """A wait_for_url predicate for exactly this path (a glob like **/ also matches /login/)."""
    return lambda url: urlsplit(url).path == path


def sign_in(page, username: str, password: str) -> None:
    """Sign in through Studio's own login page (members have no second factor)."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def sign_in_admin(page, user, password: str = "admin-pass-123") -> None:
    """Sign ``user`` (staff) in through the admin's login page and its second factor, with
    a confirmed authenticator app (TOTP device) made for them if they have none."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from .twofactor_helpers import current_code

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    device = device or TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
    page.goto("/admin/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(lambda url: "/verify" not in url and "/login" not in url)
