"""A collection's share link (issue 13, item 7): it plays the collection's sounds its maker can
see, each on its own, and as one zip, without sign-in; never another member's private sound, a
discarded one or a prompt unless chosen; revoked, it is 410."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.cache import cache
from django.urls import reverse

from jobs import keepers
from sharing import links
from sharing.models import ShareLink
from tests.sounds_helpers import collection, kept_sound
from tests.web.ui_helpers import make_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def level(member, other):
    wallet = make_wallet()
    mine = kept_sound(member, wallet, prompt="rain on a tin roof")
    theirs = kept_sound(other, wallet, prompt="footsteps on gravel")
    hidden = kept_sound(other, wallet, prompt="their secret motif", private=True)
    return collection(member, "Level 3", sounds=[mine, theirs, hidden]), mine, theirs, hidden


def test_a_collection_link_plays_what_its_maker_can_see(client, member, level):
    shown, mine, theirs, hidden = level
    link = links.create(member, shown, days=7)
    token = links.token(link)
    html = client.get(reverse("sharing:shared", args=[token])).content.decode()
    assert '<h1 id="shared-title">Level 3</h1>' in html and "2 sounds" in html
    for job in (mine, theirs):
        assert reverse("sharing:shared_sound", args=[token, job.pk]) in html
        assert client.get(reverse("sharing:shared_sound", args=[token, job.pk])).status_code == 200
    assert reverse("sharing:shared_sound", args=[token, hidden.pk]) not in html
    assert client.get(reverse("sharing:shared_sound", args=[token, hidden.pk])).status_code == 404
    assert "rain on a tin roof" not in html and "footsteps" not in html and "$" not in html
    # The collection's link has no single audio; a sound's link has no zip.
    assert client.get(reverse("sharing:shared_audio", args=[token])).status_code == 404
    single = links.token(links.create(member, mine, days=1))
    assert client.get(reverse("sharing:shared_zip", args=[single])).status_code == 404


def test_its_zip_holds_the_sounds_named_after_the_link(client, member, level):
    shown, mine, theirs, _ = level
    token = links.token(links.create(member, shown, days=7, title="Level three"))
    response = client.get(reverse("sharing:shared_zip", args=[token]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert response["Content-Disposition"] == 'attachment; filename="level-three.zip"'
    names = sorted(archive.namelist())
    assert names == sorted([f"level-three-{mine.pk}.wav", f"level-three-{theirs.pk}.wav"])
    assert archive.read(f"level-three-{mine.pk}.wav") == mine.audio.open("rb").read()


def test_a_sound_discarded_later_stops_playing_through_it(client, member, level):
    shown, mine, _, _ = level
    token = links.token(links.create(member, shown, days=7))
    keepers.discard(mine, member)
    assert client.get(reverse("sharing:shared_sound", args=[token, mine.pk])).status_code == 404
    assert "1 sound" in client.get(reverse("sharing:shared", args=[token])).content.decode()


def test_a_revoked_collection_link_is_gone(client, member, level):
    shown = level[0]
    link = links.create(member, shown, days=7)
    links.revoke(member, link)
    token = links.token(link)
    for name, args in (
        ("sharing:shared", [token]),
        ("sharing:shared_zip", [token]),
        ("sharing:shared_sound", [token, level[1].pk]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 410


def test_another_members_private_collection_cannot_be_shared(client, member, other, level):
    private = collection(member, "My sketches", private=True, sounds=[level[1]])
    with pytest.raises(links.ShareRefused, match="collection you can open"):
        links.create(other, private, days=7)
    client.force_login(other)
    assert client.get(reverse("sharing:collection_panel", args=[private.pk])).status_code == 404
    create = reverse("sharing:collection_create", args=[private.pk])
    assert client.post(create, {"days": "7"}).status_code == 404
    assert not ShareLink.objects.exists()


def test_the_collections_panel_makes_and_revokes_its_links(client, member, other, level):
    shown = level[0]
    client.force_login(other)  # a team collection: any member may lend it
    made = client.post(reverse("sharing:collection_create", args=[shown.pk]), {"days": "3"})
    link = ShareLink.objects.get()
    assert link.collection == shown and link.title == "Level 3"
    assert links.token(link) in made.content.decode()
    client.force_login(member)  # the collection's owner may revoke it
    client.post(reverse("sharing:revoke", args=[link.pk]))
    link.refresh_from_db()
    assert link.revoked_by == member
