from __future__ import annotations

from django.db import models


class Singleton(models.Model):
    """A table of one row of settings (pk 1) that an admin edits.

    Reading it never writes: until an admin saves the row, `current()` is the defaults, unsaved,
    so that a page (a GET) changes nothing. Its admin is `wallets.admin.base.SingletonAdmin`.
    """

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls):
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class Heartbeat(models.Model):
    """The last time a process proved it was alive and doing its work (one row per name)."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()
    holder = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


class Counter(models.Model):
    """A monotonic count kept in the database, so every process adds to the same number and
    /metrics reads one total whichever process serves the scrape. ``wallet_id`` 0 means none."""

    name = models.CharField(max_length=50)
    wallet_id = models.BigIntegerField(default=0)
    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "wallet_id"], name="one_counter_per_wallet")
        ]

    def __str__(self) -> str:
        return f"{self.name}[{self.wallet_id}] = {self.value}"


class WorkerLease(models.Model):
    """A named lease taken with a conditional UPDATE: only one process runs the poll loop (or
    the reconciliation) at a time."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jobs_workerlease"  # created by the jobs app, moved here without a rebuild

    def __str__(self) -> str:
        return self.name
