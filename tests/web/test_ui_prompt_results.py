"""Results per library prompt (issue 14, item 6) and cost per keeper by library prompt (issue 13,
item 8): runs, spend, takes kept, USD per kept take and last used on the library, its sorts,
each member's starred prompts first, who may star what; the "by library prompt" tables on
/usage/ and the admin's spend overview; the expected cost per keeper beside the quote."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs import keepers
from jobs.models import Job
from review.keepers import by_prompt
from studio import results
from studio.models import PromptRun, PromptStar

from .ui_helpers import make_job, make_prompt

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _catalogue(venice):
    """The library names models from Venice's catalogue (the sandbox here)."""


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def run(prompt, user, wallet, settled="0.5", *, kept=False, ago_days=0, **fields) -> Job:
    """A job made from `prompt` (as Use -> Generate records it), finished `ago_days` ago."""
    when = timezone.now() - datetime.timedelta(days=ago_days)
    job = make_job(user, wallet, settled_usd=Decimal(settled), finished_at=when, **fields)
    Job.objects.filter(pk=job.pk).update(created_at=when)
    PromptRun.objects.create(job=job, prompt=prompt, version=prompt.versions.first())
    if kept:
        keepers.keep(job, user)
    return job


def titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="prompt-title">([^<]+)', html)


def listing(client, **params) -> str:
    response = client.get(reverse("library:list"), params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def library(member, other, wallet_row):
    """Four prompts with different results:
    Cheap:  4 runs at $0.25, 2 kept  -> $1.00 spent, $0.50 a keeper, used today
    Dear:   2 runs at $2, 1 kept     -> $4.00 spent, $4.00 a keeper, used 3 days ago
    Flop:   3 runs at $0.5, none     -> $1.50 spent, "—", used 10 days ago
    Unused: no runs                  -> $0, "—", never
    """
    cheap = make_prompt(other, title="Cheap")
    dear = make_prompt(other, title="Dear")
    flop = make_prompt(member, title="Flop")
    unused = make_prompt(member, title="Unused")
    for n in range(4):
        run(cheap, member, wallet_row, "0.25", kept=n < 2)
    for n in range(2):
        run(dear, other, wallet_row, "2", kept=n == 0, ago_days=3)
    for _ in range(3):
        run(flop, member, wallet_row, "0.5", ago_days=10)
    # A failed job Venice charged counts as spent, not as a take; a cancelled one as nothing.
    run(flop, member, wallet_row, "0.1", state=Job.State.FAILED, ago_days=10)
    run(flop, member, wallet_row, "0", state=Job.State.CANCELLED, ago_days=10)
    return {"cheap": cheap, "dear": dear, "flop": flop, "unused": unused}


# --- the arithmetic -------------------------------------------------------------------------------


def test_results_per_prompt(library, member):
    prompts = {p.title: p for p in results.with_results(results.Prompt.objects.all(), member)}
    cheap = prompts["Cheap"]
    tally = results.tally(cheap)
    assert (cheap.run_count, tally.spent, tally.made, tally.kept) == (4, Decimal("1"), 4, 2)
    assert tally.per_kept == Decimal("0.5")
    dear = results.tally(prompts["Dear"])
    assert (dear.spent, dear.kept, dear.per_kept) == (Decimal("4"), 1, Decimal("4"))
    flop = prompts["Flop"]
    assert flop.run_count == 5  # every job made from it, cancelled and failed ones too
    assert results.tally(flop) == results.Tally(spent=Decimal("1.6"), made=3, kept=0)
    assert results.tally(flop).per_kept is None  # nothing kept: "—", no ZeroDivisionError
    unused = prompts["Unused"]
    assert unused.run_count == 0 and unused.last_used is None
    assert results.tally(unused).per_kept is None and results.tally(unused).spent == 0
    assert prompts["Cheap"].last_used > prompts["Dear"].last_used > prompts["Flop"].last_used


def test_the_library_shows_the_figures_and_a_dash(library, member):
    html = listing(client_of(member))
    cheap = html[html.index(f'id="prompt-{library["cheap"].pk}"') :]
    cheap = cheap[: cheap.index("</li>")]
    assert '<dd class="runs">4</dd>' in cheap and '<dd class="spent">$1.00</dd>' in cheap
    assert '<dd class="kept">2 of 4</dd>' in cheap and '<dd class="per-kept">$0.50</dd>' in cheap
    unused = html[html.index(f'id="prompt-{library["unused"].pk}"') :]
    unused = unused[: unused.index("</li>")]
    assert '<dd class="per-kept"><span class="none" title="No kept take yet">—</span>' in unused
    assert '<span class="last-used">never used</span>' in unused


# --- sorting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("runs", ["Flop", "Cheap", "Dear", "Unused"]),
        ("spent", ["Dear", "Flop", "Cheap", "Unused"]),
        ("kept", ["Cheap", "Dear"]),  # then the two with none, newest first
        ("per_kept", ["Cheap", "Dear"]),  # cheapest keeper first; "—" after
        ("last_used", ["Cheap", "Dear", "Flop", "Unused"]),
        ("title", ["Cheap", "Dear", "Flop", "Unused"]),
        ("updated", ["Unused", "Flop", "Dear", "Cheap"]),
    ],
)
def test_sorting_by_each_column(library, member, sort, order):
    shown = titles(listing(client_of(member), sort=sort))
    assert shown[: len(order)] == order
    assert sorted(shown) == ["Cheap", "Dear", "Flop", "Unused"]


