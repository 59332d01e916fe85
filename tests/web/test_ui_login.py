"""Sign in, sign out, the Sandbox banner, and that every page needs sign-in.

The sign-in limits (django-axes) are tested in test_security_login.py.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/generate/quote/",
    "/jobs/",
    "/jobs/live/?ids=1",
    "/jobs/1/",
    "/jobs/1/audio/",
    "/jobs/1/timeline/",
    "/library/",
    "/library/new/",
    "/library/1/",
    "/library/1/use/",
    "/wallet/",
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("url", PAGES)
def test_every_page_sends_strangers_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_sign_in_page_works_without_an_account_and_shows_the_sandbox_banner(client, settings):
    settings.VENICE_IS_SANDBOX = True
    page = client.get(reverse("login")).content.decode()
    assert 'class="sandbox-banner"' in page and "Sandbox" in page
    assert '<label for="id_username">' in page and '<label for="id_password">' in page


def test_no_banner_against_the_real_venice(client, settings):
    settings.VENICE_IS_SANDBOX = False
    assert "sandbox-banner" not in client.get(reverse("login")).content.decode()


def test_sign_in_then_out(client, member):
    response = client.post(reverse("login"), {"username": "member", "password": "member-pass-123"})
    assert response.status_code == 302 and response["Location"] == reverse("jobs:generate")
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("jobs:list")).status_code == 302


def test_sign_out_needs_a_post(client, member):
    client.force_login(member)
    assert client.get(reverse("logout")).status_code == 405


def _try(client, password, address="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": "member", "password": password}, REMOTE_ADDR=address
    )


def test_a_success_clears_the_failure_count(client, member):
    for _ in range(4):
        _try(client, "wrong")
    assert _try(client, "member-pass-123").status_code == 302
    client.logout()
    for _ in range(4):
        _try(client, "wrong")
    assert _try(client, "member-pass-123").status_code == 302


def test_sign_in_form_is_csrf_protected(member):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": "member", "password": "member-pass-123"})
    assert response.status_code == 403
