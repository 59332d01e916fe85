"""Fixtures of the web layer's tests: a signed-in member, a wallet row, a job with
audio, and the browser pages the Playwright tests drive."""

from __future__ import annotations

import pytest

from tests.browser_helpers import DESKTOP, chromium

from .ui_helpers import AUDIO, give_audio, make_job, make_wallet


@pytest.fixture
def signed_in(client, member, wallet):
    client.force_login(member)
    return client


@pytest.fixture
def wallet_row():
    return make_wallet()


@pytest.fixture
def audio_job(member, settings, tmp_path):
    """A member's finished job whose audio is AUDIO, in a media folder of its own."""
    settings.MEDIA_ROOT = tmp_path
    job = make_job(member, make_wallet(), prompt="Calm piano at dusk!", model_id="elevenlabs-music")
    return give_audio(job, AUDIO)


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(request, browser, live_server):
    """A fresh page on the live server, at the module's VIEWPORT (the desktop's by default)."""
    viewport = getattr(request.module, "VIEWPORT", DESKTOP)
    context = browser.new_context(viewport=viewport, base_url=live_server.url)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def no_page_errors(page):
    """Fails the test on any script error or failed load in the page (a blocked inline style
    or script included): modules that want it list it in their pytestmark."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield
    assert not errors, errors
