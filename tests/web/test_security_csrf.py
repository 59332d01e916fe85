"""CSRF on every state-changing request, no state change on a GET, production's cookies and
headers, and a login throttle and sign-out that hold across web processes.

(`manage.py check --deploy` with production settings is tests/web/test_deploy_settings.py's.)
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess

import httpx
import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.reliability_helpers import (
    CSRF_TOKEN,
    ROOT,
    answers,
    database_url,
    free_port,
    gunicorn_command,
    manage,
    record,
    wait_until,
)

from .ui_helpers import give_audio, make_job, make_prompt, make_wallet


def all_routes() -> list[tuple[str, str]]:
    """Every URL of the site, parameters filled in (with 1: CSRF is checked before the view
    looks anything up)."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.name or ""

    routes = []
    for route, name in walk(get_resolver().url_patterns):
        if route.startswith("^") or "<path:url>" in route:
            continue
        url = "/" + re.sub(r"<path:object_id>|<int:[^>]+>|<path:[^>]+>", "1", route)
        url = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000001", url)
        routes.append((re.sub(r"<[^>]+>", "wallets", url), name))
    return routes


@pytest.fixture
def owned_records(django_user_model, admin_user, venice):
    owner = django_user_model.objects.create_user("owner", password="owner-pass-123")
    wallet = make_wallet()
    job = give_audio(make_job(owner, wallet))
    make_job(owner, wallet, state="pending")
    make_prompt(owner)
    return {"owner": owner, "wallet": wallet, "job": job}


def fingerprint() -> dict:
    """Every row of Studio's own tables (and the users, but their last sign-in)."""
    state = {}
    for label in ("studio", "jobs", "wallets", "alerts", "sounds", "django_q"):
        for model in apps.get_app_config(label).get_models():
            if model._meta.proxy or model._meta.model_name in ("success", "failure", "stat"):
                continue
            state[model._meta.label] = list(model.objects.order_by("pk").values())
    users = apps.get_model("auth", "User").objects.order_by("pk").values()
    state["users"] = [{k: v for k, v in row.items() if k != "last_login"} for row in users]
    return state


@pytest.mark.django_db
def test_every_post_without_the_csrf_token_is_refused_htmx_or_not(owned_records, admin_user):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)  # staff: a permission check cannot hide a missing CSRF check
    strict.get("/")
    before = fingerprint()
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "generate-form"}
    routes = all_routes()
    for url, name in routes:
        for headers in ({}, htmx):
            response = strict.post(url, {"amount_usd": "10", "note": "x"}, **headers)
            assert response.status_code == 403, (name, url, headers, response.status_code)
            assert b"CSRF" in response.content, (name, url)
    assert fingerprint() == before
    assert len(routes) > 70
    record(
        "CSRF on every state-changing request",
        "every URL of the site POSTed by staff without the token, plain and as htmx: 403, "
        "nothing changed; the token htmx sends (X-CSRFToken) accepted",
        urls=len(routes),
        posts=2 * len(routes),
    )


@pytest.mark.django_db
def test_pages_give_htmx_the_token_and_a_request_carrying_it_passes(owned_records, admin_user):
    """htmx sends the token in the X-CSRFToken header from <body hx-headers>: it must be there
    (production makes the cookie HttpOnly, so no script can read it) and it must be accepted."""
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    page = strict.get("/jobs/").content.decode()
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", page).group(1)
    assert len(token) >= 32
    response = strict.post("/logout/", HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
    assert response.status_code == 302


@pytest.mark.django_db
def test_no_get_changes_anything(staff_client, client, owned_records, admin_user, venice):
    """A state change behind a GET would need no CSRF token: none changes a row, on any URL."""
    client.get("/")
    client.get("/wallet/")  # the month's budgets are made on the first page, once
    before = fingerprint()
    routes = all_routes()
    for url, name in routes:
        response = client.get(url)
        healthz = name == "healthz"  # 503 here: no worker runs in this test
        assert response.status_code < 500 or healthz, (name, url, response.status_code)
        assert fingerprint() == before, (name, url)
    record(
        "No state change behind a GET",
        "every URL of the site fetched by staff: no row of Studio's tables changed",
        urls=len(routes),
    )


# --- production ---------------------------------------------------------------------------------

HOST = "studio.example.com"


def production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "studio.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "STUDIO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": HOST,
        **extra,
    }


