from django.apps import AppConfig
from django.db.models.signals import post_migrate


def install_schedules(sender, **kwargs) -> None:
    """The worker's periodic tasks, kept in step with the code on every migrate."""
    from django_q.models import Schedule

    wanted = {
        "studio: sweep": ("jobs.tasks.sweep", 1, ""),
        "studio: sync wallets": ("jobs.tasks.sync_wallets", 5, ""),
        # Reads Venice's whole ledger at 20 pages a minute: a long run, once an hour.
        "studio: reconcile": ("review.tasks.reconcile_wallets", 60, "q_options={'timeout': 1800}"),
    }
    for name, (func, minutes, options) in wanted.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
                "kwargs": options,
            },
        )


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(install_schedules, sender=self)
