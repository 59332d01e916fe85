"""A readable diff between two versions of a library prompt, for the history page.

Plain data for a template (which escapes it): per field, the lines kept, removed and added, and
inside a changed line the words that changed, so a one-word edit in a long prompt shows as one
word, not as the whole paragraph removed and written again. difflib does the matching.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

from .models import PromptVersion

# The fields compared, as the page names them.
FIELDS = (
    ("title", "Title"),
    ("text", "Prompt"),
    ("lyrics", "Lyrics"),
    ("model_id", "Model"),
    ("settings", "Settings"),
    ("tags", "Tags"),
)


@dataclass(frozen=True)
class Piece:
    text: str
    changed: bool = False


@dataclass
class Line:
    kind: str  # "same", "removed" or "added"
    pieces: list[Piece] = field(default_factory=list)

    @property
    def sign(self) -> str:
        return {"same": " ", "removed": "−", "added": "+"}[self.kind]


@dataclass
class FieldDiff:
    name: str
    label: str
    lines: list[Line]

    @property
    def changed(self) -> bool:
        return any(line.kind != "same" for line in self.lines)


def _as_text(name: str, value) -> str:
    if name == "settings":
        return "\n".join(f"{k}: {json.dumps(v)}" for k, v in sorted((value or {}).items()))
    if name == "tags":
        return " ".join(f"#{tag}" for tag in (value or "").split(",") if tag)
    return value or ""


def _words(line: str) -> list[str]:
    return re.findall(r"\s+|[^\s]+", line)


def _word_pair(old: str, new: str) -> tuple[Line, Line]:
    """One line changed into another: the words each side has that the other has not."""
    a, b = _words(old), _words(new)
    removed, added = Line("removed"), Line("added")
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            removed.pieces.append(Piece("".join(a[i1:i2])))
            added.pieces.append(Piece("".join(b[j1:j2])))
            continue
        if i2 > i1:
            removed.pieces.append(Piece("".join(a[i1:i2]), changed=True))
        if j2 > j1:
            added.pieces.append(Piece("".join(b[j1:j2]), changed=True))
    return removed, added


def diff_lines(old: str, new: str) -> list[Line]:
    a, b = old.splitlines(), new.splitlines()
    lines: list[Line] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            lines += [Line("same", [Piece(text)]) for text in a[i1:i2]]
        else:
            removed, added = _replaced(a[i1:i2], b[j1:j2])
            lines += removed + added
    return lines


def _replaced(old: list[str], new: list[str]) -> tuple[list[Line], list[Line]]:
    """Lines replaced by others, paired in order: a pair still much alike shows the words that
    changed; any other line is wholly removed or added."""
    removed: list[Line] = []
    added: list[Line] = []
    for k in range(max(len(old), len(new))):
        x = old[k] if k < len(old) else None
        y = new[k] if k < len(new) else None
        if x is not None and y is not None and _alike(x, y):
            pair = _word_pair(x, y)
            removed.append(pair[0])
            added.append(pair[1])
            continue
        if x is not None:
            removed.append(Line("removed", [Piece(x, changed=True)]))
        if y is not None:
            added.append(Line("added", [Piece(y, changed=True)]))
    return removed, added


def _alike(x: str, y: str) -> bool:
    return difflib.SequenceMatcher(None, _words(x), _words(y), autojunk=False).ratio() >= 0.4


def compare(old: PromptVersion, new: PromptVersion) -> list[FieldDiff]:
    """Every field of the two versions; a field empty in both is left out."""
    diffs = []
    for name, label in FIELDS:
        a, b = _as_text(name, getattr(old, name)), _as_text(name, getattr(new, name))
        if a or b:
            diffs.append(FieldDiff(name, label, diff_lines(a, b)))
    return diffs