class Gunicorn:
    def __init__(self, env: dict, log, workers: int = 2):
        self.port = free_port()
        self.process = subprocess.Popen(
            gunicorn_command(self.port, workers),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        try:
            wait_until(answers(self.base + "/login/", Host=HOST), 30, step=0.1, what="gunicorn")
        except AssertionError:
            self.close()  # the test never gets the server to close it
            raise

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_production_serves_https_only_with_secure_httponly_cookies(member, tmp_path):
    env = production_env(DATABASE_URL=database_url(), CACHE_URL=f"filecache://{tmp_path / 'cache'}")
    with open(tmp_path / "gunicorn.log", "w") as log:
        server = Gunicorn(env, log)
    try:
        plain = httpx.get(server.base + "/jobs/", headers={"Host": HOST})
        assert plain.status_code == 301
        assert plain.headers["location"] == f"https://{HOST}/jobs/"

        # Signing in over HTTPS (behind the TLS proxy). The CSRF pair is made up here, as a
        # browser would hold it, so that no page needs the collected static files.
        csrf = secrets.token_hex(16)
        answer = httpx.post(
            server.base + "/login/",
            data={"username": "member", "password": "member-pass-123", "csrfmiddlewaretoken": csrf},
            headers={
                "Host": HOST,
                "X-Forwarded-Proto": "https",
                "Origin": f"https://{HOST}",
                "Referer": f"https://{HOST}/login/",
                "Cookie": f"csrftoken={csrf}",
            },
        )
        assert answer.status_code == 302, (answer.status_code, answer.text[:500])
        cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
        for name in ("sessionid", "csrftoken"):
            assert "; secure" in cookies[name] and "; httponly" in cookies[name], cookies[name]
            assert "samesite=lax" in cookies[name] or "samesite=strict" in cookies[name]
        headers = answer.headers
        assert headers["strict-transport-security"].startswith("max-age=31536000")
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"

        # The same sign-in without the token is refused.
        refused = httpx.post(
            server.base + "/login/",
            data={"username": "member", "password": "member-pass-123"},
            headers={"Host": HOST, "X-Forwarded-Proto": "https", "Origin": f"https://{HOST}"},
        )
        assert refused.status_code == 403
    finally:
        server.close()
    record(
        "Production cookies and HTTPS",
        "gunicorn with studio.production: plain HTTP redirected to HTTPS; session and CSRF "
        "cookies Secure, HttpOnly, SameSite; HSTS, X-Frame-Options DENY, nosniff; a sign-in "
        "without the CSRF token refused",
        cookies=sorted(cookies),
    )


# --- several web processes ----------------------------------------------------------------------


def test_production_refuses_a_cache_each_web_process_keeps_to_itself():
    env = production_env()
    env.pop("CACHE_URL", None)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0 and "CACHE_URL" in result.stdout + result.stderr


def _sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login/")
    return client.post(
        "/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": CSRF_TOKEN.search(page.text).group(1),
        },
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_with_a_shared_cache_throttle_and_sign_out_hold_across_web_processes(
    django_user_model, tmp_path
):
    """What production needs (see the test above): one cache for every web process. Four
    gunicorn workers, one file cache: five wrong passwords lock the account on all of them, and
    a signed-out session opens nothing anywhere."""
    django_user_model.objects.create_user("member", password="member-pass-123")
    django_user_model.objects.create_user("other", password="other-pass-123")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
    }
    with open(tmp_path / "gunicorn.log", "w") as log:
        server = Gunicorn(env, log, workers=4)
    try:
        answers = []
        for _ in range(20):
            with httpx.Client(base_url=server.base) as client:
                answer = _sign_in(client, "member", "wrong password")
                answers.append("locked" if "Too many failed sign-ins" in answer.text else "wrong")
        # The fifth wrong password is checked, counted, and answered with the lock at once.
        assert answers == ["wrong"] * 4 + ["locked"] * 16, answers
        checked = answers.index("locked") + 1

        with httpx.Client(base_url=server.base) as client:
            assert _sign_in(client, "other", "other-pass-123").status_code == 302
            cookie = client.cookies["sessionid"]
            for _ in range(20):  # every worker has the session cached by now
                assert client.get("/jobs/").status_code == 200
            page = client.get("/jobs/")
            client.post(
                "/logout/", data={"csrfmiddlewaretoken": CSRF_TOKEN.search(page.text).group(1)}
            )
        opened = sum(
            httpx.get(server.base + "/jobs/", cookies={"sessionid": cookie}).status_code == 200
            for _ in range(20)
        )
        assert opened == 0, f"the signed-out session still opened {opened} of 20 pages"
    finally:
        server.close()
    record(
        "Login throttle and sign-out across 4 web processes (shared cache)",
        "5 wrong passwords lock the account on every process (20 tries: password checked 5 "
        "times); a signed-out session cookie opens nothing on any process",
        password_checks=checked,
        pages_opened_after_sign_out=opened,
    )
