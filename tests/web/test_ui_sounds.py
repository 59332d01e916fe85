"""The sound library's pages: the library's search and pages, collections, their zip, and the
panel on a sound's page; and what another member's private collection answers (404 to all)."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.utils import timezone

from jobs.delivery import audio_filename
from jobs.models import Job
from sounds.models import Collection, CollectionSound, SoundTag
from tests.sounds_helpers import collection, kept_sound, tag

from .ui_helpers import give_audio, make_job, make_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="x")


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def shelf(member, bob):
    """Kept sounds of two members, one discarded, one not kept, one of bob's private."""
    wallet = make_wallet()
    rain = kept_sound(member, wallet, prompt="rain on a tin roof", model_id="sfx-a", seconds=4)
    steps = kept_sound(bob, wallet, prompt="footsteps on gravel", model_id="sfx-a", seconds=30)
    song = kept_sound(bob, wallet, prompt="a rainy synthwave song", model_id="music-b", seconds=95)
    hidden = kept_sound(bob, wallet, prompt="bob's private sketch", private=True)
    thrown = kept_sound(bob, wallet, prompt="thrown away take")
    Job.objects.filter(pk=thrown.pk).update(discarded_at=timezone.now(), kept_at=None)
    loose = give_audio(make_job(bob, wallet, prompt="never kept take"))
    tag(steps, "foley")
    tag(rain, "foley")
    return {
        "wallet": wallet,
        "rain": rain,
        "steps": steps,
        "song": song,
        "hidden": hidden,
        "thrown": thrown,
        "loose": loose,
    }


def shown(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_the_library_lists_the_kept_sounds_the_member_can_see_with_players(signed_in, shelf):
    html = shown(signed_in.get("/sounds/"))
    for name in ("rain", "steps", "song"):
        job = shelf[name]
        assert job.prompt in html
        assert f'src="/jobs/{job.pk}/audio/"' in html
        assert f'href="/jobs/{job.pk}/#share-panel">Share' in html
    for name in ("hidden", "thrown", "loose"):
        assert shelf[name].prompt not in html
    assert html.index("a rainy synthwave song") < html.index("rain on a tin roof")  # newest first
    assert 'aria-current="page">Sounds' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=rain", {"rain", "song"}),
        ("model=sfx-a", {"rain", "steps"}),
        ("member=bob", {"steps", "song"}),
        ("tag=foley", {"rain", "steps"}),
        ("length=short", {"rain"}),
        ("length=medium", {"steps"}),
        ("length=long", {"song"}),
        ("length=longer", set()),
        ("q=rain&model=music-b", {"song"}),
        ("tag=foley&member=member&length=short", {"rain"}),
        ("tag=foley&model=music-b", set()),
    ],
)
def test_each_search_filter_works_and_they_combine(signed_in, shelf, query, expected):
    html = shown(signed_in.get(f"/sounds/?{query}"))
    found = {name for name in ("rain", "steps", "song") if shelf[name].prompt in html}
    assert found == expected
    if not expected:
        assert "No kept sound matches" in html


def test_search_by_collection_and_an_unknown_choice_is_said_not_a_500(signed_in, shelf, member):
    level = collection(member, "Level 3", sounds=[shelf["steps"]])
    html = shown(signed_in.get(f"/sounds/?collection={level.pk}"))
    assert shelf["steps"].prompt in html and shelf["rain"].prompt not in html
    html = shown(signed_in.get("/sounds/?model=no-such-model&length=forever&q=rain"))
    assert "Select a valid choice" in html
    assert shelf["rain"].prompt in html and shelf["steps"].prompt not in html  # q still applies


def test_the_library_pages_and_its_pager_keeps_the_filters(signed_in, member):
    wallet = make_wallet()
    for n in range(23):
        kept_sound(member, wallet, prompt=f"numbered sound {n:02}", model_id="sfx-a")
    kept_sound(member, wallet, prompt="other model", model_id="music-b")
    first = shown(signed_in.get("/sounds/?model=sfx-a"))
    assert "numbered sound 22" in first and "numbered sound 03" in first
    assert "numbered sound 02" not in first and "other model" not in first
    assert "Page 1 of 2" in first and 'href="?model=sfx-a&amp;page=2"' in first
    second = shown(signed_in.get("/sounds/?model=sfx-a&page=2"))
    assert "numbered sound 02" in second and "numbered sound 00" in second
    assert "numbered sound 03" not in second


