"""Bad command-line input to `generate`, `wallet` and `topup`: a clear error, nothing changed.

Property-based, as tests/web/test_input_forms.py: each example carries at least one option that
must be refused, the others drawn from all of unicode (but NUL, which no shell can put in an
argument: the last test here gives it to the pipeline directly). Each must end in a
CommandError with a message: no traceback, no row written, no paid call, nothing signed.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from decimal import Decimal, InvalidOperation

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from jobs import pipeline
from jobs.models import Job
from tests.web.test_input_forms import PROPERTY, WORDS, record_examples, snapshot
from wallets.models import TopUp, Wallet

pytestmark = pytest.mark.django_db

# What a shell can pass: anything but NUL (and no lone surrogates).
ARG = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
CONTROLS = st.text(st.characters(min_codepoint=1, max_codepoint=31), min_size=1, max_size=4)
MODELS = [
    "elevenlabs-music",
    "minimax-music-v25",
    "elevenlabs-sound-effects-v2",
    "elevenlabs-tts-v4",
    "ace-step-15",
]


def refused(command: str, *args, stdin: str | None = None, monkeypatch=None) -> str:
    """Run the command as a shell would (strings through its parser); return its error."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(command, *args, stdout=out, stderr=io.StringIO())
    message = str(caught.value).strip()
    assert message, (command, args)
    return message


# --- generate -----------------------------------------------------------------------------------


def valid_args(model_id: str) -> list[str]:
    return {
        "elevenlabs-music": ["--prompt", "warm lo-fi beat", "--duration", "30"],
        "minimax-music-v25": ["--prompt", "an upbeat synth pop chorus", "--instrumental"],
        "elevenlabs-sound-effects-v2": ["--prompt", "rain on a tin roof", "--duration", "4"],
        "elevenlabs-tts-v4": ["--prompt", "The render is ready.", "--voice", "Rachel"],
        "ace-step-15": ["--prompt", "folk ballad", "--lyrics", "lights", "--duration", "30"],
    }[model_id]


@st.composite
def bad_generate(draw) -> tuple[str, list[str]]:
    model_id = draw(st.sampled_from(MODELS))
    args = ["--model", model_id, *valid_args(model_id)]
    kind = draw(
        st.sampled_from(
            [
                "forged model",
                "empty prompt",
                "long prompt",
                "duration out of range",
                "duration not a number",
                "option the model does not take",
                "lyrics with optimizer",
                "speed out of range",
                "language not a code",
                "no such user",
                "no such wallet",
                "out without wait",
            ]
        )
    )
    if kind == "forged model":
        args[1] = draw(st.one_of(ARG, st.sampled_from(["stable-audio-25", "gpt-4o", ""])))
        if args[1] in MODELS:
            args[1] = "x" + args[1]
    elif kind == "empty prompt":
        args[3] = draw(st.sampled_from(["", "  ", "\t\n", "\x1c\x1f ", "\u3000"]))
    elif kind == "long prompt":
        args[3] = draw(WORDS) * (5001 + draw(st.integers(0, 100)))
    elif kind == "duration out of range":
        model_id = draw(st.sampled_from(["elevenlabs-music", "elevenlabs-sound-effects-v2"]))
        low, high = (10, 300) if model_id == "elevenlabs-music" else (1, 22)
        seconds = draw(st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1)))
        args = ["--model", model_id, "--prompt", "a long enough prompt", f"--duration={seconds}"]
    elif kind == "duration not a number":
        args += ["--duration", draw(st.sampled_from(["12.5", "1e2", "thirty", "", "NaN"]))]
    elif kind == "option the model does not take":
        option = draw(
            st.sampled_from(
                {
                    "elevenlabs-music": ["--lyrics=la la", "--voice=Rachel", "--loop", "--speed=1"],
                    "minimax-music-v25": ["--duration=30", "--voice=Rachel", "--language=en"],
                    "elevenlabs-sound-effects-v2": ["--instrumental", "--lyrics=la"],
                    "elevenlabs-tts-v4": ["--duration=20", "--loop", "--lyrics-optimizer"],
                    "ace-step-15": ["--loop", "--speed=1.0", "--voice=Adam"],
                }[model_id]
            )
        )
        args.append(option)
    elif kind == "lyrics with optimizer":
        args = ["--model", "minimax-music-v25", "--prompt", "a synth pop chorus"]
        args += ["--lyrics", draw(WORDS), "--lyrics-optimizer"]
    elif kind == "speed out of range":
        speed = draw(
            st.one_of(
                st.floats(max_value=0.69),
                st.floats(min_value=1.21),
                st.sampled_from([float("nan"), float("inf"), -float("inf")]),
            )
        )
        args = [
            "--model",
            "elevenlabs-tts-v4",
            "--prompt",
            "The render is ready.",
            f"--speed={speed!r}",
        ]
    elif kind == "language not a code":
        language = draw(st.one_of(st.sampled_from(["eng", "e", "en-US", "12"]), CONTROLS))
        args = [
            "--model",
            "elevenlabs-tts-v4",
            "--prompt",
            "Hello there.",
            f"--language={language}",
        ]
    elif kind == "no such user":
        args += ["--user", draw(ARG.filter(lambda u: u != "admin"))]
    elif kind == "no such wallet":
        # (An empty name means "not given": the default wallet, as for no --wallet at all.)
        args += ["--wallet", draw(ARG.filter(lambda w: w and w != "team"))]
    elif kind == "out without wait":
        args += ["--out", "track.wav"]
    if kind not in ("empty prompt", "long prompt") and draw(st.booleans()):
        args[args.index("--prompt") + 1] += draw(ARG)
    return kind, args


