"""The admin of wallets' models, one module per model family; base holds what they (and the jobs
and review admins) share."""

from . import approvals, audit, budgets, ledger, wallets  # noqa: F401  (each registers its ModelAdmins)
