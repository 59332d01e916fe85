"""`manage.py qcluster` with one kill point armed: for the crash tests only, never in production.

    STUDIO_KILLPOINT=<step> STUDIO_KILLPOINT_MARKER=<file> \
        python tests/reliability/killpoint_worker.py

The first worker process that reaches the step writes the step's name to the marker file and
SIGKILLs the whole cluster (its process group, which the tests start in a session of its own):
the database, the sandbox and the media folder are left exactly as a machine that lost power at
that instant would leave them. The patches are made before django-q2 forks its workers, so
every worker inherits them.

Steps, in the order a job meets them:

- ``topup-signed``: a top-up was signed and stored, not sent;
- ``topup-sent``: Venice credited the top-up, its answer was not recorded;
- ``credit-ensured``: the job was claimed and the wallet can pay, the queue call not marked sent;
- ``queued``: Venice accepted the queue call, its queue id was not recorded;
- ``mid-download``: the first chunks of the audio were spooled, the rest not read;
- ``audio-saved``: the audio is in storage, the job does not point at it yet;
- ``before-complete``: the audio is saved and the job COMPLETED, Venice's copy not deleted.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

import django  # noqa: E402

django.setup()

from django.core.files.storage import FileSystemStorage  # noqa: E402
from django.core.management import execute_from_command_line  # noqa: E402

from venice import types as venice_types  # noqa: E402
from venice.client import VeniceClient  # noqa: E402
from wallets import payments  # noqa: E402

STEP = os.environ["STUDIO_KILLPOINT"]
MARKER = os.environ["STUDIO_KILLPOINT_MARKER"]


def die(step: str) -> None:
    """Mark the step reached, then kill the cluster's whole process group at once."""
    try:
        fd = os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pass  # another worker got here first; the group is already going down
    else:
        os.write(fd, f"{step} {os.getpid()}".encode())
        os.close(fd)
    os.killpg(os.getpgid(0), signal.SIGKILL)


def after(owner, name: str, step: str) -> None:
    real = getattr(owner, name)

    def dying(*args, **kwargs):
        result = real(*args, **kwargs)
        die(step)
        return result

    setattr(owner, name, dying)


def before(owner, name: str, step: str) -> None:
    def dying(*args, **kwargs):
        die(step)

    setattr(owner, name, dying)


def mid_download() -> None:
    real = venice_types.AudioResult.iter_bytes

    def dying(self, chunk_size: int = 64 * 1024):
        for index, chunk in enumerate(real(self, chunk_size)):
            if index == 2:
                die("mid-download")
            yield chunk

    venice_types.AudioResult.iter_bytes = dying


ARM = {
    "topup-signed": lambda: after(payments, "_sign", "topup-signed"),
    "topup-sent": lambda: after(VeniceClient, "send_payment", "topup-sent"),
    "credit-ensured": lambda: after(payments, "ensure_credit", "credit-ensured"),
    "queued": lambda: after(VeniceClient, "queue", "queued"),
    "mid-download": mid_download,
    "audio-saved": lambda: after(FileSystemStorage, "save", "audio-saved"),
    "before-complete": lambda: before(VeniceClient, "complete", "before-complete"),
}

if __name__ == "__main__":
    ARM[STEP]()
    execute_from_command_line([str(ROOT / "manage.py"), "qcluster"])
