from django.apps import AppConfig
from django.db.models.signals import post_migrate


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"
    # Restarts a crashed poll loop and recovers what a dead worker left.
    schedules = {"studio: sweep": ("jobs.tasks.sweep", 1, "")}

    def ready(self) -> None:
        from ops import schedules
        from wallets.sync import ledger_synced

        from .tasks import sync_jobs_of_wallet

        post_migrate.connect(schedules.install, sender=self)
        ledger_synced.connect(sync_jobs_of_wallet, dispatch_uid="jobs: sync jobs of wallet")
