"""Keep, favourite, discard on the pages (issue 13, item 3): the htmx answers, and who may do
what: another member cannot keep or discard my take, nor play or download it once discarded;
a favourite is each member's own. And cost per keeper on /usage/, the quote and the admin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs import keepers
from jobs.models import Favourite, Job, Retention

from .ui_helpers import give_audio, make_job

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def take(member, wallet_row):
    return give_audio(make_job(member, wallet_row, prompt="Rain on a tin roof"))


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client, job, action, view="list", **extra):
    return client.post(
        reverse(f"jobs:{action}", args=[job.pk]), {"view": view, "who": "mine"}, **extra
    )


def test_keep_with_htmx_answers_the_updated_row(take, member):
    response = post(client_of(member), take, "keep", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li id="job-{take.pk}"')
    assert 'aria-pressed="true"' in html and reverse("jobs:unkeep", args=[take.pk]) in html
    take.refresh_from_db()
    assert take.kept_by == member


def test_on_the_detail_page_the_answer_is_the_live_section(take, member):
    response = post(client_of(member), take, "discard", view="detail", **HTMX)
    html = response.content.decode()
    assert f'<section id="job-{take.pk}-live" class="card live discarded"' in html
    assert "Restore" in html and "unless restored" in html


def test_without_htmx_each_action_redirects_to_the_job(take, member):
    response = post(client_of(member), take, "keep")
    assert response.status_code == 302 and response["Location"] == take.get_absolute_url()


def test_actions_are_post_only(take, member):
    client = client_of(member)
    for action in ("keep", "unkeep", "discard", "restore", "favourite"):
        assert client.get(reverse(f"jobs:{action}", args=[take.pk])).status_code == 405
    take.refresh_from_db()
    assert take.kept_at is None and take.discarded_at is None


def test_another_member_cannot_keep_or_discard_my_take(take, other):
    client = client_of(other)
    for action in ("keep", "discard"):
        assert post(client, take, action, **HTMX).status_code == 403
        response = post(client, take, action, follow=True)
        assert "Only the member who made this take" in response.content.decode()
    take.refresh_from_db()
    assert take.kept_at is None and take.discarded_at is None
    # Nor do they get the buttons.
    html = client.get(take.get_absolute_url()).content.decode()
    assert reverse("jobs:keep", args=[take.pk]) not in html
    assert reverse("jobs:discard", args=[take.pk]) not in html
    assert reverse("jobs:favourite", args=[take.pk]) in html


def test_another_members_private_take_cannot_be_favourited(member, other, wallet_row):
    private = make_job(member, wallet_row, private=True)
    assert post(client_of(other), private, "favourite", **HTMX).status_code == 404
    assert not Favourite.objects.exists()


def test_favourite_is_per_member(take, member, other):
    response = post(client_of(other), take, "favourite", **HTMX)
    assert 'aria-pressed="true"' in response.content.decode()
    assert Favourite.objects.filter(user=other, job=take).exists()
    mine = client_of(member).get(reverse("jobs:list")).content.decode()
    assert 'aria-pressed="false" title="Your favourites are yours alone"' in mine
    theirs = client_of(other).get(reverse("jobs:list") + "?who=team").content.decode()
    assert 'aria-pressed="true" title="Your favourites are yours alone"' in theirs
    # A second click takes it back.
    post(client_of(other), take, "favourite", **HTMX)
    assert not Favourite.objects.exists()


def test_a_discarded_take_is_hidden_from_others_and_its_audio_refused(take, member, other):
    keepers.discard(take, member)
    client = client_of(other)
    team = client.get(reverse("jobs:list") + "?who=team").content.decode()
    assert "Rain on a tin roof" not in team
    assert client.get(take.get_absolute_url()).status_code == 404
    audio = reverse("jobs:audio", args=[take.pk])
    assert client.get(audio).status_code == 404
    assert client.get(audio + "?download=1").status_code == 404
    assert post(client, take, "restore", **HTMX).status_code == 404
    # The owner still sees it, greyed, with its player and Restore.
    owner = client_of(member)
    mine = owner.get(reverse("jobs:list")).content.decode()
    assert 'class="job state-completed discarded"' in mine and ">Restore</button>" in mine
    assert owner.get(audio).status_code == 200


def test_an_admin_can_still_play_a_discarded_take(take, member, admin_user):
    keepers.discard(take, member)
    assert client_of(admin_user).get(reverse("jobs:audio", args=[take.pk])).status_code == 200


def test_restore_brings_it_back_for_the_team(take, member, other):
    keepers.discard(take, member)
    response = post(client_of(member), take, "restore", **HTMX)
    assert 'class="job state-completed"' in response.content.decode()
    assert client_of(other).get(take.get_absolute_url()).status_code == 200


def test_once_its_audio_is_deleted_the_owner_sees_why_and_no_restore(take, member):
    keepers.discard(take, member)
    Job.objects.filter(pk=take.pk).update(discarded_at=take.discarded_at.replace(year=2000))
    assert keepers.delete_discarded_audio() == 1
    client = client_of(member)
    html = client.get(take.get_absolute_url()).content.decode()
    assert "its audio deleted from storage" in html and ">Restore</button>" not in html
    assert "<audio" not in html
    assert client.get(reverse("jobs:audio", args=[take.pk])).status_code == 404
    assert post(client, take, "restore", **HTMX).status_code == 403


def test_usage_shows_kept_takes_and_a_dash_where_nothing_was_kept(member, wallet_row):
    for model, kept in (("music", True), ("music", False), ("sfx", False)):
        job = make_job(member, wallet_row, model_id=model, settled_usd=Decimal("0.5"))
        if kept:
            keepers.keep(job, member)
    html = client_of(member).get(reverse("usage")).content.decode()
    assert (
        "<strong>1</strong> of 3 takes" in html and "<strong>$1.50</strong> per kept take" in html
    )
    assert '<td>music</td><td class="num">$1.00</td><td class="num">1 of 2</td>' in html
    assert '<td class="num">1 of 2</td><td class="num">$1.00</td></tr>' in html
    assert '<span class="none" title="No kept take yet">—</span>' in html


def test_usage_with_no_takes(member, wallet_row):
    html = client_of(member).get(reverse("usage")).content.decode()
    assert "none kept yet" in html and "No takes yet this month." in html


def test_the_quote_shows_the_expected_cost_per_keeper(signed_in, member, wallet):
    url = reverse("jobs:quote")
    query = {"model": "elevenlabs-music", "duration_seconds": "30"}
    assert "no kept takes of this model yet" in signed_in.post(url, query).content.decode()
    jobs = [make_job(member, wallet, finished_at=timezone.now()) for _ in range(3)]
    keepers.keep(jobs[0], member)
    html = signed_in.post(url, query).content.decode()
    # $0.50 a take, one kept in three: $1.50 a keeper.
    assert '<strong>$1.50</strong> <span class="muted">expected: the team kept 1 of 3' in html


def test_the_admin_spend_overview_shows_cost_per_keeper(staff_client, member, wallet_row):
    job = make_job(member, wallet_row, settled_usd=Decimal("0.75"))
    make_job(member, wallet_row, model_id="sfx", settled_usd=Decimal("0.25"))
    keepers.keep(job, member)
    html = staff_client.get(reverse("admin:review_spend_changelist")).content.decode()
    assert 'id="cost-per-keeper"' in html
    assert '<td>member</td><td class="num">$1.00</td>' in html
    assert "<td>sfx</td>" in html and ">—</td>" in html
    assert '<th scope="row">Total</th><td class="num">$1.00</td><td class="num">2</td>' in html


def test_the_admin_sets_the_retention_on_its_one_row(staff_client):
    changelist = reverse("admin:jobs_retention_changelist")
    first = staff_client.get(changelist)  # no row yet: the form that makes it, and no write
    assert (
        first["Location"] == reverse("admin:jobs_retention_add") and not Retention.objects.exists()
    )
    form = staff_client.get(first["Location"]).content.decode()
    assert 'name="discarded_audio_days" value="30"' in form
    staff_client.post(first["Location"], {"discarded_audio_days": "7"})
    assert keepers.retention_days() == 7

    row = staff_client.get(changelist)["Location"]  # from now on, the one row
    assert row == reverse("admin:jobs_retention_change", args=[1])
    assert reverse("admin:jobs_retention_add") not in staff_client.get(row).content.decode()
    assert staff_client.get(reverse("admin:jobs_retention_add")).status_code == 403
    staff_client.post(row, {"discarded_audio_days": "3"})
    bad = staff_client.post(row, {"discarded_audio_days": "-3"})
    assert bad.status_code == 200 and keepers.retention_days() == 3
    assert Retention.objects.count() == 1


def test_the_job_list_filters_kept_favourites_and_discarded(member, other, wallet_row):
    kept = make_job(member, wallet_row, prompt="Kept: harbour bells")
    liked = make_job(member, wallet_row, prompt="Liked: night crickets")
    gone = make_job(member, wallet_row, prompt="Gone: squeaky hinge")
    keepers.keep(kept, member)
    keepers.toggle_favourite(liked, member)
    keepers.toggle_favourite(kept, other)  # theirs, not mine
    keepers.discard(gone, member)
    client = client_of(member)

    def shown(mark: str) -> set[str]:
        html = client.get(reverse("jobs:list"), {"mark": mark}).content.decode()
        return {word for word in ("Kept:", "Liked:", "Gone:") if word in html}

    assert shown("kept") == {"Kept:"}
    assert shown("favourite") == {"Liked:"}
    assert shown("discarded") == {"Gone:"}
    assert shown("nonsense") == {"Kept:", "Liked:", "Gone:"}
    assert (
        '<option value="kept" selected>Kept</option>'
        in client.get(reverse("jobs:list"), {"mark": "kept"}).content.decode()
    )
