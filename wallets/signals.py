"""What the wallets app tells the layers above it, which it may not import (an alert, say).

Receivers run in the sender's path: they enqueue work, never do it there.
"""

from __future__ import annotations

from django.dispatch import Signal

# Venice refused a top-up for good (no funds moved): sent with topup_id once the row says FAILED.
topup_refused = Signal()
# A member asked for more budget: sent with request_id from the task that tells admins. A
# receiver that answers True has told them itself (through its alert channels), and the
# fallback, mail_admins, is skipped: admins hear of a request once.
budget_requested = Signal()
