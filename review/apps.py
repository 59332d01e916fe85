from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Spend review"
    default_auto_field = "django.db.models.BigAutoField"
    # Reads Venice's whole ledger at 20 pages a minute: a long run, once an hour.
    schedules = {
        "studio: reconcile": ("review.tasks.reconcile_wallets", 60, "q_options={'timeout': 1800}")
    }

    def ready(self) -> None:
        from ops import schedules

        post_migrate.connect(schedules.install, sender=self)
