from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs.signals import job_created

        from . import checks  # noqa: F401  (registers the system checks)
        from .versioning import record_use

        job_created.connect(record_use, dispatch_uid="studio.versioning.record_use")