def test_per_kept_puts_prompts_with_nothing_kept_last(library, member):
    assert set(titles(listing(client_of(member), sort="per_kept"))[2:]) == {"Flop", "Unused"}


@pytest.mark.parametrize("bad", ["nope", "-runs", "", "spent;drop", "x" * 500])
def test_a_bad_sort_falls_back_to_the_default(library, member, bad):
    client = client_of(member)
    html = listing(client, sort=bad)
    assert titles(html) == titles(listing(client))
    assert '<option value="updated" selected>' in html


def test_the_sort_select_keeps_the_chosen_sort(library, member):
    assert '<option value="per_kept" selected>' in listing(client_of(member), sort="per_kept")


def test_the_list_costs_the_same_few_queries_however_many_prompts(
    library, member, other, wallet_row, django_assert_max_num_queries
):
    for n in range(25):
        prompt = make_prompt(other, title=f"More {n}")
        run(prompt, member, wallet_row, kept=n % 2 == 0)
        PromptStar.objects.create(user=member, prompt=prompt)
    client = client_of(member)
    client.get(reverse("library:list"))  # the session and the catalogue, once
    # The count, the page (every figure and star annotated on it), the tag cloud, the session.
    with django_assert_max_num_queries(6):
        html = listing(client, sort="per_kept")
    assert len(titles(html)) == 29


# --- stars ----------------------------------------------------------------------------------------


def test_my_starred_prompts_come_first_and_only_for_me(library, member, other):
    mine, theirs = client_of(member), client_of(other)
    before = titles(listing(theirs, sort="title"))
    response = mine.post(reverse("library:star", args=[library["unused"].pk]), **HTMX)
    assert response.status_code == 200 and 'aria-pressed="true"' in response.content.decode()
    assert titles(listing(mine, sort="title")) == ["Unused", "Cheap", "Dear", "Flop"]
    assert titles(listing(mine, sort="per_kept"))[0] == "Unused"
    # Another member's stars do not move my list, nor mine theirs.
    assert titles(listing(theirs, sort="title")) == before
    theirs.post(reverse("library:star", args=[library["flop"].pk]), **HTMX)
    assert titles(listing(mine, sort="title")) == ["Unused", "Cheap", "Dear", "Flop"]
    assert titles(listing(theirs, sort="title"))[0] == "Flop"


