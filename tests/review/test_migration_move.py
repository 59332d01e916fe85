"""The spend review's models moved from wallets to review without rebuilding a table or touching
a row (wallets 0007, review 0001: state only, db_table kept).

On a populated PostgreSQL database: migrate back to before the move, write rows the old models
own (the summary filled by its triggers), then migrate forward and compare. A table rebuilt
(dropped and created, or rewritten) gets a new OID or relfilenode; a row touched reads
differently. PostgreSQL only (the production database); skipped on SQLite.
"""

from __future__ import annotations

import datetime
import os
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the migration test needs PostgreSQL (DATABASE_URL)",
    ),
]

BEFORE_MOVE = [("wallets", "0006_audit_job_review")]
MOVED_TABLES = ["wallets_difference", "wallets_reconcilerun", "wallets_spendsummary"]
# The ledger stays in wallets; its table and the triggers on it must survive the move too.
WATCHED_TABLES = [*MOVED_TABLES, "wallets_ledgerentry"]
MOVED_MODELS = ["difference", "reconcilerun", "spend", "spendsummary"]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()  # what is applied now
    return executor


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _storage() -> dict[str, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, oid, relfilenode FROM pg_class "
            "WHERE relname = ANY(%s) AND relkind = 'r'",
            [WATCHED_TABLES],
        )
        return {name: (oid, filenode) for name, oid, filenode in cursor.fetchall()}


def _rows() -> dict[str, list[tuple]]:
    rows = {}
    with connection.cursor() as cursor:
        for table in WATCHED_TABLES:
            cursor.execute(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608 - our table names
            rows[table] = cursor.fetchall()
    return rows


def _triggers() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'wallets_ledgerentry'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        return [name for (name,) in cursor.fetchall()]


def _content_types() -> dict[str, tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT model, id, app_label FROM django_content_type WHERE model = ANY(%s)",
            [MOVED_MODELS],
        )
        return {model: (pk, label) for model, pk, label in cursor.fetchall()}


def _fill(apps) -> dict:
    """Rows written through the models as they were before the move."""
    Wallet = apps.get_model("wallets", "Wallet")
    LedgerEntry = apps.get_model("wallets", "LedgerEntry")
    Difference = apps.get_model("wallets", "Difference")
    ReconcileRun = apps.get_model("wallets", "ReconcileRun")
    wallet = Wallet.objects.create(
        name="team", kind="evm", address="0x" + "ab" * 20, secret_encrypted="not-a-secret"
    )
    day = datetime.datetime(2026, 11, 20, 12, tzinfo=datetime.UTC)
    entries = LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                wallet=wallet,
                venice_id=f"row-{n}",
                type=kind,
                amount_usd=Decimal(amount),
                balance_after_usd=Decimal("10"),
                created_at=day + datetime.timedelta(days=n),
                model_id="ace-step-15",
            )
            for n, (kind, amount) in enumerate(
                [("TOP_UP", "10"), ("CHARGE", "0.25"), ("CHARGE", "0.018"), ("REFUND", "0.018")]
            )
        ]
    )
    difference = Difference.objects.create(
        kind="charge_without_job",
        key=f"charge_without_job:{wallet.pk}:row-1",
        wallet=wallet,
        ledger_entry=entries[1],
        venice_id="row-1",
        actual_usd=Decimal("0.25"),
        detail="Venice charged $0.25 and no job of ours has that queue id.",
        last_seen_at=day,
    )
    run = ReconcileRun.objects.create(wallets=1, found=1, new=1, errors="chain down")
    return {"wallet": wallet.pk, "difference": difference.pk, "run": run.pk}


def test_moving_the_spend_review_rebuilds_no_table_and_touches_no_row():
    _migrate(BEFORE_MOVE)
    try:
        old_apps = MigrationExecutor(connection).loader.project_state(BEFORE_MOVE).apps
        made = _fill(old_apps)
        storage, rows, triggers = _storage(), _rows(), _triggers()
        content_types = _content_types()
        assert set(storage) == set(WATCHED_TABLES)
        # Per day (4 days) at two grains, and per type (3) at the month's.
        assert len(rows["wallets_spendsummary"]) == 4 + 4 + 3
        assert len(triggers) == 3

        with CaptureQueriesContext(connection) as forward:
            _migrate(_latest())
    finally:
        _migrate(_latest())  # leave the test database as the rest of the suite expects it

    touched = [
        query["sql"]
        for query in forward.captured_queries
        if any(table in query["sql"] for table in WATCHED_TABLES)
    ]
    assert touched == []  # not a DDL statement, not an UPDATE
    assert _storage() == storage  # same tables, same files: nothing rebuilt or rewritten
    assert _rows() == rows
    assert _triggers() == triggers
    # The content types (and so the permissions granted on them) follow the models.
    assert _content_types() == {model: (pk, "review") for model, (pk, _) in content_types.items()}

    from review.models import Difference, ReconcileRun, Spend, SpendSummary
    from wallets.models import LedgerEntry

    difference = Difference.objects.select_related("wallet", "ledger_entry").get()
    assert difference.pk == made["difference"] and difference.wallet.name == "team"
    assert difference.ledger_entry.venice_id == "row-1" and difference.is_open
    assert ReconcileRun.objects.get().errors == "chain down"
    assert Spend.objects.count() == LedgerEntry.objects.count() == 4
    charges = SpendSummary.objects.get(grain=SpendSummary.Grain.MONTH, type="CHARGE")
    assert (charges.amount_usd, charges.entries) == (Decimal("0.268"), 2)

    # The triggers go on filling the summary the moved model reads.
    LedgerEntry.objects.create(
        wallet_id=made["wallet"],
        venice_id="row-after",
        type="CHARGE",
        amount_usd=Decimal("1"),
        created_at=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
        model_id="ace-step-15",
    )
    charges.refresh_from_db()
    assert (charges.amount_usd, charges.entries) == (Decimal("1.268"), 3)