def test_a_member_makes_a_collection_and_a_nameless_one_is_refused(signed_in, member):
    response = signed_in.post("/sounds/collections/", {"name": "  ", "description": ""})
    assert response.status_code == 400
    assert "Give the collection a name" in response.content.decode()
    assert not Collection.objects.exists()
    response = signed_in.post(
        "/sounds/collections/", {"name": "Episode 1", "description": "pilot", "private": "on"}
    )
    made = Collection.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sounds/collections/{made.pk}/"
    assert (made.name, made.private, made.owner) == ("Episode 1", True, member)
    assert "Episode 1" in shown(signed_in.get("/sounds/collections/"))


def test_another_members_private_collection_is_404_to_every_verb(signed_in, shelf, bob):
    private = collection(bob, "Bob's secret set", private=True, sounds=[shelf["steps"]])
    pk, rain = private.pk, shelf["rain"].pk
    for url in (
        f"/sounds/collections/{pk}/",
        f"/sounds/collections/{pk}/edit/",
        f"/sounds/collections/{pk}/download.zip",
    ):
        assert signed_in.get(url).status_code == 404, url
    for url, data in (
        (f"/sounds/collections/{pk}/edit/", {"name": "mine now"}),
        (f"/sounds/collections/{pk}/delete/", {}),
        (f"/sounds/jobs/{shelf['steps'].pk}/take-out/", {"collection": pk}),
    ):
        assert signed_in.post(url, data).status_code == 404, url
    response = signed_in.post(
        f"/sounds/jobs/{rain}/add/", {"collection": pk}, HTTP_HX_REQUEST="true"
    )
    assert "Pick one of your collections" in shown(response)
    assert list(private.entries.values_list("job_id", flat=True)) == [shelf["steps"].pk]
    assert Collection.objects.get(pk=pk).name == "Bob's secret set"
    for url in ("/sounds/collections/", "/sounds/", f"/sounds/jobs/{rain}/"):
        assert "Bob's secret set" not in shown(signed_in.get(url)), url


def test_a_team_collection_is_open_to_add_but_only_its_owner_edits_or_deletes(
    signed_in, shelf, bob
):
    shared = collection(bob, "Episode 1", sounds=[shelf["steps"]])
    html = shown(signed_in.get(f"/sounds/collections/{shared.pk}/"))
    assert shelf["steps"].prompt in html and "Edit</a>" not in html
    assert signed_in.get(f"/sounds/collections/{shared.pk}/edit/").status_code == 403
    assert signed_in.post(f"/sounds/collections/{shared.pk}/delete/").status_code == 403
    assert (
        signed_in.post(f"/sounds/collections/{shared.pk}/edit/", {"name": "x"}).status_code == 403
    )
    response = signed_in.post(
        f"/sounds/jobs/{shelf['rain'].pk}/add/",
        {"collection": shared.pk, "next": "/sounds/?q=rain"},
    )
    assert response.status_code == 302 and response["Location"] == "/sounds/?q=rain"
    assert set(shared.entries.values_list("job_id", flat=True)) == {
        shelf["steps"].pk,
        shelf["rain"].pk,
    }
    assert Collection.objects.get(pk=shared.pk).name == "Episode 1"


def test_the_owner_edits_and_deletes_their_collection_and_the_sounds_stay(signed_in, member, shelf):
    mine = collection(member, "Level 3", sounds=[shelf["rain"]])
    response = signed_in.post(
        f"/sounds/collections/{mine.pk}/edit/", {"name": "Level 4", "description": "caves"}
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.name, mine.description, mine.private) == ("Level 4", "caves", False)
    assert signed_in.post(f"/sounds/collections/{mine.pk}/delete/").status_code == 302
    assert not Collection.objects.filter(pk=mine.pk).exists()
    assert not CollectionSound.objects.exists()
    assert Job.objects.filter(pk=shelf["rain"].pk, kept_at__isnull=False).exists()


def test_a_discarded_take_is_absent_from_the_collection_and_its_zip(signed_in, shelf, bob):
    shared = collection(bob, "Episode 1", sounds=[shelf["steps"], shelf["song"], shelf["thrown"]])
    html = shown(signed_in.get(f"/sounds/collections/{shared.pk}/"))
    assert shelf["thrown"].prompt not in html and shelf["song"].prompt in html
    response = signed_in.get(f"/sounds/collections/{shared.pk}/download.zip")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="episode-1.zip"'
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == sorted(
            audio_filename(shelf[name]) for name in ("steps", "song")
        )
        with shelf["song"].audio.open("rb") as original:
            assert archive.read(audio_filename(shelf["song"])) == original.read()