def test_star_toggles_off(library, member):
    client = client_of(member)
    url = reverse("library:star", args=[library["dear"].pk])
    client.post(url, **HTMX)
    response = client.post(url, **HTMX)
    assert 'aria-pressed="false"' in response.content.decode()
    assert not PromptStar.objects.filter(user=member).exists()


def test_star_without_htmx_goes_back_and_never_off_site(library, member):
    client = client_of(member)
    url = reverse("library:star", args=[library["dear"].pk])
    back = client.post(url, {"next": "/library/?sort=kept"})
    assert back.status_code == 302 and back["Location"] == "/library/?sort=kept"
    away = client.post(url, {"next": "https://evil.example/"})
    assert away["Location"] == reverse("library:list")


def test_star_only_prompts_i_can_see(member, other):
    secret = make_prompt(other, title="Secret", private=True)
    client = client_of(member)
    assert client.post(reverse("library:star", args=[secret.pk])).status_code == 404
    assert client.post(reverse("library:star", args=[9999])).status_code == 404
    assert client.get(reverse("library:star", args=[secret.pk])).status_code == 405
    assert not PromptStar.objects.exists()
    own = make_prompt(member, title="Mine", private=True)
    assert client.post(reverse("library:star", args=[own.pk]), **HTMX).status_code == 200
    anonymous = Client().post(reverse("library:star", args=[own.pk]))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_the_prompts_page_shows_its_results_and_star(library, member):
    html = (
        client_of(member)
        .get(reverse("library:history", args=[library["dear"].pk]))
        .content.decode()
    )
    assert '<dd class="per-kept">$4.00</dd>' in html and '<dd class="kept">1 of 2</dd>' in html
    assert 'aria-pressed="false"' in html and reverse("library:star", args=[library["dear"].pk])


# --- cost per keeper by library prompt: usage, spend overview, quote ------------------------------


def test_cost_per_keeper_by_prompt_arithmetic(library):
    lines = {line.label: line for line in by_prompt(Job.objects.all())}
    assert set(lines) == {"Cheap", "Dear", "Flop"}  # a prompt with no run has no line
    assert lines["Cheap"].per_kept == Decimal("0.5") and lines["Flop"].per_kept is None
    assert lines["Dear"].key == str(library["dear"].pk)
    # Jobs typed from scratch are not a prompt's.
    assert len(by_prompt(Job.objects.filter(prompt_run__isnull=True))) == 0


def test_usage_shows_cost_per_keeper_by_library_prompt(library, member, wallet_row):
    make_job(member, wallet_row, settled_usd=Decimal("9"))  # typed from scratch: not in it
    html = client_of(member).get(reverse("usage")).content.decode()
    table = html[html.index('id="cost-per-keeper-by-prompt"') :]
    table = table[: table.index("</table>")]
    cheap = reverse("library:history", args=[library["cheap"].pk])
    assert (
        f'<td><a href="{cheap}">Cheap</a></td><td class="num">$1.00</td>'
        '<td class="num">2 of 4</td><td class="num">$0.50</td>'
    ) in table
    assert '>Flop</a></td><td class="num">$1.60</td><td class="num">0 of 3</td>' in table
    assert "—" in table
    assert "Dear" not in table  # another member's jobs are not in my usage


def test_usage_does_not_name_a_prompt_made_private_since(library, member, other, wallet_row):
    library["cheap"].private = True  # its author, `other`, hides it after the member used it
    library["cheap"].save()
    html = client_of(member).get(reverse("usage")).content.decode()
    table = html[html.index('id="cost-per-keeper-by-prompt"') :]
    table = table[: table.index("</table>")]
    assert "Cheap" not in table
    assert reverse("library:history", args=[library["cheap"].pk]) not in table
    # The member's money on it still shows, in one line without a link.
    assert (
        '<td>Prompts made private since</td><td class="num">$1.00</td>'
        '<td class="num">2 of 4</td><td class="num">$0.50</td>'
    ) in table
    assert ">Flop</a>" in table  # their own private prompt would still be named

    library["flop"].private = True  # the member's own: still theirs to see
    library["flop"].save()
    assert ">Flop</a>" in client_of(member).get(reverse("usage")).content.decode()


