"""The worker's periodic tasks: each app keeps its own in step with the code on every migrate."""

from __future__ import annotations


def keep(wanted: dict[str, tuple[str, int, str]]) -> None:
    """Create or update each Schedule by its name (name: (task, every so many minutes, kwargs)),
    so that a deployment's existing rows follow the code instead of being duplicated."""
    from django_q.models import Schedule

    for name, (func, minutes, options) in wanted.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
                "kwargs": options,
            },
        )


def install(sender, **kwargs) -> None:
    """A post_migrate receiver: the sending app's `schedules`, kept in step with the code on
    every migrate. Each app schedules its own periodic tasks."""
    keep(sender.schedules)
