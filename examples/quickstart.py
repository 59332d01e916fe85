"""Quote, top up, queue, poll and save one track with a fresh wallet funded by the sandbox.

.venv/bin/python examples/quickstart.py http://127.0.0.1:8402/api/v1 track
(saved as track.mp3 or track.wav: the extension is the format Venice answered with)
"""

import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
from eth_account import Account

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from venice import AudioResult, QueueOptions, TopUpPolicy, VeniceClient, WalletAuth  # noqa: E402

api_url, out = sys.argv[1], Path(sys.argv[2] if len(sys.argv) > 2 else "track")
auth = WalletAuth(Account.create().key)
faucet = api_url.removesuffix("/api/v1") + "/sandbox/faucet"
httpx.post(faucet, json={"address": auth.address, "usdc": "20"}).raise_for_status()

with VeniceClient(api_url, auth=auth) as venice:
    model, prompt = "elevenlabs-music", "an upbeat synthwave track with a driving bassline"
    print(f"{model}, 10 s: {venice.quote(model, duration_seconds=10)} USD")
    policy = TopUpPolicy(max_per_topup_usd=Decimal(10), max_per_day_usd=Decimal(20))
    payment = venice.top_up(Decimal(5), policy)  # signed here; store it before sending
    print(f"credited {venice.send_payment(payment.header).amount_credited} USD")
    queue_id = venice.queue(model, QueueOptions(prompt, duration_seconds=10))
    while not isinstance(result := venice.retrieve(model, queue_id), AudioResult):
        # Sleep until Venice's P80 estimate, then poll gently: polling faster gains nothing.
        wait_ms = (result.average_execution_time_ms or 0) - result.execution_duration_ms
        time.sleep(max(0.5, wait_ms / 1000))
    out = out.with_suffix(f".{result.audio_format or 'audio'}")  # music is usually MP3
    with result, out.open("wb") as file:
        for chunk in result.iter_bytes():
            file.write(chunk)
    venice.complete(model, queue_id)
    print(f"saved {out} ({out.stat().st_size} bytes, {result.content_type})")
