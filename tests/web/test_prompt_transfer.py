"""The library's export format and the import plan as plain functions (studio/transfer.py):
what a file holds, what an import would create, update or skip, the records it refuses, that it
writes all or nothing, and that export → wipe → import gives the library back."""

from __future__ import annotations

import json

import pytest

from studio import transfer, versioning
from studio.models import LibrarySettings, Prompt, PromptVersion

from .ui_helpers import make_prompt

pytestmark = pytest.mark.django_db


def record(**fields) -> dict:
    values = {"title": "Rainy cafe", "text": "soft rain and piano", "model": "elevenlabs-music"}
    values.update(fields)
    return values


def file_of(*records) -> bytes:
    return json.dumps({"format": "studio-prompts", "version": 1, "prompts": list(records)}).encode()


def actions(plan) -> list[str]:
    return [step.action for step in plan.steps]


def library_state() -> list[tuple]:
    """What the round trip must reproduce, by title."""
    rows = []
    for prompt in Prompt.objects.order_by("title"):
        use = versioning.version_for_use(prompt)
        rows.append(
            (
                prompt.title,
                prompt.text,
                prompt.lyrics,
                prompt.model_id,
                prompt.settings,
                prompt.tag_list,
                prompt.private,
                (use.text, use.settings, use.approved) if use else None,
            )
        )
    return rows


def test_the_export_holds_each_prompt_with_its_variables_and_versions(member, admin_user):
    prompt = make_prompt(
        member,
        title="Boss fight",
        text="epic drums at {{bpm|number:60-180=120}} bpm, {{mood|select:dark,heroic}}",
        lyrics="we rise {{mood}}",
        settings={"duration_seconds": 90},
        tags=["game", "epic"],
        private=True,
    )
    prompt.text = "epic drums at {{bpm|number:60-180=120}} bpm, {{mood|select:dark,heroic}}!"
    versioning.save_prompt(prompt, member, note="louder")
    versioning.set_approved(prompt, prompt.versions.get(number=1), admin_user)

    data = json.loads(transfer.dumps(transfer.export(Prompt.objects.all())))
    assert data["format"] == "studio-prompts" and data["version"] == 1 and data["exported_at"]
    [exported] = data["prompts"]
    assert exported["title"] == "Boss fight" and exported["text"].endswith("heroic}}!")
    assert (exported["model"], exported["settings"]) == (
        "elevenlabs-music",
        {"duration_seconds": 90},
    )
    assert (exported["tags"], exported["private"], exported["lyrics"]) == (
        ["game", "epic"],
        True,
        "we rise {{mood}}",
    )
    assert exported["variables"] == [
        {
            "name": "bpm",
            "kind": "number",
            "options": [],
            "low": "60",
            "high": "180",
            "default": "120",
        },
        {
            "name": "mood",
            "kind": "select",
            "options": ["dark", "heroic"],
            "low": None,
            "high": None,
            "default": None,
        },
    ]
    first, second = exported["versions"]
    assert (first["number"], first["approved"], first["author"]) == (1, True, "member")
    assert (second["number"], second["approved"], second["note"]) == (2, False, "louder")
    assert first["text"].endswith("heroic}}") and first["created_at"]
    assert set(exported) == transfer.PROMPT_FIELDS and set(first) == transfer.VERSION_FIELDS


def test_the_plan_creates_updates_and_skips_and_writes_nothing(member, other):
    make_prompt(member, title="Same", text="same text")
    make_prompt(member, title="Mine, changed", text="old text")
    make_prompt(other, title="Theirs, changed", text="their text")
    make_prompt(other, title="Their secret", text="secret text", private=True)
    before = list(PromptVersion.objects.values())
    records = [
        record(title="Same", text="same text"),  # duplicate: skipped
        record(title="Mine, changed", text="new text"),  # mine: updated
        record(title="Theirs, changed", text="my text"),  # not mine to edit: created
        record(title="Their secret", text="secret text"),  # not visible to me: created
        record(title="Brand new"),
        record(title="Brand new"),  # repeats record 5
    ]
    plan = transfer.plan(transfer.read(file_of(*records)), member)
    assert actions(plan) == ["skip", "update", "create", "create", "create", "skip"]
    assert "record 5" in plan.steps[5].reason
    assert plan.confirmable and not plan.bad
    assert list(PromptVersion.objects.values()) == before and Prompt.objects.count() == 4

    transfer.apply(plan, member)
    changed = Prompt.objects.get(title="Mine, changed")
    assert changed.text == "new text" and changed.versions.count() == 2
    assert changed.versions.first().note == "Imported from a file"
    assert Prompt.objects.filter(title="Theirs, changed").count() == 2
    assert Prompt.objects.get(title="Brand new").author == member
    assert Prompt.objects.count() == 7


