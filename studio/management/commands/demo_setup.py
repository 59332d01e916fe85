"""Set up a demo on the sandbox: an admin, a member, and a funded wallet. Safe to run again."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from wallets import keys
from wallets.models import Wallet

PASSWORD_FILE = settings.VAR_DIR / "demo-password"


def demo_password() -> str:
    if os.environ.get("STUDIO_DEMO_PASSWORD"):
        return os.environ["STUDIO_DEMO_PASSWORD"]
    if PASSWORD_FILE.exists():
        return PASSWORD_FILE.read_text().strip()
    password = secrets.token_urlsafe(12)
    PASSWORD_FILE.write_text(password)
    PASSWORD_FILE.chmod(0o600)
    return password


class Command(BaseCommand):
    help = "Create the demo admin and member, and a sandbox wallet funded with test USDC."

    def handle(self, *args, **options):
        if not settings.VENICE_IS_SANDBOX:
            raise CommandError("demo_setup only runs against the local sandbox")
        password = demo_password()
        users = get_user_model()
        for username, staff in (("admin", True), ("member", False)):
            user, _ = users.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = staff
            user.set_password(password)
            user.save()
        wallet = Wallet.objects.filter(name="team").first() or keys.create_evm_wallet(
            "team", make_default=True
        )
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(settings.VENICE_API_BASE))
        response = httpx.post(
            f"{origin}/sandbox/faucet", json={"address": wallet.address, "usdc": "1000"}, timeout=10
        )
        response.raise_for_status()
        self.stdout.write(self.style.SUCCESS("Studio demo is ready on http://127.0.0.1:8000"))
        self.stdout.write(f"  admin  / {password}   (staff: spend review at /admin/)")
        self.stdout.write(
            "    first admin sign-in: scan the QR code with an authenticator app (any TOTP app)"
            " and keep the ten recovery codes it shows; lost them? "
            "`manage.py twofactor codes admin`"
        )
        self.stdout.write(f"  member / {password}")
        self.stdout.write(f"  wallet {wallet.name} {wallet.address} funded with 1000 test USDC")
