"""Takes on the pages: the form's 1 to 4, the price per take and in all, the refusals, and the
compare page with its live status and its permissions."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from wallets import budgets
from wallets.models import Budget

from .test_ui_live import poll_url
from .ui_helpers import give_audio, make_job

pytestmark = pytest.mark.django_db

LYRIA = {"model": "lyria-3-pro", "prompt": "slow cinematic strings at dawn"}


def post(client, **fields):
    return client.post(reverse("jobs:generate"), {**LYRIA, **fields})


def group_of(user, wallet, count: int, **fields) -> list[Job]:
    group = uuid.uuid4()
    return [
        make_job(user, wallet, take_group=group, take_number=n, **fields)
        for n in range(1, count + 1)
    ]


def test_the_form_asks_for_one_to_four_takes_one_by_default(signed_in):
    page = signed_in.get(reverse("jobs:generate"), {"model": "lyria-3-pro"}).content.decode()
    select = page.split('<select name="takes"')[1].split("</select>")[0]
    assert [f'<option value="{n}"' in select for n in range(1, 5)] == [True] * 4
    assert '<option value="1" selected>' in select and 'value="5"' not in select
    assert "Each take is its own job" in page


def test_the_quote_shows_the_price_a_take_and_for_all_of_them(signed_in):
    url = reverse("jobs:quote")
    one = signed_in.post(url, {**LYRIA, "takes": "1"}).content.decode()
    assert '<strong id="price">$0.40</strong>' in one and "price-total" not in one
    three = signed_in.post(url, {**LYRIA, "takes": "3"}).content.decode()
    assert '<strong id="price">$0.40</strong> <span>a take</span>' in three
    assert "<span>3 takes</span>" in three and '<strong id="price-total">$1.20</strong>' in three


def test_the_quote_warns_when_all_the_takes_do_not_fit(signed_in, member):
    budget = budgets.member_budget(member.pk, budgets.month_of(timezone.now()))
    Budget.objects.filter(pk=budget.pk).update(limit_usd=Decimal("1.00"))
    url = reverse("jobs:quote")
    assert (
        "Studio will refuse it" not in signed_in.post(url, {**LYRIA, "takes": "2"}).content.decode()
    )
    assert "Studio will refuse it" in signed_in.post(url, {**LYRIA, "takes": "3"}).content.decode()


@pytest.mark.parametrize("takes", ["0", "5", "-2", "three"])
def test_a_number_of_takes_outside_one_to_four_is_refused_with_a_message(signed_in, takes):
    response = post(signed_in, takes=takes)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was created" in page and "Ask for 1 to 4 takes." in page
    assert Job.objects.count() == 0 and Budget.objects.filter(reserved_usd__gt=0).count() == 0


def test_three_takes_open_the_page_comparing_them(signed_in, member):
    response = post(signed_in, takes="3")
    jobs = list(Job.objects.order_by("take_number"))
    assert len(jobs) == 3 and len({job.take_group for job in jobs}) == 1
    assert response.status_code == 302
    assert response["Location"] == f"/takes/{jobs[0].take_group}/" == jobs[0].takes_url
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "3 takes are on their way, at $0.40 each ($1.20 in all)."
    ]
    page = signed_in.get(response["Location"]).content.decode()
    for n, job in enumerate(jobs, 1):
        assert f'<article id="take-{job.pk}" class="card take state-pending"' in page
        assert f"Take {n}</h2>" in page
    assert "$0.40 a take, $1.20 for all 3" in page and LYRIA["prompt"] in page
    assert "view=takes" in poll_url(page)


def test_one_take_opens_its_job_page_as_before(signed_in):
    response = post(signed_in, takes="1")
    job = Job.objects.get()
    assert response["Location"] == job.get_absolute_url() and job.take_group is None
    response = post(signed_in)  # a form from before takes: one take
    assert Job.objects.count() == 2 and Job.objects.filter(take_group__isnull=False).count() == 0


def test_takes_that_do_not_fit_the_budget_are_refused_whole_with_a_message(signed_in, member):
    budget = budgets.member_budget(member.pk, budgets.month_of(timezone.now()))
    Budget.objects.filter(pk=budget.pk).update(limit_usd=Decimal("1.00"))
    page = post(signed_in, takes="3").content.decode()
    assert "Nothing was created" in page
    assert "3 takes at $0.40 each ($1.20) cost more than what is left of your budget" in page
    assert "2 takes would fit" in page
    assert Job.objects.count() == 0
    budget.refresh_from_db()
    assert budget.reserved_usd == 0


def test_the_compare_page_shows_players_and_both_downloads_for_finished_takes(
    client, member, wallet_row
):
    done, running = group_of(member, wallet_row, 2, model_id="lyria-3-pro")
    give_audio(done)
    Job.objects.filter(pk=running.pk).update(state=Job.State.PROCESSING)
    client.force_login(member)
    page = client.get(done.takes_url).content.decode()
    assert f'<audio id="player-{done.pk}" controls' in page
    assert f'href="/jobs/{done.pk}/audio.mp3" download>Download MP3</a>' in page
    assert f'href="/jobs/{done.pk}/audio/?download=1" download>Download WAV</a>' in page
    assert f'<article id="take-{running.pk}" class="card take state-processing"' in page
    assert 'role="progressbar"' in page
    # The job page says it is one of several, and links back.
    detail = client.get(done.get_absolute_url()).content.decode()
    assert f'href="{done.takes_url}">compare the takes</a>' in detail


def test_a_take_is_kept_favourited_or_discarded_from_the_comparison(
    client, member, other, wallet_row
):
    first, second = (give_audio(job) for job in group_of(member, wallet_row, 2))
    client.force_login(member)
    page = client.get(first.takes_url).content.decode()
    assert page.count('class="keepers"') == 2 and f'hx-target="#take-{first.pk}"' in page
    keep = client.post(
        reverse("jobs:keep", args=[first.pk]), {"view": "takes"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    # The answer is the take itself, swapped in place, with its Keep pressed.
    assert f'<article id="take-{first.pk}"' in keep
    assert 'aria-pressed="true"' in keep and "Take 1" in keep
    first.refresh_from_db()
    assert first.kept_at is not None
    client.post(
        reverse("jobs:discard", args=[second.pk]), {"view": "takes"}, HTTP_HX_REQUEST="true"
    )
    client.force_login(other)  # the team sees the keeper; the discarded take is gone for them
    page = client.get(first.takes_url).content.decode()
    assert f'id="take-{first.pk}"' in page and f'id="take-{second.pk}"' not in page
    assert "Discard</button>" not in page  # not theirs to keep or discard
    fav = client.post(
        reverse("jobs:favourite", args=[first.pk]), {"view": "takes"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "★</span> Favourite" in fav


def test_the_compare_page_follows_its_takes_live_until_they_are_done(client, member, wallet_row):
    first, second = group_of(member, wallet_row, 2, state=Job.State.QUEUED)
    client.force_login(member)
    url = poll_url(client.get(first.takes_url).content.decode())
    assert url and client.get(url).status_code == 204
    Job.objects.filter(pk=first.pk).update(state=Job.State.COMPLETED)
    give_audio(Job.objects.get(pk=first.pk))
    body = client.get(url).content.decode()
    assert (
        f'<article id="take-{first.pk}" class="card take state-completed" hx-swap-oob="true"'
        in body
    )
    assert f'id="player-{first.pk}"' in body and f'id="take-{second.pk}"' not in body
    url = poll_url(body)
    assert f"{second.pk}:queued" in url and f"{first.pk}:" not in url
    Job.objects.filter(pk=second.pk).update(state=Job.State.FAILED, error_message="It broke.")
    body = client.get(url).content.decode()
    assert "It broke." in body and '<div id="live-poll" hidden></div>' in body


def test_another_members_private_takes_are_404_and_a_private_take_is_not_shown(
    client, member, wallet_row, django_user_model
):
    other = django_user_model.objects.create_user("other", password="x")
    secret = group_of(other, wallet_row, 2, private=True, prompt="zq-secret-takes")
    shared = group_of(other, wallet_row, 3, prompt="shared takes")
    Job.objects.filter(pk=shared[1].pk).update(private=True, prompt="zq-hidden-take")
    client.force_login(member)
    assert client.get(secret[0].takes_url).status_code == 404
    assert client.get(f"/takes/{uuid.uuid4()}/").status_code == 404
    assert client.get("/takes/not-a-uuid/").status_code == 404
    page = client.get(shared[0].takes_url).content.decode()
    assert f'id="take-{shared[0].pk}"' in page and f'id="take-{shared[2].pk}"' in page
    assert f'id="take-{shared[1].pk}"' not in page and "zq-hidden-take" not in page
    assert "2 takes" in page
    client.force_login(other)
    assert (
        "zq-hidden-take" not in client.get(shared[0].takes_url).content.decode()
    )  # same prompt shown once
    assert f'id="take-{shared[1].pk}"' in client.get(shared[0].takes_url).content.decode()
    client.logout()
    response = client.get(shared[0].takes_url)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_job_list_links_each_take_to_its_comparison(client, member, wallet_row):
    takes = group_of(member, wallet_row, 2)
    alone = make_job(member, wallet_row)
    client.force_login(member)
    page = client.get(reverse("jobs:list")).content.decode()
    for job in takes:
        row = page.split(f'<li id="job-{job.pk}"')[1].split("</li>")[0]
        link = f'<a href="{job.takes_url}">take {job.take_number}: compare the takes</a>'
        assert link in row
    assert "compare the takes" not in page.split(f'<li id="job-{alone.pk}"')[1].split("</li>")[0]


def test_switching_model_keeps_the_number_of_takes(signed_in):
    page = signed_in.post(
        reverse("jobs:switch_model"),
        {"model": "elevenlabs-music", "prompt": "a tune", "takes": "3"},
        headers={"HX-Request": "true", "HX-Target": "generate-form"},
    ).content.decode()
    select = page.split('<select name="takes"')[1].split("</select>")[0]
    assert '<option value="3" selected>' in select
