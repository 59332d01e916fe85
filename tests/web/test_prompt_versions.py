"""The library's versions and approved label as plain functions (studio/versioning.py), the diff
(studio/diff.py) and the data migration that gave every prompt its version 1."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from studio import diff, versioning
from studio.models import LibrarySettings, Prompt, PromptVersion
from wallets.models import AuditEntry

from .ui_helpers import make_prompt

pytestmark = pytest.mark.django_db

BEFORE_VERSIONS = [("studio", "0001_initial")]


def edit(prompt: Prompt, by, note: str = "", **fields) -> PromptVersion | None:
    for name, value in fields.items():
        setattr(prompt, name, value)
    return versioning.save_prompt(prompt, by, note)


def test_creating_a_prompt_makes_version_1_and_every_edit_the_next(member, admin_user):
    prompt = make_prompt(member, text="rain on a tin roof")
    first = prompt.versions.get()
    assert (first.number, first.text, first.author, first.approved) == (
        1,
        "rain on a tin roof",
        member,
        False,
    )
    second = edit(prompt, member, note="heavier", text="a storm on a tin roof")
    third = edit(prompt, admin_user, title="Storm")
    assert (second.number, second.note, second.author) == (2, "heavier", member)
    assert (third.number, third.title, third.text, third.author) == (
        3,
        "Storm",
        "a storm on a tin roof",
        admin_user,
    )
    assert list(prompt.versions.values_list("number", flat=True)) == [3, 2, 1]


def test_a_save_that_changes_no_content_makes_no_version(member):
    prompt = make_prompt(member)
    assert edit(prompt, member) is None
    assert edit(prompt, member, private=True) is None  # who sees it is no content
    assert prompt.versions.count() == 1


def test_restore_makes_a_new_version_and_never_rewrites_history(member):
    prompt = make_prompt(member, text="one", settings={"duration_seconds": 30})
    edit(prompt, member, text="two", settings={"duration_seconds": 90})
    before = list(prompt.versions.order_by("number").values())
    restored = versioning.restore(prompt, prompt.versions.get(number=1), member)
    assert restored.number == 3 and restored.note == "Restored from version 1"
    prompt.refresh_from_db()
    assert (prompt.text, prompt.settings) == ("one", {"duration_seconds": 30})
    assert list(prompt.versions.order_by("number").values())[:2] == before
    # Restoring what the prompt already is adds nothing.
    assert versioning.restore(prompt, prompt.versions.get(number=1), member) is None


def test_one_approved_version_per_prompt_is_a_database_constraint(member):
    prompt = make_prompt(member)
    edit(prompt, member, text="second")
    PromptVersion.objects.filter(prompt=prompt, number=1).update(approved=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        PromptVersion.objects.filter(prompt=prompt, number=2).update(approved=True)
    # Another prompt has its own approved version.
    other = make_prompt(member)
    PromptVersion.objects.filter(prompt=other).update(approved=True)
    assert PromptVersion.objects.filter(approved=True).count() == 2


def test_moving_the_label_keeps_one_approved_and_is_audited(member, admin_user):
    prompt = make_prompt(member)
    edit(prompt, member, text="second")
    one, two = prompt.versions.get(number=1), prompt.versions.get(number=2)
    versioning.set_approved(prompt, one, admin_user)
    versioning.set_approved(prompt, two, admin_user)
    assert list(prompt.versions.filter(approved=True).values_list("number", flat=True)) == [2]
    versioning.set_approved(prompt, None, admin_user)
    assert not prompt.versions.filter(approved=True).exists()
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.PROMPT_APPROVAL).order_by("id")
    assert [(e.before, e.after) for e in entries] == [
        ({"approved_version": None}, {"approved_version": 1}),
        ({"approved_version": 1}, {"approved_version": 2}),
        ({"approved_version": 2}, {"approved_version": None}),
    ]
    assert {(e.actor, e.object_type, e.object_id) for e in entries} == {
        (admin_user, "studio.Prompt", str(prompt.pk))
    }


def test_who_may_move_the_label(member, other, admin_user):
    prompt = make_prompt(member)
    version = prompt.versions.get()
    assert versioning.may_move_label(admin_user, prompt)
    assert not versioning.may_move_label(member, prompt)  # owners only when the admin allows
    with pytest.raises(versioning.LabelRefused):
        versioning.set_approved(prompt, version, member)
    assert not AuditEntry.objects.exists() and not prompt.versions.filter(approved=True).exists()

    LibrarySettings.objects.update_or_create(pk=1, defaults={"owners_may_approve": True})
    assert versioning.may_move_label(member, prompt)
    assert not versioning.may_move_label(other, prompt)  # another member, never
    versioning.set_approved(prompt, version, member)
    assert prompt.versions.get().approved


def test_use_takes_the_approved_version_else_the_latest(member, admin_user):
    prompt = make_prompt(member, text="first")
    edit(prompt, member, text="second")
    assert versioning.version_for_use(prompt).text == "second"
    versioning.set_approved(prompt, prompt.versions.get(number=1), admin_user)
    edit(prompt, member, text="third")
    assert versioning.version_for_use(prompt).text == "first"


def test_the_diff_marks_changed_words_and_lines():
    old = PromptVersion(title="Rain", text="soft rain\non a tin roof", tags=",calm,")
    new = PromptVersion(title="Rain", text="heavy rain\non a tin roof\nthunder", tags=",calm,")
    fields = {f.name: f for f in diff.compare(old, new)}
    assert set(fields) == {"title", "text", "tags"}  # empty in both: left out
    assert not fields["title"].changed and fields["text"].changed
    lines = [
        (line.kind, [(p.text, p.changed) for p in line.pieces]) for line in fields["text"].lines
    ]
    assert lines == [
        ("removed", [("soft", True), (" rain", False)]),
        ("added", [("heavy", True), (" rain", False)]),
        ("same", [("on a tin roof", False)]),
        ("added", [("thunder", True)]),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_gives_every_prompt_its_version_1(member):
    """Back to before versions, a prompt written by the old model, then forward: version 1."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_VERSIONS)
    old_apps = executor.loader.project_state(BEFORE_VERSIONS).apps
    made = old_apps.get_model("studio", "Prompt").objects.create(
        title="Old one",
        text="from before",
        author_id=member.pk,
        tags=",old,",
        settings={"loop": True},
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    version = PromptVersion.objects.get(prompt_id=made.pk)
    prompt = Prompt.objects.get(pk=made.pk)
    assert (version.number, version.text, version.tags, version.settings, version.author) == (
        1,
        "from before",
        ",old,",
        {"loop": True},
        member,
    )
    assert version.created_at == prompt.updated_at and not version.approved


def test_an_admins_edit_in_the_admin_is_a_version_too(member, admin_user, rf):
    from django.contrib import admin

    prompt = make_prompt(member, text="before")
    prompt.text = "tidied by an admin"
    request = rf.post("/admin/studio/prompt/")
    request.user = admin_user
    admin.site._registry[Prompt].save_model(request, prompt, form=None, change=True)
    latest = prompt.versions.first()
    assert (latest.number, latest.text, latest.author, latest.note) == (
        2,
        "tidied by an admin",
        admin_user,
        "Edited in the admin",
    )


def test_letting_owners_approve_is_audited(admin_user, rf):
    from django.contrib import admin

    settings_admin = admin.site._registry[LibrarySettings]
    request = rf.post("/admin/studio/librarysettings/1/change/")
    request.user = admin_user
    settings_admin.save_model(request, LibrarySettings(owners_may_approve=True), None, False)
    settings_admin.save_model(request, LibrarySettings(owners_may_approve=True), None, True)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.LIBRARY_SETTINGS)  # one: a change
    assert (entry.before, entry.after, entry.actor) == (
        {"owners_may_approve": False},
        {"owners_may_approve": True},
        admin_user,
    )
    assert LibrarySettings.objects.get().owners_may_approve
