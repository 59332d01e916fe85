"""Bad input on every form a member or admin posts: a clear error, and nothing changed.

Property-based (hypothesis): each example is a request with at least one input that must be
refused (too short or too long, empty, a NUL, a number out of range, an option the model does
not take, lyrics with the optimizer, a forged model id...), the other fields drawn from all of
unicode, control characters included. Each must come back as a form error with a message, or a
4xx: never a 500, never a row written, never a paid call.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from axes.utils import reset
from django.db.models import Sum
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jobs.models import Job, JobEvent
from studio.models import Prompt
from tests.reliability_helpers import record
from tests.twofactor_helpers import sign_in_staff
from wallets.models import Budget, TopUp, Wallet

from .ui_helpers import make_prompt

pytestmark = pytest.mark.django_db

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.too_slow],
)


def record_examples(scenario: str, seen: Counter) -> None:
    record(
        scenario,
        "each example has at least one input to refuse (the kinds below), the rest any "
        "unicode: a form error with a message (or a 4xx), no 500, no row written, no queue "
        "or top-up call",
        examples=sum(seen.values()),
        kinds=dict(sorted(seen.items())),
    )


# Everything unicode has, control characters and NUL included (but no lone surrogates, which
# cannot be encoded in a request at all).
ANY = st.characters(codec="utf-8")
TEXT = st.text(ANY, max_size=40)
CONTROLS = st.text(
    st.characters(max_codepoint=31) | st.sampled_from("\x7f\x85\u200b\u202e\ufeff"),
    min_size=1,
    max_size=4,
)
WORDS = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12)
FORGED_MODELS = st.one_of(
    st.sampled_from(
        ["stable-audio-25", "elevenlabs-voice-changer", "gpt-4o", "../../etc/passwd", "", " "]
    ),
    TEXT.filter(
        lambda t: (
            t
            not in {
                "elevenlabs-music",
                "minimax-music-v25",
                "elevenlabs-sound-effects-v2",
                "elevenlabs-tts-v4",
                "ace-step-15",
            }
        )
    ),
)


def valid_fields(model_id: str) -> dict:
    """A request the model accepts, to which one bad input is then added."""
    return {
        "elevenlabs-music": {"prompt": "warm lo-fi beat with soft piano", "duration_seconds": "30"},
        "minimax-music-v25": {"prompt": "an upbeat synth pop chorus", "force_instrumental": "on"},
        "elevenlabs-sound-effects-v2": {"prompt": "rain on a tin roof", "duration_seconds": "4"},
        "elevenlabs-tts-v4": {"prompt": "The render is ready.", "voice": "Rachel", "speed": "1.0"},
        "ace-step-15": {
            "prompt": "folk ballad about harbour lights",
            "lyrics_prompt": "lights on the water",
            "duration_seconds": "30",
        },
    }[model_id]


MIN_PROMPT = {
    "elevenlabs-music": 10,
    "minimax-music-v25": 10,
    "elevenlabs-sound-effects-v2": 3,
    "elevenlabs-tts-v4": 1,
    "ace-step-15": 10,
}
MAX_PROMPT = {
    "elevenlabs-music": 2000,
    "minimax-music-v25": 2000,
    "elevenlabs-sound-effects-v2": 450,
    "elevenlabs-tts-v4": 5000,
    "ace-step-15": 1000,
}
MODELS = st.sampled_from(list(MIN_PROMPT))


def _not_an_integer(text: str) -> bool:
    # int() (and so Django's IntegerField) reads any script's digits: "٣٠" is 30, not bad input.
    try:
        int(text.strip())
    except ValueError:
        return True
    return False


@st.composite
def bad_generate_request(draw) -> tuple[str, dict]:
    """(what is wrong, POST data): one input the form must refuse, whatever else is there."""
    model_id = draw(MODELS)
    data = {"model": model_id, **valid_fields(model_id)}
    if draw(st.booleans()):
        data["private"] = draw(st.sampled_from(["on", "1", "true", "", "no"]))
    kind = draw(
        st.sampled_from(
            [
                "short prompt",
                "long prompt",
                "NUL in prompt",
                "forged model",
                "duration out of range",
                "duration not a number",
                "speed out of range",
                "voice not offered",
                "language not a code",
                "lyrics with optimizer",
                "lyrics too long",
                "lyrics missing",
                "library prompt not a number",
                "library version not a number",
            ]
        )
    )
    if kind == "short prompt":
        short = draw(st.text(st.characters(categories=("L",)), max_size=MIN_PROMPT[model_id] - 1))
        data["prompt"] = draw(st.sampled_from(["", " ", "\n\t "])) + short
    elif kind == "long prompt":
        extra = draw(st.integers(1, 300))
        data["prompt"] = draw(WORDS) * (MAX_PROMPT[model_id] + extra)
    elif kind == "NUL in prompt":
        text = data["prompt"]
        at = draw(st.integers(0, len(text)))
        data["prompt"] = text[:at] + "\x00" + text[at:]
    elif kind == "forged model":
        data["model"] = draw(FORGED_MODELS)
    elif kind == "duration out of range":
        model_id = draw(st.sampled_from(["elevenlabs-music", "elevenlabs-sound-effects-v2"]))
        data = {"model": model_id, **valid_fields(model_id)}
        low, high = {"elevenlabs-music": (10, 300), "elevenlabs-sound-effects-v2": (1, 22)}[
            model_id
        ]
        data["duration_seconds"] = str(
            draw(st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1)))
        )
    elif kind == "duration not a number":
        model_id = draw(st.sampled_from(["elevenlabs-music", "ace-step-15"]))
        data = {"model": model_id, **valid_fields(model_id)}
        data["duration_seconds"] = draw(
            st.one_of(
                st.sampled_from(["12.5", "1e2", "thirty", "30s", "NaN", "-0x1e"]),
                TEXT.filter(lambda t: t.strip() and _not_an_integer(t)),
            )
        )
        if model_id == "ace-step-15" and draw(st.booleans()):
            data["duration_seconds"] = str(
                draw(st.integers().filter(lambda n: n not in (30, 60, 120, 240)))
            )
    elif kind == "speed out of range":
        data = {"model": "elevenlabs-tts-v4", **valid_fields("elevenlabs-tts-v4")}
        data["speed"] = draw(
            st.one_of(
                st.decimals(max_value=Decimal("0.69"), places=2, allow_nan=False).map(str),
                st.decimals(min_value=Decimal("1.21"), places=2, allow_nan=False).map(str),
                st.sampled_from(["NaN", "Infinity", "-inf", "1e400", "1.005", "fast", "0,9"]),
            )
        )
    elif kind == "voice not offered":
        data = {"model": "elevenlabs-tts-v4", **valid_fields("elevenlabs-tts-v4")}
        data["voice"] = draw(TEXT.filter(lambda v: v not in {"Rachel", "Adam", "Bella"}))
        assume(data["voice"] not in {"Antoni", "Domi", "Elli", "Josh", "Sam"})
    elif kind == "language not a code":
        data = {"model": "elevenlabs-tts-v4", **valid_fields("elevenlabs-tts-v4")}
        data["language_code"] = draw(
            st.one_of(
                st.sampled_from(["eng", "e", "e1", "en-US", "ñu", "1a"]),
                CONTROLS,
                st.text(ANY, min_size=3, max_size=8).filter(lambda t: len(t.strip()) > 2),
            )
        )
    elif kind == "lyrics with optimizer":
        data = {"model": "minimax-music-v25", "prompt": "an upbeat synth pop chorus"}
        data["lyrics_prompt"] = draw(WORDS)
        data["lyrics_optimizer"] = "on"
    elif kind == "lyrics too long":
        data = {"model": "minimax-music-v25", "prompt": "an upbeat synth pop chorus"}
        data["lyrics_prompt"] = draw(WORDS) * (3500 + draw(st.integers(1, 200)))
    elif kind == "lyrics missing":
        # MiniMax 2.5 needs 10 characters of lyrics unless instrumental or optimized (§8).
        data = {"model": "minimax-music-v25", "prompt": "an upbeat synth pop chorus"}
        data["lyrics_prompt"] = draw(st.sampled_from(["", "   ", "\n", "la la"]))
    elif kind == "library prompt not a number":
        data["library_prompt"] = draw(TEXT.filter(lambda t: t.strip() and _not_an_integer(t)))
    elif kind == "library version not a number":
        data["library_version"] = draw(TEXT.filter(lambda t: t.strip() and _not_an_integer(t)))
    # Noise on a field the mutation did not touch: anything at all in the free text.
    if kind not in ("short prompt", "long prompt", "NUL in prompt") and draw(st.booleans()):
        data["prompt"] = data.get("prompt", "") + draw(CONTROLS)
    return kind, data


@st.composite
def unsupported_option(draw) -> tuple[str, dict]:
    """A valid request plus an option that model does not take (the form has no field for it)."""
    model_id, option, value = draw(
        st.sampled_from(
            [
                ("elevenlabs-music", "lyrics_prompt", "la la la, the night is young"),
                ("elevenlabs-music", "speed", "1.1"),
                ("elevenlabs-music", "voice", "Rachel"),
                ("elevenlabs-music", "loop", "on"),
                ("elevenlabs-sound-effects-v2", "force_instrumental", "on"),
                ("elevenlabs-sound-effects-v2", "language_code", "en"),
                ("elevenlabs-tts-v4", "duration_seconds", "20"),
                ("elevenlabs-tts-v4", "lyrics_optimizer", "on"),
                ("minimax-music-v25", "duration_seconds", "60"),
                ("ace-step-15", "loop", "on"),
            ]
        )
    )
    return f"{option} for {model_id}", {"model": model_id, **valid_fields(model_id), option: value}


# --- what "nothing changed" means ---------------------------------------------------------------


def snapshot(sandbox, wallet) -> dict:
    stats = sandbox.stats(wallet.address)["calls"]
    return {
        "jobs": Job.objects.count(),
        "events": JobEvent.objects.count(),
        "prompts": list(Prompt.objects.order_by("pk").values()),
        "topups": TopUp.objects.count(),
        "wallets": list(Wallet.objects.order_by("pk").values()),
        "reserved": Budget.objects.aggregate(total=Sum("reserved_usd"))["total"],
        "paid_calls": (stats.get("queue", 0), stats.get("top-up", 0)),
        "top_ups_anyone": sandbox.stats()["calls"].get("top-up", 0),
    }


def assert_refused_with_a_message(response, what) -> None:
    assert response.status_code < 500, (what, response.status_code)
    if response.status_code == 200:
        form = response.context["form"]
        messages = [str(m) for errors in form.errors.values() for m in errors]
        assert messages and all(m.strip() for m in messages), (what, form.errors)
    else:
        assert 400 <= response.status_code < 500, (what, response.status_code)


def check_every_kind_is_refused(
    scenario: str, bad_forms, post, venice, wallet, *, page_says: str | None = None
) -> None:
    """Posts each drawn (kind, fields) both ways ``post`` takes (htmx or not, new or edit...):
    each must be refused with a message and change nothing; the kinds seen go in the report."""
    seen = Counter()

    @PROPERTY
    @given(case=bad_forms, either_way=st.booleans())
    def check(case, either_way):
        what, data = case
        seen[what] += 1
        before = snapshot(venice, wallet)
        response = post(data, either_way)
        assert_refused_with_a_message(response, what)
        if page_says is not None:
            assert response.status_code == 200 and page_says in response.content.decode()
        assert snapshot(venice, wallet) == before, what

    check()
    record_examples(scenario, seen)


@pytest.fixture
def with_budgets(signed_in):
    signed_in.get("/")  # the member's and the team's budgets exist from the first page on
    return signed_in


# --- the generate form --------------------------------------------------------------------------


def test_generate_refuses_bad_input_with_a_message_and_changes_nothing(
    with_budgets, venice, wallet
):
    def post(data, htmx):
        headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "generate-form"} if htmx else {}
        return with_budgets.post("/", data, **headers)

    check_every_kind_is_refused(
        "Bad input: the generate form (htmx or not)",
        bad_generate_request(),
        post,
        venice,
        wallet,
        page_says="Nothing was created",
    )


def test_generate_refuses_an_option_the_model_does_not_take(with_budgets, venice, wallet):
    @settings(PROPERTY, max_examples=20)
    @given(case=unsupported_option())
    def check(case):
        what, data = case
        before = snapshot(venice, wallet)
        response = with_budgets.post("/", data)
        assert_refused_with_a_message(response, what)
        assert snapshot(venice, wallet) == before, what

    check()


def test_generate_page_and_quote_survive_any_query(with_budgets, venice, wallet):
    seen = Counter()

    @settings(PROPERTY, max_examples=40)
    @given(
        params=st.dictionaries(
            st.sampled_from(
                ["model", "prompt", "lyrics_prompt", "duration_seconds", "job", "library"]
            ),
            TEXT,
            max_size=5,
        )
    )
    def check(params):
        seen["query"] += 1
        before = snapshot(venice, wallet)
        for url, send in (("/", with_budgets.get), ("/generate/quote/", with_budgets.post)):
            response = send(url, params)
            assert response.status_code in (200, 404), (url, params, response.status_code)
        assert snapshot(venice, wallet) == before

    check()
    record_examples("Bad input: any query on the generate page and the quote", seen)


# --- the library --------------------------------------------------------------------------------


@st.composite
def bad_prompt_form(draw) -> tuple[str, dict]:
    data = {
        "title": "Night drive",
        "text": "synthwave with a slow arpeggio",
        "lyrics": draw(st.sampled_from(["", "la la"])),
        "model_id": draw(st.sampled_from(["", "elevenlabs-music"])),
        "tags_text": draw(st.sampled_from(["", "lofi, chill"])),
    }
    kind = draw(
        st.sampled_from(
            ["no title", "long title", "no text", "NUL", "forged model", "too many tags"]
        )
    )
    if kind == "no title":
        data["title"] = draw(st.sampled_from(["", "   ", "\n\t"]))
    elif kind == "long title":
        data["title"] = draw(WORDS) * (121 + draw(st.integers(0, 50)))
    elif kind == "no text":
        data["text"] = draw(st.sampled_from(["", "  ", "\r\n"]))
    elif kind == "NUL":
        field = draw(st.sampled_from(["title", "text", "lyrics", "tags_text"]))
        data[field] = data[field] + "\x00" + draw(TEXT)
    elif kind == "forged model":
        data["model_id"] = draw(FORGED_MODELS.filter(bool))
    elif kind == "too many tags":
        data["tags_text"] = draw(WORDS) * (301 + draw(st.integers(0, 50)))
    if draw(st.booleans()):
        field = draw(st.sampled_from(["lyrics", "tags_text"]))
        if kind != "NUL":
            data[field] += draw(CONTROLS).replace("\x00", "")
    return kind, data


def test_library_refuses_bad_input_with_a_message_and_changes_nothing(
    with_budgets, member, venice, wallet
):
    prompt = make_prompt(member)

    def post(data, editing):
        return with_budgets.post(f"/library/{prompt.pk}/" if editing else "/library/new/", data)

    check_every_kind_is_refused(
        "Bad input: the library form (new and edit)", bad_prompt_form(), post, venice, wallet
    )


# --- signing in ---------------------------------------------------------------------------------


def test_sign_in_refuses_anything_but_the_password_with_a_message(client, member):
    seen = Counter()

    @PROPERTY
    @given(
        username=st.one_of(TEXT, st.text(ANY, min_size=151, max_size=400), CONTROLS),
        password=st.one_of(TEXT, st.text(ANY, min_size=200, max_size=5000), CONTROLS),
    )
    def check(username, password):
        seen["sign-in"] += 1
        reset()  # the sign-in limits would answer the same way, but say something else
        response = client.post("/login/", {"username": username, "password": password})
        assert response.status_code == 200
        assert response.context["form"].errors
        assert "_auth_user_id" not in client.session

    check()
    record_examples("Bad input: the sign-in form", seen)


# --- the admin's top-up on the wallet page ------------------------------------------------------

BAD_AMOUNTS = st.one_of(
    st.sampled_from(["", "NaN", "sNaN", "Infinity", "-Infinity", "1e400", "-5", "4.99", "0"]),
    st.decimals(max_value=Decimal("4.99"), allow_nan=False, places=2).map(str),
    st.decimals(min_value=Decimal("10000.01"), allow_nan=False, places=2).map(str),
    TEXT.filter(lambda t: _not_a_decimal(t)),
)


def _not_a_decimal(text: str) -> bool:
    from decimal import InvalidOperation

    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return True
    return not value.is_finite() or not Decimal(5) <= value <= Decimal(10000)


def test_wallet_page_top_up_refuses_bad_amounts_before_anything_is_signed(
    client, admin_user, venice, wallet
):
    sign_in_staff(client, admin_user)
    client.get("/wallet/")  # the month's budgets exist from the first page on
    seen = Counter()

    @PROPERTY
    @given(amount=BAD_AMOUNTS)
    def check(amount):
        seen["amount"] += 1
        before = snapshot(venice, wallet)
        response = client.post("/wallet/top-up/", {"amount_usd": amount}, follow=True)
        assert response.status_code == 200
        assert "A top-up is between $5 and $10,000." in response.content.decode()
        assert snapshot(venice, wallet) == before

    check()
    record_examples("Bad input: the wallet page's top-up (staff)", seen)
