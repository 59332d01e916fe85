"""Sign-in limits behind a proxy (issue 17, item 4): django-axes, the client's address from a
trusted proxy only, a limit per username at an address, per address, and per username, and the
unlock commands."""

from __future__ import annotations

import io
import ipaddress

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from studio.signin import client_address

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"  # the TLS proxy in front of Studio, on the team's network
ATTACKER = "203.0.113.7"
ADMIN_DESK = "198.51.100.20"
LOCKED = "Too many failed sign-ins"
WRONG = "Please enter a correct username and password"


@pytest.fixture(autouse=True)
def _behind_a_proxy(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network(PROXY)]
    # Every guess hashes a password; the default hasher would make each one take ~0.3 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(django_user_model):
    django_user_model.objects.create_superuser("admin", password="admin-pass-123")
    django_user_model.objects.create_user("member", password="member-pass-123")


def sign_in(client, username, password, client_ip, *, via_proxy=True, forwarded=None):
    """A POST to the sign-in page as the proxy relays it (or straight from client_ip)."""
    client.logout()
    if via_proxy:
        meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": forwarded or client_ip}
    else:
        meta = {"REMOTE_ADDR": client_ip}
        if forwarded:
            meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("login"), {"username": username, "password": password}, **meta)


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("jobs:generate")


def test_behind_the_proxy_one_attackers_guesses_lock_only_himself(client, people):
    for attempt in range(1, 6):
        page = sign_in(client, "admin", f"guess {attempt}", ATTACKER)
        assert (WRONG if attempt < 5 else LOCKED) in page.content.decode()
    # Locked at his address, even with the right password: it is not even checked.
    page = sign_in(client, "admin", "admin-pass-123", ATTACKER)
    assert page.status_code == 429 and LOCKED in page.content.decode()
    assert "_auth_user_id" not in client.session
    # Everyone else behind the same proxy signs in: the admin at her desk, and a member.
    assert signed_in(sign_in(client, "admin", "admin-pass-123", ADMIN_DESK))
    assert signed_in(sign_in(client, "member", "member-pass-123", "198.51.100.21"))
    # The member at the attacker's address too: his address has 5 failures, not 20.
    assert signed_in(sign_in(client, "member", "member-pass-123", ATTACKER))


def test_the_lockout_page_is_the_sign_in_page_with_the_reason(client, people):
    for _ in range(5):
        page = sign_in(client, "member", "wrong", ATTACKER)
    assert page.status_code == 429
    assert page.templates[0].name == "registration/login.html"
    text = page.content.decode()
    assert "Wait 15 minutes" in text and 'name="password"' in text and 'value="member"' in text


def test_one_address_is_limited_across_usernames(client, people):
    for n in range(20):
        sign_in(client, f"someone{n}", "guess", ATTACKER)
    # 20 usernames tried once each: the address is locked for every account, real ones too.
    page = sign_in(client, "member", "member-pass-123", ATTACKER)
    assert page.status_code == 429 and LOCKED in page.content.decode()
    # Other addresses behind the same proxy are not.
    assert signed_in(sign_in(client, "member", "member-pass-123", "198.51.100.99"))


def test_nineteen_usernames_from_one_address_are_not_yet_limited(client, people):
    for n in range(19):
        sign_in(client, f"someone{n}", "guess", ATTACKER)
    assert signed_in(sign_in(client, "member", "member-pass-123", ATTACKER))


def test_one_username_is_limited_across_addresses_and_an_admin_command_unlocks_it(client, people):
    # Many attackers, four guesses each (under the per-address limit of 5): 52 guesses in all.
    for n in range(13):
        for _ in range(4):
            sign_in(client, "admin", "guess", f"203.0.113.{100 + n}")
    page = sign_in(client, "admin", "admin-pass-123", ADMIN_DESK)
    assert page.status_code == 429, "50 guesses at one account from anywhere lock it"
    # Only that account: the member still signs in from anywhere.
    assert signed_in(sign_in(client, "member", "member-pass-123", "203.0.113.100"))

    out = io.StringIO()
    call_command("axes_reset_username", "admin", stdout=out)
    assert "attempts removed" in out.getvalue()
    assert signed_in(sign_in(client, "admin", "admin-pass-123", ADMIN_DESK))


