"""A payment whose settlement timed out is settled by the worker without waiting for a job to
need credit (issue 6, "no money lost").

The admin's page says of such a top-up: "the worker will re-send it (never sign another) until
Venice answers". Until it is re-sent, Venice has the money and Studio does not know it.
"""

from __future__ import annotations

import functools
import time
from decimal import Decimal

import pytest

from tests.reliability_helpers import record
from wallets import payments, sync
from wallets.models import TopUp

pytestmark = pytest.mark.django_db


def test_the_periodic_sync_settles_a_top_up_whose_settlement_timed_out(wallet, venice, monkeypatch):
    venice.set_fault("top-up", settlement_timeout=True, count=1)
    # The admin's request gives up waiting quickly; the payment is left SENT, unknown.
    monkeypatch.setattr(payments, "send", functools.partial(payments.send, settle_wait_s=0.05))
    topup = payments.manual_top_up(wallet, Decimal("10"))
    assert topup.status == TopUp.Status.SENT
    monkeypatch.undo()
    time.sleep(0.3)  # the transfer lands at Venice (late_settlement_s, scaled)

    sync.sync_wallets()  # nothing else happens: no job needs credit
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert topup.attempts >= 2 and TopUp.objects.count() == 1, "re-sent, never re-signed"
    wallet.refresh_from_db()
    assert wallet.credit_usd == Decimal("10")
    record(
        "A settlement timeout is settled by the periodic sync",
        "a manual top-up left SENT by a settlement timeout, no job needing credit: the wallet "
        "sync re-sends the same bytes and records the credit once",
    )
