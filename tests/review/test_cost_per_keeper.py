"""Cost per keeper (issue 13, item 8): money spent, takes made, takes kept and USD per kept take,
per member and per model; "—" (None) when nothing was kept, never a division by zero."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import keepers
from jobs.keepers import Tally
from jobs.models import Job
from review import keepers as review_keepers
from review.keepers import BY_MEMBER, BY_MODEL, cost_per_keeper
from review.usage import usage
from tests.web.ui_helpers import make_job, make_wallet
from wallets.models import Wallet

pytestmark = pytest.mark.django_db

MONTH = timezone.now().date().replace(day=1)


@pytest.fixture
def other(django_user_model):
    return django_user_model.objects.create_user("other", password="x")


def take(user, wallet, model, settled, *, kept=False, **fields):
    job = make_job(
        user,
        wallet,
        model_id=model,
        settled_usd=Decimal(settled),
        budget_month=MONTH,
        finished_at=timezone.now(),
        **fields,
    )
    if kept:
        keepers.keep(job, user)
    return job


@pytest.fixture
def takes(member, other):
    wallet = make_wallet()
    # member: 3 music takes at $0.50, one kept; 2 sound effects, none kept.
    take(member, wallet, "music", "0.5", kept=True)
    take(member, wallet, "music", "0.5")
    take(member, wallet, "music", "0.5")
    take(member, wallet, "sfx", "0.1")
    take(member, wallet, "sfx", "0.1")
    # A failed job Venice charged counts as spent, not as a take.
    take(member, wallet, "music", "0.25", state=Job.State.FAILED)
    # A cancelled one costs nothing and makes nothing.
    take(member, wallet, "sfx", "0", state=Job.State.CANCELLED)
    # other: 2 music takes at $1, both kept.
    take(other, wallet, "music", "1", kept=True)
    take(other, wallet, "music", "1", kept=True)
    return wallet


def test_per_model(takes):
    lines = {line.key: line for line in cost_per_keeper(Job.objects.all(), BY_MODEL)}
    music = lines["music"]
    assert (music.spent, music.made, music.kept) == (Decimal("3.75"), 5, 3)
    assert music.per_kept == Decimal("1.25")
    sfx = lines["sfx"]
    assert (sfx.spent, sfx.made, sfx.kept) == (Decimal("0.2"), 2, 0)
    assert sfx.per_kept is None  # nothing kept: "—", no ZeroDivisionError
    assert [line.key for line in cost_per_keeper(Job.objects.all(), BY_MODEL)] == ["music", "sfx"]


def test_per_member_labelled_by_username(takes, member, other):
    lines = {line.label: line for line in cost_per_keeper(Job.objects.all(), BY_MEMBER)}
    assert lines["member"].per_kept == Decimal("1.95")  # $1.95 spent for one keeper
    assert (lines["member"].made, lines["member"].kept) == (5, 1)
    assert lines["other"].per_kept == Decimal("1")
    assert lines["member"].key == str(member.pk)


def test_a_keeper_that_cost_nothing_and_an_empty_queryset():
    assert Tally(spent=Decimal("0"), made=1, kept=1).per_kept == Decimal("0")
    assert Tally().per_kept is None and Tally().keep_rate is None
    assert cost_per_keeper(Job.objects.none(), BY_MODEL) == []
    assert review_keepers.total([]).per_kept is None


def test_the_overview_counts_the_ranges_jobs_of_the_wallet(takes, member):
    today = timezone.now().date()
    figures = review_keepers.overview(today, today, wallet=takes)
    assert figures.total.made == 7 and figures.total.kept == 3
    assert figures.total.per_kept == Decimal("1.3167")  # $3.95 / 3
    assert [line.label for line in figures.members] == ["other", "member"]
    # Its three groupings are one pass over the jobs, and agree with grouping each alone.
    with CaptureQueriesContext(connection) as queries:
        review_keepers.overview(today, today, wallet=takes)
    assert sum("SUM(" in query["sql"].upper() for query in queries.captured_queries) == 1
    jobs = Job.objects.filter(wallet=takes)
    assert figures.members == cost_per_keeper(jobs, BY_MEMBER)
    assert figures.models == cost_per_keeper(jobs, BY_MODEL)
    yesterday = today - datetime.timedelta(days=1)
    assert review_keepers.overview(yesterday, yesterday).models == []
    another = Wallet.objects.create(name="another", kind=Wallet.Kind.API_KEY)
    assert review_keepers.overview(today, today, wallet=another).models == []


def test_the_members_usage_has_their_kept_takes_and_cost_per_keeper(takes, member):
    figures = usage(member.pk)
    assert (figures.kept.made, figures.kept.kept) == (5, 1)
    assert figures.kept.per_kept == Decimal("1.95")
    music = next(line for line in figures.keepers if line.key == "music")
    assert (music.spent, music.made, music.kept, music.per_kept) == (
        Decimal("1.75"),
        3,
        1,
        Decimal("1.75"),
    )
    sfx = next(line for line in figures.keepers if line.key == "sfx")
    assert sfx.per_kept is None
