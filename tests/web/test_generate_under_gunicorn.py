"""Generate's live parts (model switch, quick insert, variables, quote) under gunicorn, as in
production: a 5,000-character text to speak gets its price and keeps its place in the form, and
no prompt reaches the access log.

They POST the form. As GETs, the text rode in the URL: gunicorn refuses a request line over
4 KB (the price stayed stale, with no word why) and its access log kept every prompt typed.
"""

from __future__ import annotations

import os

import httpx
import pytest

from tests.reliability_helpers import (
    CSRF_TOKEN,
    WITH_PROCESSES,
    WebServer,
    database_url,
    free_port,
    wait_until,
)

pytestmark = WITH_PROCESSES

# 5,000 characters, the most ElevenLabs v4 speaks; accents make its URL form longer still.
TEXT = ("Über die Brücke ging sie, langsam. " * 150)[:5000]


@pytest.fixture
def web(venice, wallet, member, tmp_path):
    port, log = free_port(), tmp_path / "access.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "VENICE_API_BASE": venice.api_url,
        "CHAIN_RPC_URL": venice.rpc_url,
    }
    server = WebServer(
        port, env, tmp_path / "gunicorn.log", "--access-logfile", str(log), workers=1
    )
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            page = client.get("/login/")
            client.post(
                "/login/",
                data={
                    "username": "member",
                    "password": "member-pass-123",
                    "csrfmiddlewaretoken": CSRF_TOKEN.search(page.text).group(1),
                },
            )
            token = CSRF_TOKEN.search(client.get("/").text).group(1)
            # As htmx sends them: the token from <body hx-headers>, the form in the body.
            client.headers.update({"X-CSRFToken": token, "HX-Request": "true"})
            yield client, log
    finally:
        server.stop()


def test_a_long_text_gets_its_price_and_stays_out_of_the_access_log(web):
    client, log = web
    form = {"model": "elevenlabs-tts-v4", "prompt": TEXT, "takes": "1"}

    quote = client.post("/generate/quote/", data=form)
    assert quote.status_code == 200 and "$0.90" in quote.text  # $0.18 per 1,000 characters

    switched = client.post("/generate/form/", data=form, headers={"HX-Target": "generate-form"})
    assert switched.status_code == 200 and TEXT[:60] in switched.text
    assert switched.headers["HX-Replace-Url"] == "/?model=elevenlabs-tts-v4"

    for path in ("/generate/variables/", "/library/quick/"):
        assert client.post(path, data=form).status_code == 200, path

    wait_until(lambda: "/library/quick/" in log.read_text(), 5, what="the access log")
    logged = log.read_text()
    assert logged.count('"POST /generate/') == 3
    assert "langsam" not in logged and "Br%C3%BCcke" not in logged

    # What a GET of the same form meets: gunicorn's 4 KB request line.
    assert client.get("/generate/quote/", params=form).status_code == 414