def test_the_panel_on_a_sounds_page_adds_takes_out_and_tags(signed_in, member, shelf, bob):
    rain = shelf["rain"]
    level = collection(member, "Level 3")
    shared = collection(bob, "Episode 1")
    page = shown(signed_in.get(rain.get_absolute_url()))
    assert f'hx-get="/sounds/jobs/{rain.pk}/" hx-trigger="load"' in page
    panel = shown(signed_in.get(f"/sounds/jobs/{rain.pk}/"))
    assert "In no collection yet" in panel and "Level 3" in panel and "Episode 1" in panel
    hx = {"HTTP_HX_REQUEST": "true"}
    panel = shown(signed_in.post(f"/sounds/jobs/{rain.pk}/add/", {"collection": level.pk}, **hx))
    assert "Added to “Level 3”" in panel
    panel = shown(signed_in.post(f"/sounds/jobs/{rain.pk}/add/", {"collection": shared.pk}, **hx))
    assert set(CollectionSound.objects.values_list("collection_id", flat=True)) == {
        level.pk,
        shared.pk,
    }
    panel = shown(
        signed_in.post(f"/sounds/jobs/{rain.pk}/take-out/", {"collection": level.pk}, **hx)
    )
    assert "Taken out of “Level 3”" in panel
    assert list(CollectionSound.objects.values_list("collection_id", flat=True)) == [shared.pk]
    panel = shown(signed_in.post(f"/sounds/jobs/{rain.pk}/tag/", {"tags": "Drips, night"}, **hx))
    assert "#drips" in panel and "#night" in panel
    panel = shown(signed_in.post(f"/sounds/jobs/{rain.pk}/tag/", {"tags": "%%%"}, **hx))
    assert "a word or two" in panel
    shown(signed_in.post(f"/sounds/jobs/{rain.pk}/untag/", {"tag": "night"}, **hx))
    assert set(SoundTag.objects.filter(job=rain).values_list("tag", flat=True)) == {
        "foley",
        "drips",
    }


def test_the_panel_of_a_take_not_kept_says_to_keep_it_and_adds_nothing(signed_in, member):
    take = give_audio(make_job(member, make_wallet()))
    level = collection(member, "Level 3")
    assert "Keep this take" in shown(signed_in.get(f"/sounds/jobs/{take.pk}/"))
    panel = shown(
        signed_in.post(
            f"/sounds/jobs/{take.pk}/add/", {"collection": level.pk}, HTTP_HX_REQUEST="true"
        )
    )
    assert "Only a kept sound" in panel
    assert not level.entries.exists()


def test_a_mangled_collection_number_is_404_not_a_500(signed_in, shelf):
    for value in ("abc", "", "1e3", "-1"):
        response = signed_in.post(
            f"/sounds/jobs/{shelf['rain'].pk}/take-out/", {"collection": value}
        )
        assert response.status_code == 404, value
    response = signed_in.post(
        f"/sounds/jobs/{shelf['rain'].pk}/add/", {"collection": "abc"}, HTTP_HX_REQUEST="true"
    )
    assert "Pick one of your collections" in shown(response)


def test_another_members_private_take_has_no_panel(signed_in, shelf):
    hidden = shelf["hidden"].pk
    assert signed_in.get(f"/sounds/jobs/{hidden}/").status_code == 404
    assert signed_in.post(f"/sounds/jobs/{hidden}/tag/", {"tags": "mine"}).status_code == 404
    assert not SoundTag.objects.filter(job_id=hidden).exists()


def test_the_library_page_costs_the_same_queries_for_a_page_of_sounds(
    signed_in, member, bob, django_assert_max_num_queries
):
    wallet = make_wallet()
    level = collection(member, "Level 3")
    for n in range(20):
        sound = kept_sound(bob if n % 2 else member, wallet, prompt=f"sound {n}")
        tag(sound, "foley", f"n{n}")
        CollectionSound.objects.create(collection=level, job=sound, added_by=member)
    with django_assert_max_num_queries(12):
        html = shown(signed_in.get("/sounds/"))
    assert html.count("#foley") == 20 and html.count("Level 3</a>") >= 20


def test_a_long_collection_pages_and_its_zip_holds_every_sound(signed_in, member):
    wallet = make_wallet()
    sounds = [kept_sound(member, wallet, prompt=f"step {n:02}") for n in range(52)]
    big = collection(member, "Every step", sounds=sounds)
    first = shown(signed_in.get(f"/sounds/collections/{big.pk}/"))
    assert "52 sounds" in first and "Page 1 of 2" in first
    assert first.count('<li id="sound-') == 50
    second = shown(signed_in.get(f"/sounds/collections/{big.pk}/?page=2"))
    assert second.count('<li id="sound-') == 2
    response = signed_in.get(f"/sounds/collections/{big.pk}/download.zip")
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert len(archive.namelist()) == 52
