from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What operators read: the worker's heartbeat and counters the web and the worker share.

    It sits below ``wallets`` and ``jobs`` (it imports neither), so both may record into it.
    """

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"
