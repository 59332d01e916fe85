"""The admin for staff's second-factor devices, in place of django-otp's own.

django-otp's admin shows a device's secret (its key, a QR code view) and the recovery codes to
any admin who may change devices, so one admin could copy another's second factor; its QR view
also answers a missing id with a 500. Here an admin sees who has which device and may delete
one (a lost phone: the owner enrols again at next sign-in), never a secret.
"""

from __future__ import annotations

# Imported first so that its registrations exist to be replaced.
import django_otp.plugins.otp_static.admin  # noqa: F401
import django_otp.plugins.otp_totp.admin  # noqa: F401
from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


class DeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # staff enrol themselves, at /twofactor/enrol/

    def has_change_permission(self, request, obj=None) -> bool:
        return False


for model in (TOTPDevice, StaticDevice):
    admin.site.unregister(model)
    admin.site.register(model, DeviceAdmin)
