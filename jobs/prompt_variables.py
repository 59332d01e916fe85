"""A prompt's typed variables: `{{mood}}`, `{{mood|select:calm,dark}}`, `{{bpm|number:60-180=90}}`.

Plain Python, no Django: the library (studio) checks a template when it is saved, the generate
form (jobs) asks for the values and fills the text in. Nothing here knows about either.

The rules, chosen so that a filled-in text never holds a variable again:
- `{{` always opens a variable and `}}` always closes one; a literal `{{` or `}}` is refused
  (there is no escape: Venice gets no double braces, and a text that had them would be read
  as a template again when saved to the library). A single `{` or `}` is plain text.
- A value never holds a brace, so it cannot form `{{` or `}}` with the text around it.
- One name is one variable: it may be written again bare (`{{mood}}`) or identically, in the
  prompt or in the lyrics; two different definitions of it are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Literal

Kind = Literal["text", "select", "number"]

OPEN, CLOSE = "{{", "}}"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
NUMBER = re.compile(r"-?\d{1,9}(?:\.\d{1,6})?")
RANGE = re.compile(rf"({NUMBER.pattern})-({NUMBER.pattern})")
MAX_OPTIONS = 50
MAX_VALUE_LENGTH = 200


class TemplateError(ValueError):
    """A malformed template, with where it goes wrong (1-based line and column)."""

    def __init__(self, message: str, line: int, column: int, where: str = ""):
        self.message, self.line, self.column, self.where = message, line, column, where
        super().__init__(str(self))

    def __str__(self) -> str:
        # `where` (which text) is for the caller to place the error; the message is the same.
        return f"line {self.line}, column {self.column}: {self.message}"


class ValueRefused(ValueError):
    """A value that does not fit its variable; the message is for the member."""


@dataclass(frozen=True)
class Variable:
    name: str
    kind: Kind = "text"
    options: tuple[str, ...] = ()
    low: Decimal | None = None
    high: Decimal | None = None
    default: str | None = None
    # Written with a type or a default (`{{mood|select:a,b}}`), not bare (`{{mood}}`).
    defined: bool = False

    @property
    def required(self) -> bool:
        return self.default is None

    def describe(self) -> str:
        """What the member may type, in words (a list of choices says it by itself)."""
        if self.kind == "number":
            if self.low is not None and self.high is not None:
                return f"A number from {self.low} to {self.high}."
            return "A number."
        return ""

    def check(self, raw: str) -> str:
        """The value to put in the text, or ValueRefused saying why not. Empty takes the
        default."""
        value = (raw or "").strip()
        if not value:
            if self.default is None:
                raise ValueRefused("Fill this in.")
            return self.default
        if "{" in value or "}" in value:
            raise ValueRefused("Braces { } cannot be used in a value.")
        if len(value) > MAX_VALUE_LENGTH:
            raise ValueRefused(f"At most {MAX_VALUE_LENGTH} characters.")
        if self.kind == "select" and value not in self.options:
            raise ValueRefused(f"Choose one of {', '.join(self.options)}.")
        if self.kind == "number":
            return self._check_number(value)
        return value

    def _check_number(self, value: str) -> str:
        if not NUMBER.fullmatch(value):
            raise ValueRefused("Type a number, such as 90 or 1.5.")
        number = Decimal(value)
        low, high = self.low, self.high
        if low is not None and high is not None and not low <= number <= high:
            raise ValueRefused(f"Type a number from {low} to {high}.")
        return value


@dataclass(frozen=True)
class Slot:
    """Where a variable stands in a template."""

    variable: Variable
    line: int
    column: int


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Slot, ...]

    @property
    def variables(self) -> list[Variable]:
        return merge({"": self})

    def pieces(self, values: Mapping[str, str]) -> list[tuple[str, str]]:
        """The text for a preview: (text, "") for the template's own words, (value, name) for a
        filled variable and ("", name) for one still empty."""
        return [
            (part, "")
            if isinstance(part, str)
            else (values.get(part.variable.name, ""), part.variable.name)
            for part in self.parts
        ]

    def render(self, values: Mapping[str, str]) -> str:
        """The text with each variable's value (already checked) in its place."""
        return "".join(
            part if isinstance(part, str) else values[part.variable.name] for part in self.parts
        )


class _Lines:
    """Line and column of positions met in increasing order, counting each newline once (a
    long text with many variables stays linear)."""

    def __init__(self, text: str):
        self.text, self.counted, self.line, self.line_start = text, 0, 1, 0

    def at(self, index: int) -> tuple[int, int]:
        self.line += self.text.count("\n", self.counted, index)
        if (newline := self.text.rfind("\n", self.counted, index)) >= 0:
            self.line_start = newline + 1
        self.counted = index
        return self.line, index - self.line_start + 1


