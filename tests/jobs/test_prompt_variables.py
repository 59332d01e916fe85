"""The prompt variables' parser (jobs/prompt_variables.py): what it reads, where it says a
template goes wrong, and (hypothesis) that no input crashes it and no filled-in text holds a
variable again."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.prompt_variables import (
    TemplateError,
    ValueRefused,
    Variable,
    merge,
    parse,
    render_all,
)

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.too_slow],
)


def variables(text: str) -> list[Variable]:
    return parse(text).variables


# --- reading ------------------------------------------------------------------------------------


def test_text_select_and_number_with_defaults():
    found = variables(
        "{{mood|select:calm, dark ,upbeat}} at {{bpm|number:60-180=90}} for {{ who }}"
    )
    assert found == [
        Variable("mood", "select", options=("calm", "dark", "upbeat"), defined=True),
        Variable("bpm", "number", low=Decimal(60), high=Decimal(180), default="90", defined=True),
        Variable("who"),
    ]
    assert [v.required for v in found] == [True, False, True]


def test_plain_text_and_single_braces_have_no_variables():
    assert variables("") == []
    assert variables("a { single } brace, a set {a, b} and }{") == []
    assert parse("x { y").render({}) == "x { y"


def test_one_name_is_one_variable_and_a_bare_mention_takes_its_definition():
    assert variables("{{mood}} then {{mood|select:a,b=b}} and {{mood}}") == [
        Variable("mood", "select", options=("a", "b"), default="b", defined=True)
    ]
    both = merge({"prompt": parse("{{mood}} piano"), "lyrics": parse("I feel {{mood=blue}}")})
    assert both == [Variable("mood", default="blue", defined=True)]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("soft piano {{mood", "line 1, column 12: unclosed {{"),
        ("a\nb {{mood\n}}", "line 2, column 3: unclosed {{"),
        ("{{a {{b}}", "line 1, column 1: unclosed {{"),
        ("fine {{a}} and }} here", "line 1, column 16: }} without an opening {{"),
        ("{{}}", "line 1, column 1: a variable needs a name"),
        ("x\n  {{two words}}", "line 2, column 3: “two words” is not a variable name"),
        ("{{9lives}}", "line 1, column 1: “9lives” is not a variable name"),
        ("{{a|colour}}", "line 1, column 1: unknown type “colour”"),
        ("{{a|text:x}}", "line 1, column 1: a: text takes nothing after it"),
        ("{{a|select:}}", "line 1, column 1: a: list the choices"),
        ("{{a|number:1..5}}", "line 1, column 1: a: write the range as number:60-180"),
        ("{{a|number:9-1}}", "line 1, column 1: a: the range 9-1 is upside down"),
        ("{{a=}}", "line 1, column 1: empty default for a"),
        ("{{a|number:1-5=9}}", "line 1, column 1: the default of a does not fit"),
        ("{{a|select:x,y=z}}", "line 1, column 1: the default of a does not fit"),
        ("{{a|select:x}} {{a|select:y}}", "line 1, column 16: a is already defined differently"),
    ],
)
def test_a_malformed_template_says_where(text, where):
    with pytest.raises(TemplateError) as refused:
        variables(text)
    assert str(refused.value).startswith(where)


def test_two_definitions_across_prompt_and_lyrics_are_refused_naming_both_places():
    with pytest.raises(TemplateError) as refused:
        merge({"prompt": parse("{{bpm|number:60-180}}"), "lyrics": parse("\n {{bpm=90}}")})
    assert refused.value.where == "lyrics"
    assert str(refused.value) == (
        "line 2, column 2: bpm is already defined differently (prompt, line 1, column 1)"
    )


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "raw", "message"),
    [
        ("{{mood}}", "  ", "Fill this in."),
        ("{{mood}}", "{x}", "Braces { } cannot be used in a value."),
        ("{{mood}}", "x" * 201, "At most 200 characters."),
        ("{{mood|select:calm,dark}}", "loud", "Choose one of calm, dark."),
        ("{{bpm|number:60-180}}", "200", "Type a number from 60 to 180."),
        ("{{bpm|number:60-180}}", "59.9", "Type a number from 60 to 180."),
        ("{{bpm|number}}", "fast", "Type a number, such as 90 or 1.5."),
        ("{{bpm|number}}", "1e3", "Type a number, such as 90 or 1.5."),
    ],
)
def test_a_value_that_does_not_fit_says_why(template, raw, message):
    (variable,) = variables(template)
    with pytest.raises(ValueRefused, match=message.replace(".", r"\.")):
        variable.check(raw)


def test_values_fill_every_text_and_empty_takes_the_default():
    prompt = parse("{{mood|select:calm,dark}} beat at {{bpm|number:60-180=90}} bpm")
    lyrics = parse("feeling {{mood}}")
    found = merge({"prompt": prompt, "lyrics": lyrics})
    texts, refused = render_all(
        {"prompt": prompt, "lyrics": lyrics}, found, {"mood": "dark", "bpm": ""}
    )
    assert refused == {}
    assert texts == {"prompt": "dark beat at 90 bpm", "lyrics": "feeling dark"}


def test_every_refused_value_is_named_and_nothing_is_filled():
    prompt = parse("{{mood|select:calm,dark}} {{bpm|number:60-180}} {{who}}")
    texts, refused = render_all(
        {"prompt": prompt}, prompt.variables, {"mood": "loud", "bpm": "7", "who": "Ann"}
    )
    assert texts == {}
    assert refused == {"mood": "Choose one of calm, dark.", "bpm": "Type a number from 60 to 180."}


# --- properties (hypothesis) --------------------------------------------------------------------

# Text heavy in the characters the syntax uses, with any unicode mixed in.
SYNTAX = st.sampled_from(list("{}|:=,-. \n") + ["{{", "}}", "select", "number", "text", "9"])
ANY_TEXT = st.lists(SYNTAX | st.text(st.characters(codec="utf-8"), max_size=4), max_size=30).map(
    "".join
)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
# A value or choice: anything on one line but what the syntax uses there.
WORDS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Zl", "Zp"), exclude_characters="{}|=,"),
    max_size=8,
)


@st.composite
def definitions(draw) -> str:
    """The inside of a well-formed `{{ }}`."""
    name = draw(NAMES)
    kind = draw(st.sampled_from(["", "text", "select", "number", "range"]))
    if kind == "select":
        options = draw(st.lists(WORDS.filter(str.strip), min_size=1, max_size=4))
        spec = "|select:" + ",".join(options)
        default = draw(st.none() | st.sampled_from(options))
    elif kind in ("number", "range"):
        low = draw(st.integers(-500, 500))
        high = low + draw(st.integers(0, 500))
        spec = f"|number:{low}-{high}" if kind == "range" else "|number"
        default = draw(st.none() | st.integers(low, high).map(str))
    else:
        spec = "|text" if kind else ""
        default = draw(st.none() | WORDS.filter(str.strip))
    return name + spec + ("" if default is None else f"={default}")


# Well-formed templates: words, single braces (never two in a row) and variables.
LITERALS = st.text(st.characters(codec="utf-8", exclude_characters="{}"), max_size=10) | (
    st.sampled_from([" { ", " } ", "{a} ", " }{ "])
)
TEMPLATES = st.lists(LITERALS | definitions().map(lambda d: "{{" + d + "}}"), max_size=8).map(
    "".join
)


@st.composite
def fitting_values(draw, found: list[Variable]) -> dict[str, str]:
    values = {}
    for variable in found:
        if variable.kind == "select":
            values[variable.name] = draw(st.sampled_from(variable.options))
        elif variable.kind == "number":
            low = -(10**6) if variable.low is None else variable.low
            high = 10**6 if variable.high is None else variable.high
            number = draw(st.decimals(low, high, places=2, allow_nan=False))
            values[variable.name] = str(number)
        else:
            values[variable.name] = draw(st.just("") | WORDS)
    return values


@PROPERTY
@given(text=ANY_TEXT | TEMPLATES)
def test_no_input_crashes_the_parser(text):
    try:
        template = parse(text, "prompt")
        found = merge({"prompt": template})
    except TemplateError as exc:
        assert exc.line >= 1 and exc.column >= 1 and exc.where == "prompt"
        # Where it says, by counting afresh.
        lines = text.split("\n")
        index = sum(len(line) + 1 for line in lines[: exc.line - 1]) + exc.column - 1
        assert exc.column <= len(lines[exc.line - 1])
        assert text[index : index + 2] in ("{{", "}}")
        return
    # What parsed, without its variables, is the text itself.
    if not found:
        assert template.render({}) == text


@PROPERTY
@given(text=ANY_TEXT | TEMPLATES, raw=ANY_TEXT)
def test_any_value_is_taken_or_refused_with_a_message(text, raw):
    try:
        found = variables(text)
    except TemplateError:
        return
    for variable in found:
        try:
            value = variable.check(raw)
        except ValueRefused as exc:
            assert str(exc)
        else:
            assert value and "{" not in value and "}" not in value


@PROPERTY
@given(data=st.data(), text=TEMPLATES | ANY_TEXT, lyrics=TEMPLATES)
def test_what_is_rendered_re_parses_to_no_variables(data, text, lyrics):
    try:
        templates = {"prompt": parse(text), "lyrics": parse(lyrics)}
        found = merge(templates)
    except TemplateError:
        return
    raw = data.draw(fitting_values(found))
    texts, refused = render_all(templates, found, raw)
    # An empty text value is refused unless there is a default; the rest always fits.
    assert set(refused) <= {v.name for v in found if v.required and not raw[v.name].strip()}
    for rendered in texts.values():
        assert variables(rendered) == []
        assert "{{" not in rendered and "}}" not in rendered


@PROPERTY
@given(text=TEMPLATES)
def test_well_formed_templates_parse(text):
    try:
        assert all(v.name for v in variables(text))
    except TemplateError as exc:
        # Only one name defined two different ways is refused in these.
        assert "already defined differently" in str(exc)
