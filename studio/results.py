"""Results per library prompt: what the jobs made from each prompt cost and how many of their
takes the team kept (issue 14, item 6).

For each prompt: runs (jobs made from it, recorded as PromptRun), spend (every run's settled
charge), takes made and kept, all counted as the cost per keeper counts them
(jobs.keepers.tally_aggregates), USD per kept take ("—" when none was kept, never a division by
zero) and when it was last used. All of it is
annotated on the library's own query, so a page of prompts costs the same few queries whatever
its length; the list sorts by any of these and puts the member's starred prompts first.
"""

from __future__ import annotations

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Max,
    OuterRef,
    QuerySet,
    When,
)
from django.db.models.functions import Cast, Lower

from jobs.keepers import Tally, tally_aggregates, tally_of

from .models import Prompt, PromptStar

# The library's sorts: the value in ?sort=, its label, and its order (after the member's stars).
# Each goes the way one reads that column: most runs first, cheapest keeper first; a prompt with
# nothing to show (no run, nothing kept) goes last either way.
SORTS: dict[str, tuple[str, list]] = {
    "updated": ("Recently updated", [F("updated_at").desc()]),
    "title": ("Title", [Lower("title").asc()]),
    "runs": ("Most runs", [F("run_count").desc()]),
    "spent": ("Most spent", [F("spent").desc(nulls_last=True)]),
    "kept": ("Most takes kept", [F("kept").desc()]),
    "per_kept": ("Cheapest per kept take", [F("per_kept_sort").asc(nulls_last=True)]),
    "last_used": ("Last used", [F("last_used").desc(nulls_last=True)]),
}
DEFAULT_SORT = "updated"


def sort_or_default(raw: str | None) -> str:
    """The sort asked for if the library knows it, else the default (a bad value is no error)."""
    return raw if raw in SORTS else DEFAULT_SORT


def with_results(prompts: QuerySet, user) -> QuerySet:
    """`prompts` annotated with their results and whether `user` starred them.

    One join (prompt -> its runs -> their jobs, one job per run) feeds every aggregate, so no
    sum is counted twice; the star is an EXISTS, which adds no row.
    """
    return prompts.annotate(
        run_count=Count("runs"),
        **tally_aggregates("runs__job__"),
        last_used=Max("runs__job__created_at"),
        starred=Exists(PromptStar.objects.filter(user=user, prompt=OuterRef("pk"))),
    ).annotate(
        # A sort key only (floating point is fine to order by); the figure shown is exact.
        per_kept_sort=Case(
            When(kept__gt=0, then=Cast("spent", FloatField()) / Cast("kept", FloatField())),
            default=None,
            output_field=FloatField(),
        )
    )


def ordered(prompts: QuerySet, sort: str) -> QuerySet:
    """Starred first (the annotation is the member's own), then by `sort`, then newest."""
    return prompts.order_by(F("starred").desc(), *SORTS[sort_or_default(sort)][1], "-id")


def tally(prompt: Prompt) -> Tally:
    """The results of a prompt annotated by with_results, as the cost per keeper's Tally."""
    return tally_of(prompt)


def results_of(prompt: Prompt, user) -> Prompt:
    """One prompt with its results (the prompt's page): the same annotations, one query."""
    return with_results(Prompt.objects.filter(pk=prompt.pk), user).get()


def toggle_star(prompt: Prompt, user) -> bool:
    """Star the prompt for `user`, or unstar it if starred; True when it is starred now."""
    deleted, _ = PromptStar.objects.filter(user=user, prompt=prompt).delete()
    if deleted:
        return False
    PromptStar.objects.get_or_create(user=user, prompt=prompt)
    return True
