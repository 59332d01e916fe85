from django.apps import AppConfig
from django.db.models.signals import post_migrate


def install_schedules(sender, **kwargs) -> None:
    """The worker's periodic tasks, kept in step with the code on every migrate."""
    from ops import schedules

    wanted = {
        "studio: sweep": ("jobs.tasks.sweep", 1, ""),
        # Reads Venice's whole ledger at 20 pages a minute: a long run, once an hour.
        "studio: reconcile": ("review.tasks.reconcile_wallets", 60, "q_options={'timeout': 1800}"),
    }
    schedules.keep(wanted)


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from wallets.sync import ledger_synced

        from .tasks import sync_jobs_of_wallet

        post_migrate.connect(install_schedules, sender=self)
        ledger_synced.connect(sync_jobs_of_wallet, dispatch_uid="jobs: sync jobs of wallet")
