from django.apps import AppConfig


class SoundsConfig(AppConfig):
    name = "sounds"
    verbose_name = "Sound library"
    default_auto_field = "django.db.models.BigAutoField"
