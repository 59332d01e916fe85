"""The sound library in Debian's chromium: a member makes a collection, adds two kept sounds
(one from the sound's page, one from the library), opens the collection, downloads its zip, and
searches the library by model and length.

With STUDIO_SCREENSHOTS=<folder> set, the library page and a collection page are saved at
desktop width and at 375 px.
"""

from __future__ import annotations

import zipfile

import pytest
from django.utils import timezone

from jobs.delivery import audio_filename
from sounds.models import Collection
from tests.browser_helpers import DESKTOP, PHONE, shot, sign_in
from tests.sounds_helpers import tag

from .test_ui_waveform import finished_job

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_page_errors"),
]


def kept(user, wallet, prompt: str, model_id: str, model_name: str, seconds: float):
    job = finished_job(user, wallet, prompt=prompt, model_id=model_id, model_name=model_name)
    job.audio_duration_s = seconds  # the length the library files it under
    job.kept_at, job.kept_by = timezone.now(), user
    job.save()
    return job


def test_a_member_collects_two_sounds_downloads_the_zip_and_searches_the_library(
    page, member, wallet, django_user_model, tmp_path
):
    bob = django_user_model.objects.create_user("bob", password="x")
    door = kept(member, wallet, "a heavy castle door creaking open", "sfx-v2", "Sound FX", 4)
    theme = kept(member, wallet, "a hopeful orchestral theme", "music-v1", "Music", 95)
    rain = kept(bob, wallet, "light rain on leaves at night", "sfx-v2", "Sound FX", 40)
    tag(door, "castle")
    tag(rain, "weather")
    sign_in(page, "member", "member-pass-123")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sounds").click()
    page.get_by_role("link", name="Collections →").click()
    page.get_by_label("Name").fill("Level 3: the castle")
    page.get_by_label("Description").fill("Sounds for the castle level.")
    page.get_by_role("button", name="Make the collection").click()
    page.get_by_role("heading", name="Level 3: the castle").wait_for()
    level = Collection.objects.get()
    assert (level.owner, level.private) == (member, False)
    assert page.get_by_text("No sounds in it yet").is_visible()

    # From the sound's page: the panel loads, the collection is picked, Add.
    page.goto(door.get_absolute_url())
    panel = page.locator("#sounds-panel")
    panel.get_by_label("Add to").select_option(label="Level 3: the castle")
    panel.get_by_role("button", name="Add").click()
    panel.get_by_text("Added to “Level 3: the castle”").wait_for()
    assert panel.get_by_role("link", name="Level 3: the castle").is_visible()
    assert panel.get_by_label("Add to").count() == 0  # in the only collection there is
    panel.get_by_label("Tags").fill("door, wood")
    panel.get_by_role("button", name="Tag", exact=True).click()
    panel.get_by_text("#wood").wait_for()
    panel.scroll_into_view_if_needed()
    shot(page, "sounds-panel")

    # From the library: bob's sound, with its own Add button.
    page.goto("/sounds/")
    card = page.locator(f"#sound-{rain.pk}")
    card.get_by_label(f"Collection for job {rain.pk}").select_option(label="Level 3: the castle")
    card.get_by_role("button", name="Add").click()
    page.get_by_text("Added to “Level 3: the castle”").wait_for()
    assert set(level.entries.values_list("job_id", flat=True)) == {door.pk, rain.pk}
    assert page.locator("#sounds > li").count() == 3
    assert page.locator(f"#sound-{door.pk}").get_by_role("button", name="Add").count() == 0
    assert page.locator("#sounds svg.waveform").count() == 3
    page.set_viewport_size(DESKTOP)
    shot(page, "sounds-library")
    page.set_viewport_size(PHONE)
    shot(page, "sounds-library-375")
    page.set_viewport_size(DESKTOP)

    # Taken out from the library and put back.
    card = page.locator(f"#sound-{rain.pk}")
    card.get_by_role("button", name=f"Take job {rain.pk} out of Level 3: the castle").click()
    page.get_by_text("Taken out of “Level 3: the castle”").wait_for()
    assert set(level.entries.values_list("job_id", flat=True)) == {door.pk}
    page.locator(f"#sound-{rain.pk}").get_by_role("button", name="Add").click()
    page.get_by_text("Added to “Level 3: the castle”").wait_for()

    # Open the collection from the sound's mark and download it.
    page.locator(f"#sound-{door.pk}").get_by_role("link", name="Level 3: the castle").click()
    page.get_by_role("heading", name="Level 3: the castle").wait_for()
    sounds = page.locator("#sounds > li")
    assert sounds.count() == 2
    assert page.locator(f'svg.waveform[data-player="player-{door.pk}"]').is_visible()
    assert theme.prompt not in page.inner_text("main")
    shot(page, "sounds-collection")
    page.set_viewport_size(PHONE)
    shot(page, "sounds-collection-375")
    page.set_viewport_size(DESKTOP)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all (zip)").click()
    assert download.value.suggested_filename == "level-3-the-castle.zip"
    saved = tmp_path / "level.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == sorted([audio_filename(door), audio_filename(rain)])
        with door.audio.open("rb") as original:
            assert archive.read(audio_filename(door)) == original.read()

    # Search the library by model, then by model and length.
    page.goto("/sounds/")
    page.get_by_label("Model").select_option("sfx-v2")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/sounds/?*model=sfx-v2*")
    assert page.locator("#sounds > li").count() == 2
    page.get_by_label("Length").select_option(label="Under 10 s")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**length=short*")
    assert page.locator("#sounds > li").count() == 1
    assert page.locator(f"#sound-{door.pk}").is_visible()
    assert page.get_by_role("status").filter(has_text="1 sound").is_visible()

    # A take not kept yet: its panel says so, and offers the collections once it is kept.
    take = finished_job(member, wallet, prompt="a torch flickering")
    page.goto(take.get_absolute_url())
    panel = page.locator("#sounds-panel")
    panel.get_by_text("Keep this take").wait_for()
    page.get_by_role("button", name="Keep").click()
    panel.get_by_label("Add to").wait_for()
    assert panel.get_by_text("In no collection yet").is_visible()
