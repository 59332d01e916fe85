"""Signing a test client in as staff with the second factor verified (studio/twofactor.py)."""

from __future__ import annotations


def sign_in_staff(client, user):
    """Sign ``client`` in as ``user`` and mark the session verified with a confirmed TOTP
    device, as entering a code from the authenticator app does."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    device = device or TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def current_code(device) -> str:
    """The six digits the device's authenticator app shows now."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"
