from django.apps import AppConfig


class SandboxAppConfig(AppConfig):
    """Registered only so that ``python manage.py sandbox`` exists."""

    name = "sandbox"
    verbose_name = "Venice sandbox"
