"""`manage.py doctor`: check a deployment before it takes traffic; exit 1 if anything fails."""

from django.core.management.base import BaseCommand, CommandError

from studio import doctor


class Command(BaseCommand):
    help = (
        "Checks settings, the database and migrations, the cache, the broker, storage, the "
        "Venice origin, each wallet's sign-in and the chain RPC; says what is wrong in words."
    )

    def handle(self, *args, **options) -> None:
        findings = doctor.run()
        for finding in findings:
            mark = "ok  " if finding.ok else "FAIL"
            style = self.style.SUCCESS if finding.ok else self.style.ERROR
            self.stdout.write(style(f"{mark} {finding.check}: {finding.message}"))
        failed = [f for f in findings if not f.ok]
        if failed:
            raise CommandError(f"{len(failed)} problem(s): fix them before taking traffic.")
        self.stdout.write("All checks passed.")