def test_generate_refuses_bad_options_with_a_reason_and_changes_nothing(venice, wallet, admin_user):
    seen = Counter()

    @PROPERTY
    @given(case=bad_generate())
    def check(case):
        what, args = case
        seen[what] += 1
        before = snapshot(venice, wallet)
        refused("generate", *args)
        assert snapshot(venice, wallet) == before, what

    check()
    record_examples("Bad input: manage.py generate", seen)


# --- wallet -------------------------------------------------------------------------------------


def _bad_name(name: str) -> bool:
    import re

    return not re.fullmatch(r"[-a-zA-Z0-9_]{1,50}", name)


BAD_NAMES = st.one_of(
    st.sampled_from(["", "a b", "x" * 51, "naïve", "team/../x", "--default"]),
    ARG.filter(_bad_name),
)
BAD_KEYS = st.one_of(
    st.sampled_from(["", "0x", "0x" + "g" * 64, "0x" + "0" * 64, "0x" + "ab" * 31, "ab" * 33]),
    ARG.filter(lambda k: len(k.strip().removeprefix("0x")) != 64),
)
BAD_API_KEYS = st.one_of(
    st.sampled_from(["", "short", "has space inside", "é" * 20, "k" * 201]),
    st.text(st.characters(min_codepoint=1, max_codepoint=32), min_size=8, max_size=20),
)


def _not_usd(text: str) -> bool:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return True
    return not amount.is_finite() or not 0 <= amount <= 10000


BAD_USD = st.one_of(
    st.sampled_from(["-1", "NaN", "Infinity", "1e5", "10000.01", "abc", "", "sNaN"]),
    ARG.filter(_not_usd),
)


def test_wallet_refuses_bad_names_keys_and_amounts_and_changes_nothing(venice, wallet, monkeypatch):
    seen = Counter()

    @PROPERTY
    @given(
        case=st.one_of(
            st.tuples(st.just("create"), BAD_NAMES, st.none()),
            st.tuples(st.just("import"), BAD_NAMES, st.just("0x" + "11" * 32)),
            st.tuples(st.just("import"), st.just("fresh"), BAD_KEYS),
            st.tuples(st.just("apikey"), BAD_NAMES, st.just("vk-abcdefghijk")),
            st.tuples(st.just("apikey"), st.just("fresh"), BAD_API_KEYS),
            st.tuples(st.just("policy"), st.just("team"), BAD_USD),
            st.tuples(st.just("policy"), ARG.filter(lambda n: n != "team"), st.just("10")),
        ),
        option=st.sampled_from(["--amount", "--per-day", "--below"]),
    )
    def check(case, option):
        action, name, value = case
        seen[action] += 1
        before = snapshot(venice, wallet)
        if action == "create":
            refused("wallet", "create", name)
        elif action in ("import", "apikey"):
            refused("wallet", action, name, stdin=value + "\n", monkeypatch=monkeypatch)
        else:
            refused("wallet", "policy", name, f"{option}={value}")
        assert snapshot(venice, wallet) == before, case

    check()
    record_examples("Bad input: manage.py wallet", seen)


def test_wallet_policy_refuses_a_daily_cap_that_allows_no_top_up(wallet):
    before = list(Wallet.objects.values())
    refused("wallet", "policy", "team", "--amount", "50", "--per-day", "10")
    assert list(Wallet.objects.values()) == before


# --- topup --------------------------------------------------------------------------------------


def test_topup_refuses_bad_amounts_and_wallets_before_signing(venice, wallet):
    seen = Counter()

    @PROPERTY
    @given(
        case=st.one_of(
            st.tuples(st.just("bad amount"), st.just("team"), BAD_USD),
            st.tuples(st.just("below Venice's 5"), st.just("team"), st.sampled_from(["4.99", "0"])),
            # Within Venice's bounds but above the wallet's policy (10 USD a top-up): refused
            # before anything is signed.
            st.tuples(
                st.just("above the policy"),
                st.just("team"),
                st.decimals(min_value=Decimal("10.01"), max_value=Decimal(10000), places=2).map(
                    str
                ),
            ),
            st.tuples(st.just("no such wallet"), ARG.filter(lambda n: n != "team"), st.just("10")),
        )
    )
    def check(case):
        what, name, usd = case
        seen[what] += 1
        before = snapshot(venice, wallet)
        refused("topup", "--wallet", name, "--usd", usd)
        assert snapshot(venice, wallet) == before, case

    check()
    record_examples("Bad input: manage.py topup", seen)


def test_topup_refuses_an_amount_finer_than_a_cent(venice, wallet):
    refused("topup", "--wallet", "team", "--usd", "5.0000001")
    assert not TopUp.objects.exists()


@pytest.mark.parametrize("usd", ["5", "7.5"])
def test_a_good_top_up_still_works(venice, wallet, usd):
    """The refusals above are not a command that refuses everything."""
    out = io.StringIO()
    call_command("topup", "--wallet", "team", "--usd", usd, stdout=out)
    assert '"status": "credited"' in out.getvalue()
    assert TopUp.objects.count() == 1 and Job.objects.count() == 0


# --- the pipeline behind the command and the form -----------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "fields"),
    [
        ("elevenlabs-music", {"prompt": "warm lo-fi \x00 beat", "duration_seconds": 30}),
        ("minimax-music-v25", {"prompt": "a synth pop chorus", "lyrics_prompt": "la\x00la"}),
        ("elevenlabs-tts-v4", {"prompt": "Hello there.", "voice": "abcdefghij\x00klmnopqrs"}),
    ],
)
def test_the_pipeline_refuses_a_nul_character(venice, wallet, admin_user, model_id, fields):
    before = snapshot(venice, wallet)
    with pytest.raises(pipeline.JobRejected, match="."):
        pipeline.create_job(user=admin_user, model_id=model_id, fields=fields)
    assert snapshot(venice, wallet) == before