def test_usage_with_no_prompt_jobs(member, wallet_row):
    make_job(member, wallet_row, settled_usd=Decimal("1"))
    html = client_of(member).get(reverse("usage")).content.decode()
    assert 'id="no-prompt-keepers"' in html and "cost-per-keeper-by-prompt" not in html


def test_the_spend_overview_has_a_table_by_library_prompt(library, staff_client):
    html = staff_client.get(reverse("admin:review_spend_changelist")).content.decode()
    table = html[html.index('class="spend-table keepers-library-prompt"') :]
    table = table[: table.index("</table>")]
    assert '<th scope="col">Library prompt</th>' in table
    assert (
        '<td>Dear</td><td class="num">$4.00</td><td class="num">2</td>'
        '<td class="num">1</td><td class="num">$4.00</td>'
    ) in table
    assert '<td>Flop</td><td class="num">$1.60</td>' in table and ">—</td>" in table


def test_the_spend_overview_with_no_prompt_jobs(staff_client, member, wallet_row):
    make_job(member, wallet_row, settled_usd=Decimal("1"))
    html = staff_client.get(reverse("admin:review_spend_changelist")).content.decode()
    assert "No job in the range was made from a library prompt." in html


def quote(client, **extra) -> str:
    query = {"model": "elevenlabs-music", "duration_seconds": "30", **extra}
    return client.post(reverse("jobs:quote"), query).content.decode()


def test_the_quote_shows_the_prompts_cost_per_keeper(signed_in, member, wallet):
    prompt = make_prompt(member, title="Harbour")
    # The model: 1 kept of 2 ($1.00 a keeper at $0.50); the prompt: 1 kept of 4 ($2.00).
    for n in range(2):
        job = make_job(member, wallet, finished_at=timezone.now())
        if n == 0:
            keepers.keep(job, member)
    for n in range(4):
        run(prompt, member, wallet, kept=n == 0, model_id="other-model")
    html = quote(signed_in, library_prompt=str(prompt.pk))
    assert (
        '<strong>$2.00</strong> <span class="muted">expected: the team kept 1 of 4 takes '
        "from this library prompt lately"
    ) in html
    # Without the prompt, the model's figure.
    plain = quote(signed_in)
    assert "<strong>$1.00</strong>" in plain and "of this model lately" in plain


def test_the_quote_falls_back_to_the_model_when_the_prompt_kept_nothing(signed_in, member, wallet):
    prompt = make_prompt(member, title="New one")
    run(prompt, member, wallet)  # made, not kept
    job = make_job(member, wallet, finished_at=timezone.now())
    keepers.keep(job, member)
    html = quote(signed_in, library_prompt=str(prompt.pk))
    # The model's: one kept of its two takes (the prompt's among them) at $0.50: $1.00.
    assert (
        '<strong>$1.00</strong> <span class="muted">expected: the team kept 1 of 2 takes of '
        "this model lately (none kept from this prompt yet)"
    ) in html
    for bad in ("abc", "-4", "0", "99999"):
        assert "of this model lately" in quote(signed_in, library_prompt=bad)


def test_the_quote_says_nothing_of_another_members_private_prompt(client, member, other, wallet):
    secret = make_prompt(member, title="Mine alone", private=True)
    for n in range(2):
        run(secret, member, wallet, kept=n == 0)
    client.force_login(other)
    html = quote(client, library_prompt=str(secret.pk))
    assert "from this library prompt" not in html and "of this model lately" in html
    client.force_login(member)
    assert "the team kept 1 of 2 takes from this library prompt" in quote(
        client, library_prompt=str(secret.pk)
    )
