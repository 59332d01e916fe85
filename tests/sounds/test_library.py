"""Which sounds and collections a member sees, who may change them, and the library's search."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.models import Job
from sounds import library
from sounds.library import Search
from sounds.models import CollectionSound, SoundTag
from tests.sounds_helpers import collection, kept_sound, tag
from tests.web.ui_helpers import give_audio, make_job, make_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(django_user_model):
    return {
        "ann": django_user_model.objects.create_user("ann", password="x"),
        "bob": django_user_model.objects.create_user("bob", password="x"),
        "boss": django_user_model.objects.create_superuser("boss", password="x"),
        "wallet": make_wallet(),
    }


def test_a_sound_is_a_kept_finished_take_the_member_can_see(team):
    ann, bob, wallet = team["ann"], team["bob"], team["wallet"]
    mine = kept_sound(ann, wallet)
    my_private = kept_sound(ann, wallet, private=True)
    theirs = kept_sound(bob, wallet)
    their_private = kept_sound(bob, wallet, private=True)
    not_kept = give_audio(make_job(bob, wallet))
    discarded = kept_sound(bob, wallet)
    Job.objects.filter(pk=discarded.pk).update(discarded_at=timezone.now(), kept_at=None)
    my_discarded = kept_sound(ann, wallet)
    Job.objects.filter(pk=my_discarded.pk).update(discarded_at=timezone.now())
    gone = kept_sound(bob, wallet)
    Job.objects.filter(pk=gone.pk).update(audio_deleted_at=timezone.now())
    running = make_job(bob, wallet, state=Job.State.PROCESSING, kept_at=timezone.now())

    seen = set(library.sounds_for(ann).values_list("pk", flat=True))
    assert seen == {mine.pk, my_private.pk, theirs.pk}
    for hidden in (their_private, not_kept, discarded, my_discarded, gone, running):
        assert hidden.pk not in seen
    assert their_private.pk in set(library.sounds_for(team["boss"]).values_list("pk", flat=True))


def test_another_members_private_collection_is_not_there_for_them(team):
    ann, bob = team["ann"], team["bob"]
    private = collection(bob, "Bob's sketches", private=True)
    shared = collection(bob, "Episode 1")
    assert list(library.collections_for(ann)) == [shared]
    assert set(library.collections_for(bob)) == {private, shared}
    assert set(library.collections_for(team["boss"])) == {private, shared}
    sound = kept_sound(ann, team["wallet"])
    with pytest.raises(library.Refused):
        library.add(ann, private, sound)
    assert not CollectionSound.objects.filter(collection=private).exists()


def test_any_member_adds_to_a_team_collection_once_but_only_a_kept_sound(team):
    ann, bob, wallet = team["ann"], team["bob"], team["wallet"]
    shared = collection(bob, "Episode 1")
    sound = kept_sound(ann, wallet)
    assert library.add(ann, shared, sound) is True
    assert library.add(ann, shared, sound) is False  # already there: one entry
    assert shared.entries.count() == 1
    with pytest.raises(library.Refused, match="kept sound"):
        library.add(ann, shared, give_audio(make_job(ann, wallet)))
    with pytest.raises(library.Refused, match="kept sound"):
        library.add(ann, shared, kept_sound(bob, wallet, private=True))


def test_whoever_added_a_sound_the_owner_or_an_admin_takes_it_out(team):
    ann, bob, boss, wallet = team["ann"], team["bob"], team["boss"], team["wallet"]
    shared = collection(bob, "Episode 1")
    annes, bobs = kept_sound(ann, wallet), kept_sound(bob, wallet)
    library.add(ann, shared, annes)
    library.add(bob, shared, bobs)
    with pytest.raises(library.Refused, match="Only whoever added it"):
        library.take_out(ann, shared, bobs)
    assert library.take_out(ann, shared, annes) is True
    assert library.take_out(ann, shared, annes) is False
    assert library.take_out(boss, shared, bobs) is True
    assert not shared.entries.exists()
    assert library.can_edit(bob, shared) and library.can_edit(boss, shared)
    assert not library.can_edit(ann, shared)


def test_a_discarded_take_leaves_the_collection_for_everyone_and_comes_back_when_kept(team):
    ann, bob, wallet = team["ann"], team["bob"], team["wallet"]
    sound = kept_sound(ann, wallet)
    shared = collection(bob, "Episode 1", sounds=[sound, kept_sound(bob, wallet)])
    assert library.collection_sounds(bob, shared).count() == 2
    Job.objects.filter(pk=sound.pk).update(discarded_at=timezone.now(), kept_at=None)
    for user in (ann, bob, team["boss"]):
        assert sound not in library.collection_sounds(user, shared)
    Job.objects.filter(pk=sound.pk).update(discarded_at=None, kept_at=timezone.now())
    assert sound in library.collection_sounds(bob, shared)


def test_tags_are_words_given_once_and_removed_by_their_giver_the_owner_or_an_admin(team):
    ann, bob, wallet = team["ann"], team["bob"], team["wallet"]
    sound = kept_sound(ann, wallet)
    assert library.add_tags(bob, sound, "Footsteps, level 3,footsteps") == ["footsteps", "level-3"]
    assert library.add_tags(bob, sound, "footsteps") == []
    with pytest.raises(library.Refused, match="a word or two"):
        library.add_tags(bob, sound, "!!!")
    assert SoundTag.objects.filter(job=sound).count() == 2
    other = type(ann).objects.create_user("cat", password="x")
    with pytest.raises(library.Refused):
        library.remove_tag(other, sound, "footsteps")
    assert library.remove_tag(ann, sound, "footsteps") is True  # the sound's owner
    assert library.remove_tag(bob, sound, "level-3") is True  # who gave it
    with pytest.raises(library.Refused, match="kept sound"):
        library.add_tags(ann, give_audio(make_job(ann, wallet)), "drums")


def test_a_sound_has_at_most_twenty_tags(team):
    sound = kept_sound(team["ann"], team["wallet"])
    library.add_tags(team["ann"], sound, ",".join(f"t{n}" for n in range(20)))
    with pytest.raises(library.Refused, match="at most 20"):
        library.add_tags(team["ann"], sound, "one-more")


def test_search_by_each_filter_and_by_them_together(team):
    ann, bob, wallet = team["ann"], team["bob"], team["wallet"]
    rain = kept_sound(ann, wallet, prompt="rain on a tin roof", model_id="sfx-a", seconds=4)
    steps = kept_sound(bob, wallet, prompt="footsteps on gravel", model_id="sfx-a", seconds=30)
    song = kept_sound(bob, wallet, prompt="a rainy synthwave song", model_id="music-b", seconds=95)
    epic = kept_sound(ann, wallet, prompt="epic score", model_id="music-b", seconds=200)
    tag(steps, "foley")
    tag(rain, "foley", "weather")
    level = collection(ann, "Level 3", sounds=[rain, song])

    def found(**filters) -> list[Job]:
        return list(library.search(ann, Search(**filters)))

    assert found() == [epic, song, steps, rain]  # newest first
    assert found(text="RAIN") == [song, rain]
    assert found(model="sfx-a") == [steps, rain]
    assert found(member="bob") == [song, steps]
    assert found(tag="foley") == [steps, rain]
    assert found(collection=level) == [song, rain]
    assert found(length="short") == [rain]
    assert found(length="medium") == [steps]
    assert found(length="long") == [song]
    assert found(length="longer") == [epic]
    assert found(text="rain", model="music-b") == [song]
    assert found(tag="foley", member="ann", length="short", collection=level) == [rain]
    assert found(tag="weather", member="bob") == []
