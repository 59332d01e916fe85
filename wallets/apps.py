from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WalletsConfig(AppConfig):
    name = "wallets"
    default_auto_field = "django.db.models.BigAutoField"
    schedules = {"studio: sync wallets": ("wallets.sync.sync_wallets", 5, "")}

    def ready(self) -> None:
        from ops import schedules

        post_migrate.connect(schedules.install, sender=self)
