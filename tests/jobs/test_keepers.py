"""Keep, favourite, discard (issue 13, item 3): who may do what to a take, the visibility of a
discarded one, and the sweep deleting discarded audio after the admin's retention."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs import keepers, tasks
from jobs.models import Favourite, Job, Retention
from tests.web.ui_helpers import give_audio, make_job, make_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def other(django_user_model):
    return django_user_model.objects.create_user("other", password="x")


@pytest.fixture
def take(member):
    return give_audio(make_job(member, make_wallet()))


def test_the_owner_keeps_and_unkeeps_a_take_with_a_timeline_entry(take, member):
    assert keepers.keep(take, member)
    assert take.kept_at is not None and take.kept_by == member
    assert not keepers.keep(take, member)  # already kept: nothing changes
    assert take.events.filter(note="Kept by member.").exists()
    assert keepers.unkeep(take, member)
    assert take.kept_at is None and take.kept_by is None


def test_an_admin_may_keep_and_discard_anothers_take(take, admin_user):
    assert keepers.keep(take, admin_user)
    assert keepers.discard(take, admin_user)
    assert take.discarded_by == admin_user


def test_another_member_can_neither_keep_nor_discard_nor_restore(take, member, other):
    for act in (keepers.keep, keepers.discard, keepers.unkeep):
        with pytest.raises(keepers.NotAllowed):
            act(take, other)
    keepers.discard(take, member)
    with pytest.raises(keepers.NotAllowed):
        keepers.restore(take, other)
    take.refresh_from_db()
    assert take.kept_at is None and take.discarded_at is not None


def test_only_a_finished_take_is_kept_discarded_or_favourited(member):
    running = make_job(member, make_wallet(), state=Job.State.PROCESSING)
    for act in (keepers.keep, keepers.discard, keepers.toggle_favourite):
        with pytest.raises(keepers.NotAllowed):
            act(running, member)
    assert not Favourite.objects.exists()


def test_discarding_a_keeper_unkeeps_it_and_a_discarded_take_cannot_be_kept(take, member):
    keepers.keep(take, member)
    keepers.discard(take, member)
    assert take.kept_at is None and take.discarded_at is not None
    assert not keepers.keep(take, member)
    assert keepers.restore(take, member)
    assert take.discarded_at is None
    assert keepers.keep(take, member)


def test_favourites_are_each_members_own(take, member, other):
    assert keepers.toggle_favourite(take, other) is True
    assert keepers.is_favourite(take, other)
    assert not keepers.is_favourite(take, member)
    assert keepers.toggle_favourite(take, member) is True
    assert keepers.toggle_favourite(take, other) is False
    assert list(Favourite.objects.values_list("user__username", flat=True)) == ["member"]


def test_a_discarded_take_is_hidden_from_the_rest_of_the_team_but_not_its_owner(
    take, member, other, admin_user
):
    keepers.discard(take, member)
    assert not Job.objects.visible_to(other).filter(pk=take.pk).exists()
    assert Job.objects.visible_to(member).filter(pk=take.pk).exists()
    assert Job.objects.visible_to(admin_user).filter(pk=take.pk).exists()
    # The live endpoint's hand-written query agrees.
    assert Job.objects.changed_since(other, {take.pk: "x"}) == []
    assert [job.pk for job in Job.objects.changed_since(member, {take.pk: "x"})] == [take.pk]


# --- the retention -------------------------------------------------------------------------------


def discarded(job: Job, user, days_ago: float) -> Job:
    keepers.discard(job, user)
    Job.objects.filter(pk=job.pk).update(
        discarded_at=timezone.now() - datetime.timedelta(days=days_ago)
    )
    job.refresh_from_db()
    return job


def test_the_retention_defaults_to_thirty_days_and_is_one_row():
    assert Retention.current().discarded_audio_days == 30
    Retention(discarded_audio_days=7).save()
    assert Retention.objects.count() == 1
    assert keepers.retention_days() == 7


def test_audio_discarded_longer_ago_than_the_retention_is_deleted_the_rest_stays(member):
    wallet = make_wallet()
    old = discarded(give_audio(make_job(member, wallet, settled_usd=Decimal("0.5"))), member, 31)
    new = discarded(give_audio(make_job(member, wallet)), member, 29)
    kept = give_audio(make_job(member, wallet))
    keepers.keep(kept, member)
    Job.objects.filter(pk=kept.pk).update(
        discarded_at=timezone.now() - datetime.timedelta(days=90)
    )  # never both through keepers; even so, a kept take's audio is never deleted
    untouched = give_audio(make_job(member, wallet))
    names = {job.pk: job.audio.name for job in (old, new, kept, untouched)}

    assert keepers.delete_discarded_audio() == 1

    assert not default_storage.exists(names[old.pk])
    for job in (new, kept, untouched):
        assert default_storage.exists(names[job.pk])
    old.refresh_from_db()
    assert old.audio_deleted_at is not None and old.audio.name == ""
    # The job and its money stay.
    assert old.state == Job.State.COMPLETED and old.settled_usd == Decimal("0.5")
    assert old.events.filter(note__contains="deleted from storage").exists()
    assert keepers.delete_discarded_audio() == 0  # done once


def test_a_shorter_retention_deletes_sooner_and_a_deleted_take_cannot_be_restored(member):
    job = discarded(give_audio(make_job(member, make_wallet())), member, 3)
    assert keepers.delete_discarded_audio() == 0
    Retention(discarded_audio_days=2).save()
    assert keepers.delete_discarded_audio() == 1
    job.refresh_from_db()
    with pytest.raises(keepers.NotAllowed, match="deleted"):
        keepers.restore(job, member)
    assert keepers.audio_deleted_after(job) is None


def test_the_periodic_sweep_deletes_discarded_audio(member):
    job = discarded(give_audio(make_job(member, make_wallet())), member, 45)
    name = job.audio.name
    tasks.sweep()
    assert not default_storage.exists(name)
    job.refresh_from_db()
    assert job.audio_deleted_at is not None


def test_a_restore_before_the_sweep_keeps_the_audio(member):
    job = discarded(give_audio(make_job(member, make_wallet())), member, 45)
    assert keepers.restore(job, member)
    assert keepers.delete_discarded_audio() == 0
    assert default_storage.exists(job.audio.name)


# --- the expected cost per keeper ----------------------------------------------------------------


def test_the_expected_cost_per_keeper_is_the_quote_over_the_keep_rate(member):
    wallet = make_wallet()
    jobs = [make_job(member, wallet, model_id="m", finished_at=timezone.now()) for _ in range(4)]
    assert keepers.expected_per_keeper("m", Decimal("0.5")) == (None, keepers.Tally(made=4))
    keepers.keep(jobs[0], member)
    per_keeper, tally = keepers.expected_per_keeper("m", Decimal("0.5"))
    assert per_keeper == Decimal("2") and (tally.made, tally.kept) == (4, 1)
    keepers.keep(jobs[1], member)
    assert keepers.expected_per_keeper("m", Decimal("0.5"))[0] == Decimal("1")
    assert keepers.expected_per_keeper("other-model", Decimal("0.5"))[0] is None


def test_a_storage_error_leaves_the_take_for_the_next_sweep(member, monkeypatch):
    job = discarded(give_audio(make_job(member, make_wallet())), member, 45)

    def refuse(name):
        raise PermissionError(f"read-only storage: {name}")

    monkeypatch.setattr(default_storage, "delete", refuse)
    assert keepers.delete_discarded_audio() == 0
    job.refresh_from_db()
    assert job.audio_deleted_at is None and job.audio.name
    monkeypatch.undo()
    assert keepers.delete_discarded_audio() == 1
