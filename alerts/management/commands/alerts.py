"""python manage.py alerts test | evaluate

`test` sends a test message through every enabled channel now and prints, per channel, whether
it was delivered (exit 1 if any was not). `evaluate` runs the rules once, as the worker does
every minute: run it from cron on another machine too, since a silent worker cannot report
its own silence.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from alerts import notify
from alerts.models import Delivery


class Command(BaseCommand):
    help = "Send a test through every alert channel, or evaluate the alert rules now."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["test", "evaluate"])

    def handle(self, *args, action: str, **options):
        if action == "evaluate":
            done = notify.evaluate()
            self.stdout.write(
                f"{done.rules} rule(s) evaluated: {done.new} new alert(s), "
                f"{done.retried} delivery(ies) queued."
            )
            return
        sent = notify.send_test()
        if not sent:
            raise CommandError("No channel is enabled: add one in the admin first.")
        for delivery in sent:
            if delivery.status == Delivery.Status.DELIVERED:
                self.stdout.write(f"{delivery.channel_name}: delivered to {delivery.recipients}")
            else:
                self.stdout.write(f"{delivery.channel_name}: NOT delivered: {delivery.error}")
        failed = [d for d in sent if d.status != Delivery.Status.DELIVERED]
        if failed:
            raise CommandError(f"{len(failed)} of {len(sent)} channel(s) failed.")
