"""Share links in Debian's chromium: a member makes one on the sound's page, a visitor with no
session opens it in a fresh browser and plays the sound, the member revokes it, and the same
link then answers 410 and shows nothing; a collection shared from its page, played and
downloaded as a zip by a visitor.

With STUDIO_SCREENSHOTS=<folder> set, the share panels and the shared pages are saved at
desktop width and at 375 px.
"""

from __future__ import annotations

import zipfile

import pytest
from django.urls import reverse

from jobs import keepers
from sharing import links
from sharing.models import ShareLink
from tests.browser_helpers import PHONE, shot, sign_in
from tests.sounds_helpers import collection

from .test_ui_waveform import finished_job

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_page_errors"),
]

PROMPT = "a secret jingle for the spring campaign"


def visit(browser, live_server, url: str, viewport=None):
    """A fresh context: no cookie, no session, as someone the link was sent to."""
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    return context, page, page.goto(url)


def test_a_member_shares_a_sound_a_visitor_plays_it_and_a_revoked_link_is_gone(
    page, browser, live_server, member, wallet
):
    job = finished_job(member, wallet, prompt=PROMPT)
    sign_in(page, "member", "member-pass-123")
    page.goto(job.get_absolute_url())
    panel = page.locator("#share-panel")
    panel.get_by_label("Title").fill("Spring jingle, take 2")
    panel.get_by_label("Lasts (days)").fill("3")
    panel.get_by_role("button", name="Create link").click()
    link_box = panel.get_by_label("Link for Spring jingle, take 2")
    url = link_box.input_value()
    link = ShareLink.objects.get()
    assert url == live_server.url + reverse("sharing:shared", args=[links.token(link)])
    assert (link.title, link.show_prompt, link.created_by) == (
        "Spring jingle, take 2",
        False,
        member,
    )
    page.locator("#share-panel").scroll_into_view_if_needed()
    shot(page, "share-panel")
    page.set_viewport_size(PHONE)
    shot(page, "share-panel-375")

    context, visitor, response = visit(browser, live_server, url)
    assert response.status == 200
    assert visitor.get_by_role("heading", name="Spring jingle, take 2").is_visible()
    assert PROMPT not in visitor.content() and "$" not in visitor.inner_text("main")
    assert visitor.locator("nav").count() == 0  # nobody is signed in
    visitor.locator("#player").evaluate("audio => audio.play()")
    visitor.wait_for_function("() => document.querySelector('#player').currentTime > 0.2")
    assert visitor.locator('svg.waveform[data-player="player"]').is_visible()
    shot(visitor, "shared-sound")
    visitor.set_viewport_size(PHONE)
    shot(visitor, "shared-sound-375")
    context.close()

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Revoke").click()
    page.get_by_label("Link for Spring jingle, take 2").wait_for(state="detached")
    link.refresh_from_db()
    assert link.revoked_at is not None and link.revoked_by == member

    context, visitor, response = visit(browser, live_server, url)
    assert response.status == 410
    assert visitor.get_by_role("heading", name="This link no longer works").is_visible()
    assert visitor.locator("audio").count() == 0 and "Spring jingle" not in visitor.content()
    shot(visitor, "shared-sound-revoked")
    context.close()


def test_a_collection_is_shared_and_a_visitor_plays_its_sounds_and_downloads_the_zip(
    page, browser, live_server, member, wallet
):
    rain = finished_job(member, wallet, prompt=PROMPT)
    drone = finished_job(member, wallet, prompt="a low drone for the cellar")
    for job in (rain, drone):
        keepers.keep(job, member)
    level = collection(member, "Cellar level", sounds=[rain, drone])
    sign_in(page, "member", "member-pass-123")
    page.goto(level.get_absolute_url())
    panel = page.locator("#share-panel")
    panel.get_by_label("Lasts (days)").fill("14")
    panel.get_by_role("button", name="Create link").click()
    url = panel.get_by_label("Link for Cellar level").input_value()
    shot(page, "share-collection-panel")

    context, visitor, response = visit(browser, live_server, url)
    assert response.status == 200
    assert visitor.get_by_role("heading", name="Cellar level").is_visible()
    assert visitor.locator("audio").count() == 2 and PROMPT not in visitor.content()
    visitor.locator(f"#player-{drone.pk}").evaluate("audio => audio.play()")
    visitor.wait_for_function(
        f"() => document.querySelector('#player-{drone.pk}').currentTime > 0.2"
    )
    with visitor.expect_download() as download:
        visitor.get_by_role("link", name="Download all (zip)").click()
    names = zipfile.ZipFile(download.value.path()).namelist()
    assert sorted(names) == sorted(f"cellar-level-{job.pk}.wav" for job in (rain, drone))
    shot(visitor, "shared-collection")
    visitor.set_viewport_size(PHONE)
    shot(visitor, "shared-collection-375")
    context.close()