def test_unlock_one_address_or_one_username_at_one_address(client, people):
    for _ in range(5):
        sign_in(client, "member", "wrong", ATTACKER)
    for n in range(20):
        sign_in(client, f"someone{n}", "guess", "203.0.113.8")
    out = io.StringIO()
    call_command("axes_list_attempts", stdout=out)
    assert ATTACKER in out.getvalue() and "203.0.113.8" in out.getvalue()

    call_command("axes_reset_ip_username", ATTACKER, "member", stdout=io.StringIO())
    assert signed_in(sign_in(client, "member", "member-pass-123", ATTACKER))

    assert sign_in(client, "member", "member-pass-123", "203.0.113.8").status_code == 429
    call_command("axes_reset_ip", "203.0.113.8", stdout=io.StringIO())
    assert signed_in(sign_in(client, "member", "member-pass-123", "203.0.113.8"))


def test_a_success_clears_that_username_at_that_address_only(client, people):
    for _ in range(4):
        sign_in(client, "member", "wrong", ATTACKER)
    for n in range(15):
        sign_in(client, f"someone{n}", "guess", ATTACKER)
    assert signed_in(sign_in(client, "member", "member-pass-123", ATTACKER))  # 19 failures here
    for n in range(15, 19):
        sign_in(client, f"someone{n}", "guess", ATTACKER)
    # 19 on this address, not 23: the member's own 4 were cleared by the success ...
    assert signed_in(sign_in(client, "member", "member-pass-123", ATTACKER))
    # ... and the others' were not (an attacker with an account of his own cannot wipe his
    # count by signing in to it): one more reaches the address's 20.
    sign_in(client, "someone-else", "guess", ATTACKER)
    assert sign_in(client, "member", "member-pass-123", ATTACKER).status_code == 429


def test_x_forwarded_for_from_anyone_but_the_proxy_is_ignored(client, people):
    """Straight to the server (no proxy), a new X-Forwarded-For each time changes nothing."""
    for n in range(5):
        sign_in(client, "member", "wrong", ATTACKER, via_proxy=False, forwarded=f"192.0.2.{n}")
    page = sign_in(
        client, "member", "member-pass-123", ATTACKER, via_proxy=False, forwarded="1.1.1.1"
    )
    assert page.status_code == 429


def test_what_the_client_writes_before_the_proxys_hop_is_ignored(client, people):
    """The proxy appends the address it heard from; what the client sent stands to its left."""
    for n in range(5):
        sign_in(client, "member", "wrong", ATTACKER, forwarded=f"192.0.2.{n}, {ATTACKER}")
    assert sign_in(client, "member", "member-pass-123", ATTACKER).status_code == 429


def test_proxies_without_trust_share_one_address_as_before(client, people, settings):
    """Without TRUSTED_PROXIES the proxy's own address is every client's: limits still hold."""
    settings.TRUSTED_PROXIES = []
    for _ in range(5):
        sign_in(client, "member", "wrong", ATTACKER)
    assert sign_in(client, "member", "member-pass-123", ADMIN_DESK).status_code == 429


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.7", "", "203.0.113.7"),
        ("203.0.113.7", "192.0.2.1", "203.0.113.7"),  # not from a trusted proxy
        (PROXY, "", PROXY),  # the proxy itself, or a proxy that sent no header
        (PROXY, "192.0.2.1", "192.0.2.1"),
        (PROXY, "6.6.6.6, 192.0.2.1", "192.0.2.1"),  # the left part is the client's invention
        (PROXY, "192.0.2.1, 10.0.0.1", "192.0.2.1"),  # two trusted hops
        (PROXY, "2001:db8::1", "2001:db8::1"),
        (PROXY, "not-an-address", PROXY),  # unreadable: shared with the proxy, never escapes
        (PROXY, "192.0.2.1, garbage", PROXY),
        ("", "192.0.2.1", None),
    ],
)
def test_client_address(remote, forwarded, expected):
    request = RequestFactory().post("/login/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


@pytest.mark.parametrize("name", ["x" * 256, "y" * 5000, "a\x00b"])
def test_any_username_is_answered_and_counted_without_an_error(client, people, name):
    """Django's sign-in form leaves the username's length to the browser: 5000 characters reach
    the limits, whose column holds 255 (PostgreSQL refuses more). A NUL is refused by the form
    before any password is checked, so there is nothing to count."""
    page = sign_in(client, name, "guess", ATTACKER)
    assert page.status_code == 200 and WRONG in page.content.decode() or "\x00" in name
    counted = list(AccessAttempt.objects.values_list("username", flat=True))
    assert counted == ([] if "\x00" in name else [name[:255]])
