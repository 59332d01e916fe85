"""A second factor for staff: TOTP (django-otp) with single-use recovery codes.

Signing in with a password is enough to use Studio as a member; every admin URL and the staff
wallet actions (refresh, top up) also need the session verified with a code from the staff
member's authenticator app, or one of their recovery codes. A staff member without an app yet
is sent to enrol one. Enforced here, server-side, for every request.
"""

from __future__ import annotations

import segno
from django import forms
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10
# The wallet page's buttons that move money or call Venice for staff (wallets/urls.py).
STAFF_WALLET_ACTIONS = {"refresh", "top_up"}
# The admin's own sign-in and sign-out stay reachable, or nobody could get to a second factor.
OPEN_ADMIN_VIEWS = {"login", "logout"}


def needs_second_factor(request) -> bool:
    match = request.resolver_match
    if match is None:
        return False
    if match.namespace == "admin":
        return match.url_name not in OPEN_ADMIN_VIEWS
    return match.namespace == "wallets" and match.url_name in STAFF_WALLET_ACTIONS


class StaffSecondFactorMiddleware:
    """After django-otp's OTPMiddleware: a staff session not verified yet gets no admin page
    and no staff wallet action; it is sent to verify (or to enrol, with no device yet)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_staff) or user.is_verified():
            return None
        if not needs_second_factor(request):
            return None
        # A POST's own URL would be fetched with GET afterwards: come back to the page instead.
        back = request.get_full_path() if request.method == "GET" else reverse("wallets:wallet")
        step = "twofactor:verify" if user_has_device(user) else "twofactor:enrol"
        return redirect(f"{reverse(step)}?{urlencode({'next': back})}")


def fresh_recovery_codes(user) -> list[str]:
    """Ten new single-use codes; the old ones stop working (one transaction: all or none)."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name="Recovery codes", defaults={"confirmed": True}
        )
        StaticDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        device.token_set.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


TOO_MANY = "Too many wrong codes: wait a few seconds, then try again."


def check_code(user, code: str) -> tuple[object | None, bool]:
    """The device that accepts ``code`` (six digits: the app; else a recovery code, used up
    here), and whether a device refused to check it because of recent wrong codes (django-otp
    doubles the wait after each one)."""
    code = code.replace(" ", "").lower()
    kind = TOTPDevice if code.isdigit() and len(code) <= 8 else StaticDevice
    with transaction.atomic():  # devices_for_user(for_verify=True) locks the rows
        for device in devices_for_user(user, for_verify=True):
            if not isinstance(device, kind):
                continue
            allowed, _ = device.verify_is_allowed()
            if not allowed:
                return None, True
            if device.verify_token(code):
                return device, False
    return None, False


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        help_text="The six digits your authenticator app shows, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("admin:index")


@never_cache
@sensitive_post_parameters("code")
@staff_member_required  # the second factor is staff's; a member has none to give
def verify(request):
    if not user_has_device(request.user):
        return redirect(f"{reverse('twofactor:enrol')}?{urlencode({'next': _next(request)})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, throttled = check_code(request.user, form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error(
            "code", TOO_MANY if throttled else "That code is not right (or was already used)."
        )
    return render(request, "twofactor/verify.html", {"form": form, "next": _next(request)})


def _pending_device(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)


@never_cache
@sensitive_post_parameters("code")
@staff_member_required
def enrol(request):
    user = request.user
    if user_has_device(user):  # adding an app needs the one already there: verify first
        return redirect(f"{reverse('twofactor:verify')}?{urlencode({'next': _next(request)})}")
    device = _pending_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            form.add_error("code", TOO_MANY)
        elif device.verify_token(form.cleaned_data["code"].replace(" ", "")):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            codes = fresh_recovery_codes(user)
            return render(request, "twofactor/codes.html", {"codes": codes, "next": _next(request)})
        else:
            form.add_error("code", "That code is not right. Check the app's clock and try again.")
    qr = segno.make(device.config_url, error="m")
    context = {
        "form": form,
        "next": _next(request),
        "qr_svg": qr.svg_inline(scale=4, dark="#111", light="#fff"),
        "secret": _spaced(device.config_url),
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "twofactor/enrol.html", context)


def _spaced(config_url: str) -> str:
    """The base32 secret from the otpauth URL, in groups of four for typing by hand."""
    from urllib.parse import parse_qs, urlsplit

    secret = parse_qs(urlsplit(config_url).query)["secret"][0]
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


urls = (
    [path("verify/", verify, name="verify"), path("enrol/", enrol, name="enrol")],
    "twofactor",
)
