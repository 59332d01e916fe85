"""Click through Studio in Debian's chromium, as a member would, with a real worker and sandbox.

With STUDIO_SCREENSHOTS=<folder> set (`make screenshots`), each main page is saved there as a
full-page PNG at desktop width, and a few at 375 px, for the README.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs.models import Job
from studio.models import Prompt
from tests.browser_helpers import PHONE, at, shot, switched_to
from wallets import budgets, payments
from wallets.models import Budget

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_page_errors"),
]

FINISH_MS = 30_000


def sign_in(page, screenshot: bool = False) -> None:
    page.goto("/login/")
    assert page.get_by_text("Sandbox").first.is_visible()
    page.get_by_label("Username").fill("member")
    page.get_by_label("Password").fill("member-pass-123")
    if screenshot:
        shot(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(at("/"))
    assert page.get_by_role("heading", name="Generate").is_visible()


def choose_model(page, model_id: str) -> None:
    """Pick a model; htmx swaps the form for that model's, keeping focus on the select."""
    with page.expect_response(switched_to(model_id)):
        page.get_by_label("Model").select_option(model_id)
    page.wait_for_function("id => document.querySelector('#id_model').value === id", arg=model_id)


def wait_for_price(page, text: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#price') || {}).textContent === t",
        arg=text,
    )


def test_generate_two_models_watch_them_finish_play_seek_and_reuse_from_the_library(
    page, member, wallet, worker, django_user_model
):
    _seed_team(django_user_model, wallet)
    sign_in(page, screenshot=True)

    # First model: sound effects, a duration range and a loop switch; the price follows.
    choose_model(page, "elevenlabs-sound-effects-v2")
    assert page.get_by_label("Make it loop seamlessly").is_visible()
    assert page.get_by_label("Lyrics").count() == 0
    page.get_by_label("Prompt").fill("a wooden door creaking open slowly")
    assert page.locator("#prompt-count").text_content() == "34"
    page.get_by_label("Length in seconds").fill("4")
    wait_for_price(page, "$0.024")
    page.get_by_label("Length in seconds").fill("3")
    wait_for_price(page, "$0.018")
    assert "left in your" in page.locator("#quote").text_content()
    shot(page, "generate")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    first = Job.objects.latest("pk")
    assert first.model_id == "elevenlabs-sound-effects-v2" and first.duration_seconds == 3

    # Watch it finish live: the page polls, swaps in the player, and never reloads.
    page.evaluate("window.__notReloaded = true")
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/jobs/live/" in r.url else None)
    page.locator(f"#job-{first.pk}-live audio").wait_for(timeout=FINISH_MS)
    assert page.evaluate("window.__notReloaded") is True
    assert page.get_by_role("status").filter(has_text="Ready").is_visible()
    page.locator("#timeline").get_by_text("Ready").first.wait_for()
    # Polling stopped by itself once nothing was running.
    count = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == count

    # Play and seek: the audio view answers Range requests, so the player can jump.
    audio = page.locator("#player")
    audio.evaluate(
        "a => { a.load(); return new Promise(r => a.addEventListener("
        "'loadedmetadata', r, {once: true})) }"
    )
    assert audio.evaluate("a => a.duration") == pytest.approx(3, abs=0.2)
    assert audio.evaluate("a => a.seekable.length && a.seekable.end(0)") > 2.5
    audio.evaluate("a => a.play()")
    audio.evaluate(
        "a => new Promise(r => { a.addEventListener('seeked', r, {once: true}); "
        "a.currentTime = 2.0; })"
    )
    assert audio.evaluate("a => a.currentTime") >= 1.9
    shot(page, "job-detail")
    download = page.get_by_role("link", name="Download")
    assert re.search(
        r"elevenlabs-sound-effects-v2-a-wooden-door-creaking-open-slowly-\d+\.mp3",
        _download_name(page, download),
    )

    # Second model: text to speech, with a voice list and a speed range instead of a length.
    page.goto("/")
    choose_model(page, "elevenlabs-tts-v4")
    assert page.get_by_label("Length in seconds").count() == 0
    page.get_by_role("combobox", name="Voice", exact=True).select_option("Bella")
    page.get_by_label("Speed").fill("1.1")
    page.get_by_label("Text to speak").fill("Welcome to the studio, everyone.")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    second = Job.objects.latest("pk")
    assert (second.model_id, second.voice, second.speed) == (
        "elevenlabs-tts-v4",
        "Bella",
        Decimal("1.10"),
    )

    # The jobs page: newest first, and the running row turns into a player without a reload.
    page.goto("/jobs/")
    row = page.locator(f"#job-{second.pk}")
    row.locator("audio").wait_for(timeout=FINISH_MS)
    assert "Ready" in row.locator(".badge").text_content()

    # Save to the library in one click, name it, and use it again from there.
    page.goto(f"/jobs/{second.pk}/")
    page.get_by_role("button", name="Save to library").click()
    page.wait_for_url(re.compile(r"/library/\d+/$"))
    page.get_by_label("Title").fill("Studio welcome")
    page.get_by_label("Tags").fill("voice, intro")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(at("/library/"))
    card = page.locator(".prompt", has_text="Studio welcome")
    assert "#intro" in card.text_content() and "never used" in card.text_content()
    page.get_by_label("Tag").select_option("intro")
    page.get_by_role("button", name="Search").click()
    assert page.locator(".prompt").count() == 1
    page.goto("/library/")
    shot(page, "library")
    card = page.locator(".prompt", has_text="Studio welcome")
    card.get_by_role("link", name="Use").click()
    page.wait_for_url(re.compile(r"/library/\d+/use/$"))
    assert page.get_by_label("Model").input_value() == "elevenlabs-tts-v4"
    assert page.get_by_role("combobox", name="Voice", exact=True).input_value() == "Bella"
    assert page.get_by_label("Text to speak").input_value() == "Welcome to the studio, everyone."
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    assert Prompt.objects.get(title="Studio welcome").times_used == 1
    assert Job.objects.latest("pk").voice == "Bella"
    page.goto("/jobs/?who=team")
    shot(page, "jobs")

    payments.refresh_usdc(wallet)
    page.goto("/wallet/")
    assert page.get_by_role("img", name=re.compile("QR code")).is_visible()
    assert page.get_by_text(wallet.address).is_visible()
    assert page.get_by_role("button", name="Top up now").count() == 0
    shot(page, "wallet")

    # The same pages at phone width.
    page.set_viewport_size(PHONE)
    for url, name in (
        ("/", "generate-375"),
        ("/jobs/?who=team", "jobs-375"),
        (f"/jobs/{first.pk}/", "job-detail-375"),
    ):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, name)


