"""Share links (issue 13, item 7): signed, expiring, revocable, rate-limited, audited; a shared page
shows the sound and its name, the prompt only if the sharer chose, never a price."""

from __future__ import annotations

import datetime

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from jobs import keepers
from jobs.models import Job
from sharing import links
from sharing.models import ShareLink
from tests.web.ui_helpers import give_audio, make_job, make_wallet
from wallets.models import AuditEntry

pytestmark = pytest.mark.django_db
SECRET_PROMPT = "the launch trailer for Project Nightjar"


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()  # the rate limit counts per address and minute, across tests otherwise
    yield
    cache.clear()


@pytest.fixture
def sound(member):
    return give_audio(make_job(member, make_wallet(), prompt=SECRET_PROMPT))


def url_of(link: ShareLink) -> str:
    return reverse("sharing:shared", args=[links.token(link)])


def test_a_link_plays_without_sign_in_and_shows_no_price_nor_the_prompt(client, member, sound):
    link = links.create(member, sound, days=7, title="Trailer cue")
    page = client.get(url_of(link))  # nobody signed in
    html = page.content.decode()
    assert page.status_code == 200 and '<h1 id="shared-title">Trailer cue</h1>' in html
    assert SECRET_PROMPT not in html and "$" not in html and "Nightjar" not in html
    audio = client.get(reverse("sharing:shared_audio", args=[links.token(link)]))
    assert audio.status_code == 200 and b"".join(audio.streaming_content) == sound.audio.read()
    assert "nightjar" not in audio["Content-Disposition"].lower()
    link.refresh_from_db()
    assert link.views == 1


def test_the_prompt_shows_only_when_the_sharer_chose_it(client, member, sound):
    link = links.create(member, sound, days=1, show_prompt=True)
    html = client.get(url_of(link)).content.decode()
    assert SECRET_PROMPT in html and link.title == f"ElevenLabs Music · {sound.created_at:%Y-%m-%d}"


def test_revoked_and_expired_links_answer_410_and_show_nothing(client, member, sound):
    revoked = links.create(member, sound, days=7, title="Revoked cue")
    assert links.revoke(member, revoked) and not links.revoke(member, revoked)
    expired = links.create(member, sound, days=1, title="Old cue")
    ShareLink.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    for link in (revoked, expired):
        for name in ("sharing:shared", "sharing:shared_audio"):
            response = client.get(reverse(name, args=[links.token(link)]))
            assert response.status_code == 410
            assert link.title not in response.content.decode()
            assert "no longer works" in response.content.decode()


def test_a_forged_or_edited_token_is_not_found(client, member, sound):
    link = links.create(member, sound, days=7)
    key, signature = links.token(link).split(":")
    other = links.create(member, sound, days=7)
    for token in (key, f"{other.key}:{signature}", f"{key}:{signature[:-1]}x", "nothing"):
        assert client.get(reverse("sharing:shared", args=[token])).status_code == 404


def test_a_sound_deleted_from_storage_is_gone(client, member, sound):
    link = links.create(member, sound, days=7)
    Job.objects.filter(pk=sound.pk).update(audio="")
    assert client.get(url_of(link)).status_code == 410


def test_a_discarded_take_stops_playing_and_cannot_be_shared(client, member, sound):
    link = links.create(member, sound, days=7)
    keepers.discard(sound, member)
    assert client.get(url_of(link)).status_code == 410
    with pytest.raises(links.ShareRefused):
        links.create(member, sound, days=7)
    keepers.restore(sound, member)
    assert client.get(url_of(link)).status_code == 200


@pytest.mark.parametrize("days", [0, 31, -1])
def test_a_link_lasts_one_to_thirty_days(member, sound, days):
    with pytest.raises(links.ShareRefused, match="1 to 30 days"):
        links.create(member, sound, days=days)
    assert not ShareLink.objects.exists()


def test_only_a_finished_sound_one_can_see_is_shared(member, other, sound):
    running = make_job(member, sound.wallet, state=Job.State.PROCESSING)
    private = give_audio(make_job(member, sound.wallet, private=True))
    for user, job in ((member, running), (other, private)):
        with pytest.raises(links.ShareRefused, match="finished sound you can see"):
            links.create(user, job, days=7)
    links.create(other, sound, days=7)  # the team's sound: any member may lend it


def test_only_the_maker_the_owner_or_an_admin_revokes(member, other, admin_user, sound):
    link = links.create(member, sound, days=7)
    with pytest.raises(links.ShareRefused):
        links.revoke(other, link)
    mine = links.create(other, sound, days=7)
    assert links.revoke(member, mine)  # the sound's owner
    assert links.revoke(admin_user, link)


def test_making_and_revoking_are_in_the_audit_log(member, sound):
    link = links.create(member, sound, days=3, title="Cue")
    links.revoke(member, link)
    made, revoked = AuditEntry.objects.order_by("at", "id")
    assert (made.action, made.actor, made.object_id) == ("share_create", member, str(link.pk))
    assert made.after["title"] == "Cue" and made.note == f"Job {sound.pk}, 3 days"
    assert revoked.action == "share_revoke" and revoked.after["revoked_at"]


def test_opening_links_is_rate_limited_per_address(client, member, sound, settings):
    settings.SHARE_RATE_PER_MINUTE = 3
    url = url_of(links.create(member, sound, days=7))
    assert [client.get(url).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get(url, REMOTE_ADDR="10.0.0.9").status_code == 200  # another address


# --- the panel on the job's page ----------------------------------------------------------------


def test_the_panel_makes_lists_and_revokes_links(client, member, sound):
    client.force_login(member)
    made = client.post(
        reverse("sharing:create", args=[sound.pk]), {"title": "Cue", "days": "14"}
    ).content.decode()
    link = ShareLink.objects.get()
    assert links.token(link) in made and "Link made" in made
    assert link.expires_at - timezone.now() > datetime.timedelta(days=13, hours=23)
    after = client.post(reverse("sharing:revoke", args=[link.pk])).content.decode()
    link.refresh_from_db()
    assert link.revoked_at and links.token(link) not in after


def test_the_panel_refuses_bad_input_and_writes_nothing(client, member, sound):
    client.force_login(member)
    for data in (
        {"days": "31"},
        {"days": "0"},
        {"days": "seven"},
        {"days": "3", "title": "x" * 121},
    ):
        response = client.post(reverse("sharing:create", args=[sound.pk]), data)
        assert response.status_code == 200 and "error-text" in response.content.decode()
    assert not ShareLink.objects.exists()


def test_another_members_private_sound_has_no_panel(client, member, other, sound):
    private = give_audio(make_job(member, sound.wallet, private=True))
    link = links.create(member, private, days=7)
    client.force_login(other)
    assert client.get(reverse("sharing:panel", args=[private.pk])).status_code == 404
    assert client.post(reverse("sharing:create", args=[private.pk]), {"days": 3}).status_code == 404
    assert client.post(reverse("sharing:revoke", args=[link.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None and ShareLink.objects.count() == 1
