"""Sign-in limits, on django-axes: who the client is behind the proxy, and a limit per key.

django-axes counts failed sign-ins in the database (so every web process sees the same counts),
refuses a locked client before the password is checked, and has the unlock commands
(`manage.py axes_reset_username NAME`, `axes_reset_ip ADDRESS`, …). Studio adds three things:

- the client's address is taken from X-Forwarded-For only when the peer is a trusted proxy
  (`TRUSTED_PROXIES`); from anyone else the header is the client's own words and is ignored;
- each kind of key has its own limit (`SIGNIN_LIMITS`): a username at one address, one address
  across usernames, one username across addresses. axes has one limit for all of them, and one
  attacker must lock only himself, not the account for everyone;
- a locked client gets the sign-in page with the reason, not a bare 429 text.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Sum
from django.shortcuts import render

from ops.addresses import client_address

__all__ = ["client_address", "locked_out", "username"]


def username(request, credentials: dict | None = None) -> str | None:
    """The username a sign-in tried, as axes stores it: at most 255 characters, no NUL.

    Django's sign-in form does not enforce the username's length (it only tells the browser),
    so any length reaches authentication; axes' column holds 255, and PostgreSQL refuses more
    (and any NUL). No username is that long, so a longer one counts under its first 255.
    """
    if credentials:
        name = credentials.get("username")
    else:
        name = request.POST.get("username") if request is not None else None
    return None if name is None else str(name).replace("\x00", "")[:255]


class SignInLimits(AxesDatabaseHandler):
    """axes' database handler with a limit per lockout parameter (`SIGNIN_LIMITS`).

    axes compares the largest count among its parameters with one AXES_FAILURE_LIMIT. Here each
    count is scaled to that limit by its own: ``count * base // limit`` reaches ``base`` exactly
    when ``count`` reaches ``limit``, so axes' own comparisons (before the password is checked,
    and after a failure) apply each parameter's limit.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        base = settings.AXES_FAILURE_LIMIT
        counts = [
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        ]
        limits = [limit for _parameter, limit in settings.SIGNIN_LIMITS]
        return max(count * base // limit for count, limit in zip(counts, limits, strict=True))

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """A success clears that username's failures at that address, and nothing else: axes
        would also clear the address's failures on other usernames, so an attacker holding one
        account could wipe his count by signing in to it between guesses."""
        count, _ = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        ).delete()
        return count


def locked_out(request, original_response=None, credentials=None):
    """The sign-in page again, saying why, with 429 Too Many Requests."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    return render(
        request,
        "registration/login.html",
        {
            "form": form,
            "locked_out": (
                f"Too many failed sign-ins from your address or for this account. Wait "
                f"{minutes} minutes and try again, or ask an admin to unlock it."
            ),
            "next": request.POST.get("next", ""),
        },
        status=429,
    )