def test_each_bad_record_says_why_and_nothing_can_be_confirmed(member):
    records = [
        record(),
        record(title=""),
        {"text": "no title at all"},
        record(text="a {{broken variable", title="Broken"),
        record(title="Clash", text="{{mood|select:a,b}}", lyrics="{{mood|number}}"),
        record(title="Extra", colour="blue", settings={"tempo": 3}),
        record(title="Types", private="yes", tags="a,b", settings=[1], lyrics=5),
        record(title="Versions", versions=[{"number": "one", "title": "x", "text": "y"}]),
        "just a string",
    ]
    plan = transfer.plan(transfer.read(file_of(*records)), member)
    assert actions(plan) == ["create"] + ["bad"] * 8 and not plan.confirmable
    problems = {step.index: " | ".join(step.problems) for step in plan.bad}
    assert problems[2] == "title is empty"
    assert problems[3] == "title is missing"
    assert problems[4] == "the prompt: line 1, column 3: unclosed {{"
    assert "the lyrics: line 1, column 1: mood is already defined differently" in problems[5]
    assert "unknown field colour" in problems[6] and "unknown setting “tempo”" in problems[6]
    for words in ("lyrics must be text", "settings must be an object", "tags must be a list"):
        assert words in problems[7]
    assert "private must be true or false" in problems[7]
    assert problems[8] == "version 1: number must be a whole number from 1"
    assert problems[9] == "must be an object, not text"
    with pytest.raises(transfer.PlanRefused):
        transfer.apply(plan, member)
    assert not Prompt.objects.exists()


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"{not json", "not valid JSON (line 1, column 2"),
        (b"[1, 2]", "not a Studio prompt export"),
        (b'{"format": "other", "prompts": []}', "not a Studio prompt export"),
        (b'{"format": "studio-prompts", "version": 9, "prompts": []}', "format version 9"),
        (b'{"format": "studio-prompts", "version": 1, "prompts": {}}', '"prompts" list'),
        (b'{"format": "studio-prompts", "version": 1, "prompts": []}', "holds no prompts"),
        (b"x" * (transfer.MAX_FILE_BYTES + 1), "at most 2 MB"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(raw, words):
    with pytest.raises(transfer.FileRefused, match=None) as refused:
        transfer.read(raw)
    assert words in str(refused.value)


def test_an_error_while_writing_leaves_nothing_half_imported(member, monkeypatch):
    plan = transfer.plan(transfer.read(file_of(record(title="A"), record(title="B"))), member)
    real = transfer._create

    def fail_on_b(step, user):
        if step.title == "B":
            raise RuntimeError("disk full")
        return real(step, user)

    monkeypatch.setattr(transfer, "_create", fail_on_b)
    with pytest.raises(RuntimeError):
        transfer.apply(plan, member)
    assert not Prompt.objects.exists() and not PromptVersion.objects.exists()


def test_export_wipe_import_gives_the_library_back(member, admin_user):
    rain = make_prompt(
        member, title="Rain", text="rain {{mood=calm}}", tags=["lofi"], settings={"speed": "1.1"}
    )
    rain.text = "heavy rain {{mood=calm}}"
    versioning.save_prompt(rain, member, note="heavier")
    rain.text = "storm {{mood=calm}}"
    versioning.save_prompt(rain, admin_user)
    versioning.set_approved(rain, rain.versions.get(number=2), admin_user)
    make_prompt(member, title="Secret", text="mine only", private=True, lyrics="la la")
    make_prompt(admin_user, title="Jingle", text="a short jingle", model_id="", settings={})
    before = library_state()
    exported = transfer.dumps(transfer.export(Prompt.objects.all()))

    Prompt.objects.all().delete()
    plan = transfer.plan(transfer.read(exported.encode()), admin_user)
    assert actions(plan) == ["create"] * 3
    transfer.apply(plan, admin_user)

    assert library_state() == before
    rain = Prompt.objects.get(title="Rain")
    versions = list(rain.versions.order_by("number"))
    assert [v.text for v in versions] == [
        "rain {{mood=calm}}",
        "heavy rain {{mood=calm}}",
        "storm {{mood=calm}}",
    ]
    assert [v.approved for v in versions] == [False, True, False]
    assert versions[1].note.startswith("Imported from member, 20") and "heavier" in versions[1].note
    assert all(v.author == admin_user for v in versions)
    # Imported again: every record is already there.
    assert actions(transfer.plan(transfer.read(exported.encode()), admin_user)) == ["skip"] * 3


def test_a_member_importing_keeps_the_versions_but_not_the_approved_label(member, admin_user):
    prompt = make_prompt(member, title="Rain", text="rain")
    prompt.text = "more rain"
    versioning.save_prompt(prompt, member)
    versioning.set_approved(prompt, prompt.versions.get(number=1), admin_user)
    exported = transfer.dumps(transfer.export(Prompt.objects.all())).encode()
    Prompt.objects.all().delete()

    plan = transfer.plan(transfer.read(exported), member)
    assert "only an admin may set it" in plan.steps[0].reason
    transfer.apply(plan, member)
    assert not PromptVersion.objects.filter(approved=True).exists()

    # Where the admin lets owners approve, the member's import carries the label.
    LibrarySettings.objects.update_or_create(pk=1, defaults={"owners_may_approve": True})
    Prompt.objects.all().delete()
    transfer.apply(transfer.plan(transfer.read(exported), member), member)
    assert PromptVersion.objects.get(approved=True).text == "rain"
