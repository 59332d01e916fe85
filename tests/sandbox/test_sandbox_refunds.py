"""Failed generations come back from retrieve and are refunded in full; trigger words."""

import time

from sandbox.faults import CAPACITY_WORD, CONTENT_POLICY_WORD, INFERENCE_FAILURE_WORD

from .sandbox_signing import funded, funded_job, ledger, queue, wait_for_result


def rows_for(data, queue_id):
    return [row for row in data["transactions"] if row["requestId"] == queue_id]


def test_content_policy_is_422_with_a_suggestion_and_refunded(sandbox):
    prompt = f"a sea shanty about {CONTENT_POLICY_WORD.upper()} rum"
    wallet, queue_id = funded_job(sandbox, "minimax-music-v25", prompt, force_instrumental=True)

    failed = wait_for_result(sandbox, wallet, "minimax-music-v25", queue_id)

    assert failed.status_code == 422
    assert failed.json()["suggested_prompt"] == "a sea shanty about rum"
    rows = rows_for(ledger(sandbox, wallet), queue_id)
    assert [row["type"] for row in rows] == ["REFUND", "CHARGE"]
    assert rows[0]["amount"] == -rows[1]["amount"] == 0.69  # a CHARGE is negative
    assert ledger(sandbox, wallet)["currentBalance"] == 5


def test_inference_failure_is_500_and_refunds_every_charge(sandbox):
    wallet, queue_id = funded_job(
        sandbox,
        "elevenlabs-sound-effects-v2",
        f"{INFERENCE_FAILURE_WORD}! an explosion",
        duration_seconds=7,
    )

    failed = wait_for_result(sandbox, wallet, "elevenlabs-sound-effects-v2", queue_id)

    assert failed.status_code == 500
    rows = rows_for(ledger(sandbox, wallet), queue_id)
    charges = [row["amount"] for row in rows if row["type"] == "CHARGE"]
    refunds = [row["amount"] for row in rows if row["type"] == "REFUND"]
    assert len(charges) == 2
    assert refunds == [-round(sum(charges), 6)]
    assert ledger(sandbox, wallet)["currentBalance"] == 5


def test_the_refund_lands_when_the_job_ends_even_without_polling(sandbox):
    # The ledger is read until the refund shows, faster than its 20 reads a minute allow.
    sandbox.configure(transactions_per_minute=10_000)
    wallet, queue_id = funded_job(sandbox, "elevenlabs-tts-v4", f"Say {CONTENT_POLICY_WORD}.")

    deadline = time.monotonic() + 30
    while (rows := rows_for(ledger(sandbox, wallet), queue_id))[0]["type"] != "REFUND":
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)


def test_capacity_word_is_503_and_charges_nothing(sandbox):
    wallet = funded(sandbox)

    response = queue(
        sandbox, wallet, model="elevenlabs-tts-v4", prompt=f"A {CAPACITY_WORD} of requests."
    )

    assert response.status_code == 503
    assert "Retry-After" in response.headers
    assert [row["type"] for row in ledger(sandbox, wallet)["transactions"]] == ["TOP_UP"]


def test_trigger_words_only_count_as_whole_words(sandbox):
    wallet, queue_id = funded_job(
        sandbox, "elevenlabs-tts-v4", f"{CAPACITY_WORD}d {INFERENCE_FAILURE_WORD}s"
    )

    done = wait_for_result(sandbox, wallet, "elevenlabs-tts-v4", queue_id)

    assert done.status_code == 200
    assert done.headers["content-type"] == "audio/mpeg"
