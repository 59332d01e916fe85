"""The library's export and import: plain functions the views call.

The file is JSON, versioned: `{"format": "studio-prompts", "version": 1, "exported_at": ...,
"prompts": [...]}` (docs/prompt-library.md). An import is planned first (`plan`): each record
is created, updated or skipped, or refused with a message; `apply` writes the plan in one
transaction, and only a plan with no refused record. Nothing here trusts a plan made earlier:
the view plans again, from the stored upload, when the member confirms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.prompt_variables import TemplateError, merge, parse

from . import versioning
from .forms import template_errors
from .models import SETTING_KEYS, Prompt, PromptVersion, normalise_tags

FORMAT = "studio-prompts"
VERSION = 1
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_RECORDS = 1000
MAX_VERSIONS = 200
MAX_TEXT = 20_000

PROMPT_FIELDS = {
    "title",
    "text",
    "lyrics",
    "model",
    "settings",
    "tags",
    "private",
    "variables",
    "versions",
}
VERSION_FIELDS = {
    "number",
    "title",
    "text",
    "lyrics",
    "model",
    "settings",
    "tags",
    "author",
    "created_at",
    "note",
    "approved",
}


class FileRefused(ValueError):
    """The upload as a whole cannot be read; the message is for the member."""


# --- export ---------------------------------------------------------------------------------


def _variables(text: str, lyrics: str) -> list[dict]:
    """The variables as jobs.prompt_variables reads them (a saved prompt always parses)."""
    try:
        found = merge({"prompt": parse(text, "prompt"), "lyrics": parse(lyrics, "lyrics")})
    except TemplateError:  # saved before templates were checked: no variables to offer
        return []
    return [
        {
            "name": v.name,
            "kind": v.kind,
            "options": list(v.options),
            "low": None if v.low is None else str(v.low),
            "high": None if v.high is None else str(v.high),
            "default": v.default,
        }
        for v in found
    ]


def _version(version: PromptVersion) -> dict:
    return {
        "number": version.number,
        "title": version.title,
        "text": version.text,
        "lyrics": version.lyrics,
        "model": version.model_id,
        "settings": version.settings or {},
        "tags": version.tag_list,
        "author": version.author.get_username() if version.author else None,
        "created_at": version.created_at.isoformat(),
        "note": version.note,
        "approved": version.approved,
    }


def export(prompts: Iterable[Prompt], now: datetime | None = None) -> dict:
    """The prompts, each with its versions oldest first, as the file's dictionary."""
    records = []
    for prompt in prompts:
        versions = prompt.versions.select_related("author").order_by("number")
        records.append(
            {
                "title": prompt.title,
                "text": prompt.text,
                "lyrics": prompt.lyrics,
                "model": prompt.model_id,
                "settings": prompt.settings or {},
                "tags": prompt.tag_list,
                "private": prompt.private,
                "variables": _variables(prompt.text, prompt.lyrics),
                "versions": [_version(v) for v in versions],
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": (now or timezone.now()).isoformat(),
        "prompts": records,
    }


def dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- reading a file -------------------------------------------------------------------------


def read(raw: bytes) -> list:
    """The records of an uploaded file, or FileRefused saying what is wrong with it."""
    if len(raw) > MAX_FILE_BYTES:
        raise FileRefused(
            f"The file is {len(raw) / 1024 / 1024:.1f} MB; an import takes at most "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB. Export a filtered part of the library instead."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused("The file is not UTF-8 text: choose a JSON file.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileRefused(
            f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FileRefused(
            f'This is not a Studio prompt export: its top level needs "format": "{FORMAT}".'
        )
    if data.get("version") != VERSION:
        raise FileRefused(
            f"This export is format version {data.get('version')!r}; this Studio reads "
            f"version {VERSION}."
        )
    records = data.get("prompts")
    if not isinstance(records, list):
        raise FileRefused('The file needs a "prompts" list.')
    if not records:
        raise FileRefused("The file holds no prompts.")
    if len(records) > MAX_RECORDS:
        raise FileRefused(f"The file holds {len(records)} prompts; at most {MAX_RECORDS}.")
    return records


# --- checking a record ----------------------------------------------------------------------


@dataclass
class Content:
    """A prompt's or a version's content as the library stores it."""

    title: str
    text: str
    lyrics: str
    model_id: str
    settings: dict
    tags: list[str]

    def put_on(self, prompt: Prompt) -> None:
        prompt.title, prompt.text, prompt.lyrics = self.title, self.text, self.lyrics
        prompt.model_id, prompt.settings = self.model_id, self.settings
        prompt.set_tags(self.tags)


@dataclass
class FileVersion:
    number: int
    content: Content
    author: str
    created_at: str
    note: str
    approved: bool


def _string(record: dict, name: str, problems: list[str], *, limit: int, needed=False) -> str:
    value = record.get(name, "")
    if value is None and not needed:
        return ""
    if not isinstance(value, str):
        problems.append(f"{name} must be text, not {_json_type(value)}")
        return ""
    if needed and not value.strip():
        problems.append(f"{name} is missing" if name not in record else f"{name} is empty")
    if len(value) > limit:
        problems.append(f"{name} is longer than {limit:,} characters")
    return value.strip() if name == "title" else value


def _json_type(value) -> str:
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _content(record: dict, problems: list[str]) -> Content:
    title = _string(record, "title", problems, limit=120, needed=True)
    text = _string(record, "text", problems, limit=MAX_TEXT, needed=True)
    lyrics = _string(record, "lyrics", problems, limit=MAX_TEXT)
    model_id = _string(record, "model", problems, limit=100)
    settings = record.get("settings") or {}
    if not isinstance(settings, dict):
        problems.append(f"settings must be an object, not {_json_type(settings)}")
        settings = {}
    for key, value in settings.items():
        if key not in SETTING_KEYS:
            problems.append(f"unknown setting “{key}” (known: {', '.join(SETTING_KEYS)})")
        elif not isinstance(value, str | int | float | bool) and value is not None:
            problems.append(f"setting {key} must be text, a number or true/false")
    tags = record.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append("tags must be a list of texts")
        tags = []
    for where, message in template_errors({"text": text, "lyrics": lyrics}).items():
        problems.append(f"{'the prompt' if where == 'text' else 'the lyrics'}: {message}")
    return Content(title, text, lyrics, model_id, dict(settings), normalise_tags(",".join(tags)))


def _unknown(record: dict, known: set[str]) -> str | None:
    unknown = sorted(set(record) - known)
    if not unknown:
        return None
    return f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"


def _file_version(entry, index: int, problems: list[str]) -> FileVersion | None:
    if not isinstance(entry, dict):
        problems.append(f"version {index} must be an object, not {_json_type(entry)}")
        return None
    mine: list[str] = []
    if message := _unknown(entry, VERSION_FIELDS):
        mine.append(message)
    number = entry.get("number", index)
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        mine.append("number must be a whole number from 1")
    content = _content(entry, mine)
    author = entry.get("author") or ""
    created_at = entry.get("created_at") or ""
    note = entry.get("note") or ""
    approved = entry.get("approved", False)
    if not isinstance(author, str):
        mine.append("author must be text")
    if not isinstance(created_at, str) or (created_at and parse_datetime(created_at) is None):
        mine.append("created_at must be a date and time (ISO 8601)")
    if not isinstance(note, str):
        mine.append("note must be text")
    if not isinstance(approved, bool):
        mine.append("approved must be true or false")
    problems += [f"version {index}: {message}" for message in mine]
    if mine:
        return None
    return FileVersion(number, content, author, created_at, note, approved)


# --- the plan -------------------------------------------------------------------------------

CREATE, UPDATE, SKIP, BAD = "create", "update", "skip", "bad"


@dataclass
class Step:
    """What the import does with one record of the file."""

    index: int  # 1-based, as the member counts records
    action: str
    title: str
    content: Content | None = None
    private: bool = False
    versions: list[FileVersion] = field(default_factory=list)
    target: Prompt | None = None  # the prompt updated, or the one a skipped record repeats
    reason: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class Plan:
    steps: list[Step]

    @property
    def bad(self) -> list[Step]:
        return [step for step in self.steps if step.action == BAD]

    def count(self, action: str) -> int:
        return sum(step.action == action for step in self.steps)

    @property
    def confirmable(self) -> bool:
        return not self.bad and any(s.action in (CREATE, UPDATE) for s in self.steps)


def _check(record, index: int) -> Step:
    if not isinstance(record, dict):
        return Step(index, BAD, "", problems=[f"must be an object, not {_json_type(record)}"])
    problems: list[str] = []
    if message := _unknown(record, PROMPT_FIELDS):
        problems.append(message)
    content = _content(record, problems)
    private = record.get("private", False)
    if not isinstance(private, bool):
        problems.append("private must be true or false")
    if not isinstance(record.get("variables", []), list):
        problems.append("variables must be a list")
    entries = record.get("versions") or []
    versions: list[FileVersion] = []
    if not isinstance(entries, list):
        problems.append("versions must be a list")
    elif len(entries) > MAX_VERSIONS:
        problems.append(f"more than {MAX_VERSIONS} versions")
    else:
        for number, entry in enumerate(entries, 1):
            if (version := _file_version(entry, number, problems)) is not None:
                versions.append(version)
        numbers = [v.number for v in versions]
        if len(set(numbers)) != len(numbers):
            problems.append("two versions have the same number")
        if sum(v.approved for v in versions) > 1:
            problems.append("more than one version is approved")
    step = Step(index, CREATE, content.title, content, private, sorted(versions, key=_number))
    if problems:
        step.action, step.problems = BAD, problems
    return step


def _number(version: FileVersion) -> int:
    return version.number


def plan(records: list, user) -> Plan:
    """What importing these records would do for this member, writing nothing.

    Against the prompts the member can see: the same title and text is a duplicate (skipped);
    the same title with another text updates that prompt when the member may edit it (a new
    version); anything else is created. A record repeating an earlier one of the file is
    skipped too, and one prompt is updated by one record at most.
    """
    visible = Prompt.objects.visible_to(user).order_by("-updated_at", "-id")
    steps: list[Step] = []
    seen: dict[tuple[str, str], int] = {}
    updated: set[int] = set()
    for index, record in enumerate(records, 1):
        step = _check(record, index)
        steps.append(step)
        if step.action == BAD:
            continue
        key = (step.content.title, step.content.text)
        if key in seen:
            step.action, step.reason = SKIP, f"the same as record {seen[key]} of this file"
            continue
        seen[key] = index
        same_title = list(visible.filter(title=step.content.title))
        duplicate = next((p for p in same_title if p.text == step.content.text), None)
        if duplicate is not None:
            step.action, step.target = SKIP, duplicate
            step.reason = "already in the library with this title and text"
            continue
        editable = [p for p in same_title if p.editable_by(user) and p.pk not in updated]
        if editable:
            step.action, step.target = UPDATE, editable[0]
            step.reason = "a prompt of this title has another text: it gets a new version"
            updated.add(editable[0].pk)
        else:
            step.reason = _create_reason(step, user)
    return Plan(steps)


def _create_reason(step: Step, user) -> str:
    kept = len(step.versions)
    reason = (
        f"a new prompt of yours, its {kept} versions replayed"
        if kept > 1
        else "a new prompt of yours"
    )
    approved = next((v for v in step.versions if v.approved), None)
    if approved is not None:
        if versioning.may_move_label(user, Prompt(author=user)):
            reason += f", version {approved.number} approved"
        else:
            reason += " (the approved label is left off: only an admin may set it)"
    return reason


# --- writing --------------------------------------------------------------------------------


class PlanRefused(ValueError):
    """A plan with a refused record (or nothing to do) is never written."""


def _imported_note(version: FileVersion) -> str:
    when = version.created_at[:10] or "an unknown date"
    note = f"Imported from {version.author or 'an unknown author'}, {when}"
    return f"{note}: {version.note}"[:200] if version.note else note


@transaction.atomic
def apply(import_plan: Plan, user) -> Plan:
    """Write the plan in one transaction: all of it or, on any error, nothing."""
    if not import_plan.confirmable:
        raise PlanRefused("Nothing can be imported: fix the records marked in the file.")
    for step in import_plan.steps:
        if step.action == CREATE:
            _create(step, user)
        elif step.action == UPDATE:
            prompt = Prompt.objects.select_for_update().get(pk=step.target.pk)
            step.content.put_on(prompt)
            versioning.save_prompt(prompt, user, note="Imported from a file")
    return import_plan


def _create(step: Step, user) -> Prompt:
    """The prompt with the file's versions replayed in order, by the importer, each noting its
    original author and date; then the record's own content if it differs from the last."""
    prompt = Prompt(author=user, private=step.private)
    approved = None
    for version in step.versions:
        version.content.put_on(prompt)
        saved = versioning.save_prompt(prompt, user, note=_imported_note(version))
        if version.approved:
            approved = saved or versioning.latest_version(prompt)
    step.content.put_on(prompt)
    versioning.save_prompt(prompt, user, note="Imported from a file")
    if approved is not None and versioning.may_move_label(user, prompt):
        versioning.set_approved(prompt, approved, user)
    step.target = prompt
    return prompt