def parse(text: str, where: str = "") -> Template:
    """The template in `text`, or TemplateError saying where it goes wrong."""
    parts: list[str | Slot] = []
    lines = _Lines(text)
    index = 0
    while True:
        start = text.find(OPEN, index)
        literal = text[index:] if start < 0 else text[index:start]
        if (stray := literal.find(CLOSE)) >= 0:
            raise TemplateError("}} without an opening {{", *lines.at(index + stray), where)
        if literal:
            parts.append(literal)
        if start < 0:
            return Template(tuple(parts))
        end = text.find(CLOSE, start + 2)
        line, column = lines.at(start)
        if end < 0:
            raise TemplateError("unclosed {{", line, column, where)
        inner = text[start + 2 : end]
        if OPEN in inner or "\n" in inner:
            raise TemplateError("unclosed {{", line, column, where)
        try:
            variable = _variable(inner)
        except ValueError as exc:
            raise TemplateError(str(exc), line, column, where) from None
        parts.append(Slot(variable, line, column))
        index = end + 2


def _variable(inner: str) -> Variable:
    head, has_default, default = inner.partition("=")
    name, has_kind, spec = head.partition("|")
    name = name.strip()
    if not NAME.fullmatch(name):
        shown = f"“{name[:40]}” is not a variable name" if name else "a variable needs a name"
        raise ValueError(f"{shown} (letters, digits and _, up to 40)")
    variable = Variable(name=name, defined=bool(has_kind or has_default))
    if has_kind:
        variable = _typed(variable, spec.strip())
    if has_default:
        default = default.strip()
        if not default:
            raise ValueError(f"empty default for {name}: leave out the =")
        try:
            variable.check(default)
        except ValueRefused as exc:
            raise ValueError(f"the default of {name} does not fit: {exc}") from None
        variable = replace(variable, default=default)
    return variable


def _typed(variable: Variable, spec: str) -> Variable:
    kind, _, args = spec.partition(":")
    kind = kind.strip()
    if kind == "text":
        if args.strip():
            raise ValueError(f"{variable.name}: text takes nothing after it")
        return variable
    if kind == "select":
        options = tuple(dict.fromkeys(o.strip() for o in args.split(",") if o.strip()))
        if not options:
            raise ValueError(f"{variable.name}: list the choices, as select:calm,dark")
        if len(options) > MAX_OPTIONS or any(len(o) > MAX_VALUE_LENGTH for o in options):
            raise ValueError(f"{variable.name}: too many or too long choices")
        if any(c in o for o in options for c in "{}|"):
            raise ValueError(f"{variable.name}: a choice cannot hold {{, }} or |")
        return Variable(variable.name, "select", options=options, defined=True)
    if kind == "number":
        args = args.strip()
        if not args:
            return Variable(variable.name, "number", defined=True)
        match = RANGE.fullmatch(args)
        if not match:
            raise ValueError(f"{variable.name}: write the range as number:60-180")
        try:
            low, high = Decimal(match[1]), Decimal(match[2])
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise ValueError(f"{variable.name}: write the range as number:60-180") from None
        if low > high:
            raise ValueError(f"{variable.name}: the range {low}-{high} is upside down")
        return Variable(variable.name, "number", low=low, high=high, defined=True)
    raise ValueError(f"unknown type “{kind}”: use text, select or number")


def merge(templates: Mapping[str, Template]) -> list[Variable]:
    """The variables of these templates (keyed by where they are written), once each, in order
    of first use. A bare mention (`{{mood}}`) takes the definition written elsewhere; two
    different definitions are refused."""
    found: dict[str, Variable] = {}
    first: dict[str, str] = {}
    for place, template in templates.items():
        for part in template.parts:
            if isinstance(part, str):
                continue
            new, old = part.variable, found.get(part.variable.name)
            if old is None or (new.defined and not old.defined):
                found[new.name] = new
                first[new.name] = (
                    f"{place + ', ' if place else ''}line {part.line}, column {part.column}"
                )
            elif new.defined and new != old:
                raise TemplateError(
                    f"{new.name} is already defined differently ({first[new.name]})",
                    part.line,
                    part.column,
                    place,
                )
    return list(found.values())


def check_all(
    variables: Iterable[Variable], raw: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The value of each variable that fits (by name), and a message for each that does not."""
    values: dict[str, str] = {}
    refused: dict[str, str] = {}
    for variable in variables:
        try:
            values[variable.name] = variable.check(raw.get(variable.name, ""))
        except ValueRefused as exc:
            refused[variable.name] = str(exc)
    return values, refused


def render_all(
    templates: Mapping[str, Template], variables: Iterable[Variable], raw: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each template filled in, and a message per refused value (by variable name). The texts
    are only given when there is no message."""
    values, refused = check_all(variables, raw)
    if refused:
        return {}, refused
    return {key: template.render(values) for key, template in templates.items()}, {}