def _download_name(page, link) -> str:
    with page.expect_download() as info:
        link.click()
    return info.value.suggested_filename


def test_an_over_budget_job_is_refused_in_the_form(page, member, wallet):
    budget = budgets.member_budget(member.pk, budgets.month_of(timezone.now()))
    Budget.objects.filter(pk=budget.pk).update(limit_usd=Decimal("1.00"))
    sign_in(page)
    choose_model(page, "elevenlabs-music")
    page.get_by_label("Prompt").fill("a long orchestral build with choir")
    page.get_by_label("Length in seconds").fill("200")
    wait_for_price(page, "$2.00")
    assert page.get_by_text("Studio will refuse it").is_visible()
    page.get_by_role("button", name="Generate").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Nothing was created" in alert.text_content()
    assert "more than what is left of your budget" in alert.text_content()
    assert page.get_by_label("Prompt").input_value() == "a long orchestral build with choir"
    assert not Job.objects.exists()


def test_keyboard_only_sign_in_and_model_switch(page, member, wallet):
    page.goto("/login/")
    assert page.evaluate("document.activeElement.id") == "id_username"  # autofocus
    page.keyboard.type("member")
    page.keyboard.press("Tab")
    page.keyboard.type("member-pass-123")
    page.keyboard.press("Enter")
    page.wait_for_url(at("/"))
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    for _ in range(12):  # from the top of the page to the model picker
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "id_model":
            break
    assert page.evaluate("document.activeElement.id") == "id_model"
    with page.expect_response(switched_to()):
        page.keyboard.type("ACE")  # typeahead to ACE-Step: lyrics and fixed lengths
    page.get_by_label("Lyrics").wait_for()
    assert page.evaluate("document.activeElement.id") == "id_model"  # focus survives the swap
    assert page.get_by_label("Length").locator("option").count() == 4


def _seed_team(users, wallet) -> None:
    """A teammate's finished job and prompts, so the screenshots show a lived-in Studio."""
    from studio.models import Prompt as P

    other = users.objects.create_user("sam", password="sam-pass-123")
    month = budgets.month_of(timezone.now())
    Job.objects.create(
        user=other,
        wallet=wallet,
        model_id="minimax-music-v25",
        model_name="MiniMax Music 2.5",
        prompt="sea shanty with a big crew chorus",
        state=Job.State.FAILED,
        quoted_usd=Decimal("0.69"),
        budget_month=month,
        error_message="Venice refused this prompt under its content policy.",
        suggested_prompt="a cheerful sea shanty with a crew chorus",
    )
    for title, text, model, tags in (
        (
            "Rainy café",
            "lo-fi hip hop, soft rain, warm piano, vinyl crackle",
            "elevenlabs-music",
            "lofi, chill",
        ),
        (
            "Boss fight",
            "epic orchestral battle theme, pounding drums, brass stabs",
            "elevenlabs-music",
            "game, epic",
        ),
    ):
        prompt = P(
            title=title,
            text=text,
            model_id=model,
            author=other,
            settings={"duration_seconds": 60},
            times_used=2,
        )
        prompt.set_tags(tags)
        prompt.save()
