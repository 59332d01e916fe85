from django.apps import AppConfig
from django.db.models.signals import post_migrate


def install_schedules(sender, **kwargs) -> None:
    """The wallets' periodic tasks, kept in step with the code on every migrate."""
    from ops import schedules

    schedules.keep({"studio: sync wallets": ("wallets.sync.sync_wallets", 5, "")})


class WalletsConfig(AppConfig):
    name = "wallets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(install_schedules, sender=self)
