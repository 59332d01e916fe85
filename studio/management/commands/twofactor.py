"""`manage.py twofactor codes USERNAME`: ten fresh recovery codes for a staff member who lost
their authenticator app; their old codes stop working."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from studio.twofactor import fresh_recovery_codes


class Command(BaseCommand):
    help = "Second factors: `codes USERNAME` prints ten fresh recovery codes and voids the old."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        codes = sub.add_parser("codes", help="print ten fresh recovery codes for USERNAME")
        codes.add_argument("username")

    def handle(self, *args, action: str, username: str, **options) -> None:
        User = get_user_model()
        try:
            user = User.objects.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        for code in fresh_recovery_codes(user):
            self.stdout.write(code)
        self.stderr.write(
            f"Ten recovery codes for {username}; each works once, the old ones no longer do."
        )
