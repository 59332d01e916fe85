import json

import mutagen
import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow
def test_generate_waits_and_writes_playable_audio(worker, wallet, admin_user, tmp_path, capsys):
    out = tmp_path / "track"
    call_command(
        "generate",
        "--model",
        "elevenlabs-music",
        "--prompt",
        "calm ambient pads at dusk",
        "--duration",
        "20",
        "--wait",
        "--out",
        str(out),
        "--timeout",
        "60",
    )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["status"] == "completed" and float(line["cost_usd"]) > 0
    assert line["job"] == Job.objects.get().pk and line["seconds"] > 0
    # The file's own format and length (music comes back as MP3, with no length header).
    assert line["format"] == "mp3" and abs(line["audio_seconds"] - 20) < 1
    assert abs(mutagen.File(out).info.length - line["audio_seconds"]) < 0.01


def test_generate_refuses_bad_input_with_a_reason_and_saves_nothing(wallet, admin_user):
    with pytest.raises(CommandError, match="not a model"):
        call_command("generate", "--model", "no-such-model", "--prompt", "calm ambient pads")
    with pytest.raises(CommandError, match="at least 10 characters"):
        call_command("generate", "--model", "elevenlabs-music", "--prompt", "short")
    with pytest.raises(CommandError, match="No user"):
        call_command(
            "generate",
            "--model",
            "elevenlabs-music",
            "--prompt",
            "calm ambient pads",
            "--user",
            "ghost",
        )
    assert not Job.objects.exists()


@pytest.mark.slow
def test_a_failed_job_exits_non_zero_with_the_reason(worker, wallet, admin_user, capsys):
    with pytest.raises(CommandError, match="content policy"):
        call_command(
            "generate",
            "--model",
            "elevenlabs-music",
            "--prompt",
            "selling contraband in the market",
            "--wait",
            "--timeout",
            "60",
        )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["status"] == "failed" and line["suggested_prompt"]
