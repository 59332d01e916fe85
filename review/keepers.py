"""Cost per keeper: what the team pays for each take it keeps.

Generating audio is a search (ask for takes, keep one, throw the rest away), so the price of a
take says little; the price of a keeper says what a sound really cost. For each group (a member,
a model, a library prompt): money spent, takes made, takes kept, and USD per kept take,
"—" when nothing was kept (never a division by zero).

The tallies themselves are jobs.keepers.tallies (one aggregate query); this module labels and
orders them for the member's usage page and the admin's spend overview.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from jobs.keepers import Tally, fold, tallies
from jobs.models import Job
from wallets.models import Wallet

from .spend import day_bounds

# The groupings the pages use; any field path of Job works. A library prompt's goes through the
# reverse name of studio's PromptRun (the prompt a job was made from): a join the ORM resolves by
# name, not an import, so the review stays below studio (docs/architecture.md).
BY_MEMBER = "user"
BY_MODEL = "model_id"
BY_PROMPT = "prompt_run__prompt"


@dataclass(frozen=True)
class KeeperLine:
    key: str
    label: str
    tally: Tally

    @property
    def spent(self) -> Decimal:
        return self.tally.spent

    @property
    def made(self) -> int:
        return self.tally.made

    @property
    def kept(self) -> int:
        return self.tally.kept

    @property
    def per_kept(self) -> Decimal | None:
        return self.tally.per_kept


def _labels(group_by: str, keys) -> dict:
    if group_by == BY_MEMBER:
        users = get_user_model().objects.filter(pk__in=[key for key in keys if key is not None])
        return {user.pk: user.get_username() for user in users}
    if group_by == BY_PROMPT:
        titles = (
            Job.objects.filter(prompt_run__prompt__in=[key for key in keys if key is not None])
            .values_list("prompt_run__prompt", "prompt_run__prompt__title")
            .distinct()
        )
        return dict(titles)
    return {}


def cost_per_keeper(jobs: QuerySet, group_by: str) -> list[KeeperLine]:
    """One line per value of `group_by` among `jobs` (a Job queryset), the most spent first.

    Groups that spent nothing and made nothing (only cancelled jobs, say) are left out.
    """
    return _lines(group_by, tallies(jobs, group_by))


def _lines(group_by: str, counted: dict) -> list[KeeperLine]:
    labels = _labels(group_by, counted)
    lines = [
        KeeperLine(key=str(key), label=str(labels.get(key, key or "—")), tally=tally)
        for key, tally in counted.items()
        if tally.spent or tally.made
    ]
    return _most_spent_first(lines)


def _most_spent_first(lines: list[KeeperLine]) -> list[KeeperLine]:
    return sorted(lines, key=lambda line: (-line.spent, line.label))


def by_prompt(jobs: QuerySet, seen_by: int | None = None) -> list[KeeperLine]:
    """Cost per keeper of the library prompts `jobs` were made from (jobs typed from scratch
    are left out: they have no prompt to group by); a line's key is the prompt's id.

    With `seen_by` (the member whose usage it is), a prompt another member has made private
    since is not named: its jobs are summed into one line without a key (so without a link)."""
    with_prompt = jobs.filter(prompt_run__isnull=False)
    lines = cost_per_keeper(with_prompt, BY_PROMPT)
    if seen_by is None:
        return lines
    private = with_prompt.filter(prompt_run__prompt__private=True).exclude(
        prompt_run__prompt__author=seen_by
    )
    hidden = {str(pk) for pk in private.values_list("prompt_run__prompt", flat=True)}
    if not hidden:
        return lines
    folded = sum((line.tally for line in lines if line.key in hidden), Tally())
    shown = [line for line in lines if line.key not in hidden]
    shown.append(KeeperLine(key="", label="Prompts made private since", tally=folded))
    return _most_spent_first(shown)


def total(lines: list[KeeperLine]) -> KeeperLine:
    return KeeperLine(
        key="",
        label="Total",
        tally=Tally(
            spent=sum((line.spent for line in lines), Decimal("0")),
            made=sum(line.made for line in lines),
            kept=sum(line.kept for line in lines),
        ),
    )


@dataclass(frozen=True)
class KeeperOverview:
    members: list[KeeperLine]
    models: list[KeeperLine]
    prompts: list[KeeperLine]
    total: KeeperLine


def overview(
    start: datetime.date, end: datetime.date, *, wallet: Wallet | None = None
) -> KeeperOverview:
    """The spend overview's cost per keeper: jobs made in [start, end] (UTC days)."""
    begin, after = day_bounds(start, end)
    jobs = Job.objects.filter(created_at__gte=begin, created_at__lt=after)
    if wallet is not None:
        jobs = jobs.filter(wallet=wallet)
    # One pass over the range's jobs, summed three ways: on a busy month the jobs scanned, not
    # the groups, are the cost (bench/spend_overview.py).
    counted = tallies(jobs, BY_MEMBER, BY_MODEL, BY_PROMPT)
    models = _lines(BY_MODEL, fold(counted, 1))
    prompts = {key: tally for key, tally in fold(counted, 2).items() if key is not None}
    return KeeperOverview(
        members=_lines(BY_MEMBER, fold(counted, 0)),
        models=models,
        prompts=_lines(BY_PROMPT, prompts),
        total=total(models),
    )
