from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Share links"
    default_auto_field = "django.db.models.BigAutoField"
