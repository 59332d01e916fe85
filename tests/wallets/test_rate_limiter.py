import pytest
from django.db.models import QuerySet

from tests.jobs_helpers import race
from wallets import keys
from wallets.models import RateSlot
from wallets.throttle import take_rate_slot


@pytest.fixture
def two_wallets(db):
    return keys.create_evm_wallet("one"), keys.create_evm_wallet("two")


def test_the_window_admits_its_quota_then_says_how_long_to_wait(two_wallets, settings):
    settings.VENICE_RATE_WINDOW_S = 0.5
    one, two = two_wallets
    assert [take_rate_slot(one.pk, "retrieve", 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = take_rate_slot(one.pk, "retrieve", 3)
    assert 0 < wait <= 0.5
    assert take_rate_slot(two.pk, "retrieve", 3) == 0.0, "each wallet has its own window"
    assert take_rate_slot(one.pk, "queue", 3) == 0.0, "and each endpoint"


def test_calls_leave_the_window_as_it_slides(two_wallets, settings):
    import time

    settings.VENICE_RATE_WINDOW_S = 0.05
    one, _ = two_wallets
    assert take_rate_slot(one.pk, "retrieve", 1) == 0.0
    assert take_rate_slot(one.pk, "retrieve", 1) > 0
    time.sleep(0.06)
    assert take_rate_slot(one.pk, "retrieve", 1) == 0.0


@pytest.mark.django_db(transaction=True)
def test_racing_processes_never_take_more_than_the_limit():
    """The window is rows in the database, so it holds across threads, processes and clusters."""
    wallet = keys.create_evm_wallet("raced")
    taken = race(lambda: sum(take_rate_slot(wallet.pk, "retrieve", 20) == 0 for _ in range(5)), 12)
    assert sum(taken) == 20
    assert RateSlot.objects.filter(wallet=wallet, used_at__isnull=False).count() == 20


def test_a_rival_that_makes_the_rows_first_does_not_hold_the_call_back(two_wallets, monkeypatch):
    """The wallet's first two calls, at once: the rival makes the rows and takes a slot between
    this call's look for a free slot and its count of the rows. There are 37 more free slots:
    this call goes too, instead of waiting a minute (seen in CI: a job waited 60 s)."""
    wallet, _ = two_wallets
    real_count = QuerySet.count
    rival = {}

    def count(queryset):
        if queryset.model is RateSlot and not rival:
            rival["wait"] = None  # the rival's own count is a plain one
            rival["wait"] = take_rate_slot(wallet.pk, "queue", 38)
        return real_count(queryset)

    monkeypatch.setattr(QuerySet, "count", count)
    assert take_rate_slot(wallet.pk, "queue", 38) == 0.0
    assert rival == {"wait": 0.0}
    assert RateSlot.objects.filter(wallet=wallet, used_at__isnull=False).count() == 2
