from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AlertsConfig(AppConfig):
    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"
    # Cheap reads (a few budgets, wallets and recent events): every minute, so a threshold
    # passed is heard within one.
    schedules = {"studio: alerts": ("alerts.tasks.evaluate", 1, "")}

    def ready(self) -> None:
        from ops import schedules
        from review.reconcile import differences_found
        from wallets.signals import budget_requested, topup_refused

        from . import receivers

        post_migrate.connect(schedules.install, sender=self)
        topup_refused.connect(receivers.topup_refused, dispatch_uid="alerts-topup-refused")
        differences_found.connect(receivers.differences_found, dispatch_uid="alerts-differences")
        budget_requested.connect(receivers.budget_requested, dispatch_uid="alerts-budget-request")
