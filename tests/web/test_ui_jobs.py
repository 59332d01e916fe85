"""The jobs page: mine and the team's, newest first, paginated, filtered, polling only if needed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job

from .ui_helpers import make_job, processing_job, unsaved_job

pytestmark = pytest.mark.django_db


def page_of(client, **params) -> str:
    response = client.get(reverse("jobs:list"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_mine_newest_first(client, member, other, wallet_row):
    first = make_job(member, wallet_row, prompt="first tune")
    second = make_job(member, wallet_row, prompt="second tune")
    make_job(other, wallet_row, prompt="someone else's tune")
    client.force_login(member)
    page = page_of(client)
    assert page.index(f'id="job-{second.pk}"') < page.index(f'id="job-{first.pk}"')
    assert "someone else" not in page


def test_team_view_shows_others_shared_jobs_but_not_their_private_ones(
    client, member, other, wallet_row
):
    make_job(other, wallet_row, prompt="shared tune")
    make_job(other, wallet_row, prompt="secret tune", private=True)
    make_job(member, wallet_row, prompt="my secret", private=True)
    client.force_login(member)
    page = page_of(client, who="team")
    assert "shared tune" in page and "by other" in page
    assert "secret tune" not in page
    assert "my secret" in page


def test_admins_see_private_jobs_in_the_team_view(client, admin_user, other, wallet_row):
    make_job(other, wallet_row, prompt="secret tune", private=True)
    client.force_login(admin_user)
    assert "secret tune" in page_of(client, who="team")


def test_state_filter(client, member, wallet_row):
    make_job(member, wallet_row, prompt="done tune")
    make_job(
        member,
        wallet_row,
        prompt="broken tune",
        state=Job.State.FAILED,
        error_message="Venice refused this prompt.",
    )
    client.force_login(member)
    page = page_of(client, state="failed")
    assert "broken tune" in page and "Venice refused this prompt." in page
    assert "done tune" not in page


def test_paginated_25_a_page(client, member, wallet_row):
    Job.objects.bulk_create(
        [unsaved_job(member, wallet_row, n, state=Job.State.COMPLETED) for n in range(60)]
    )
    client.force_login(member)
    first = page_of(client)
    assert first.count('class="job state-') == 25 and "Page 1 of 3" in first
    assert "page=2" in first
    last = page_of(client, page=3)
    assert last.count('class="job state-') == 10
    assert page_of(client, page="nonsense").count('class="job state-') == 25


def test_finished_jobs_show_a_player_and_no_poll(client, member, wallet_row):
    job = make_job(member, wallet_row)
    client.force_login(member)
    page = page_of(client)
    assert f'<audio controls preload="none" src="/jobs/{job.pk}/audio/"' in page
    assert "hx-trigger" not in page.split('id="live-poll"')[1][:300]


def test_running_jobs_get_one_poll_for_all_of_them(client, member, wallet_row):
    running = [
        make_job(member, wallet_row, state=state)
        for state in (Job.State.PENDING, Job.State.QUEUED, Job.State.PROCESSING)
    ]
    make_job(member, wallet_row)
    client.force_login(member)
    page = page_of(client)
    assert page.count('hx-trigger="every 1s"') == 1
    ids = ",".join(f"{job.pk}:{job.state}:" for job in reversed(running))  # newest first
    assert f"s={ids}" in page


def test_progress_bar_and_time_left_from_venices_figures(client, member, wallet_row):
    from django.utils import timezone

    processing_job(member, wallet_row, 20_000, 80_000, progress_at=timezone.now())
    client.force_login(member)
    page = page_of(client)
    assert 'role="progressbar"' in page and 'aria-valuenow="25"' in page
    assert "About 60 s left" in page


def test_prompts_are_escaped(client, member, wallet_row):
    make_job(member, wallet_row, prompt="<img src=x onerror=alert(1)>")
    client.force_login(member)
    page = page_of(client)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
