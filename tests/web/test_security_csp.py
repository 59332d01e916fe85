"""The Content-Security-Policy (issue 17, item 7): scripts and styles only from Studio's own
static files, no inline script, no inline event handler or style attribute, no eval.

Every page, the team's and the admin's, is loaded in Debian's chromium with a listener for
`securitypolicyviolation` and the console; none may report a violation, and the pages still work
under the policy: htmx swaps the generate form and the price, the character counter counts, the
progress bar takes its place from data attributes and follows the live poll, and the admin's
confirm question is asked.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from sharing import links
from sounds.models import Collection, CollectionSound
from tests.browser_helpers import shot, sign_in, sign_in_admin, switched_to
from tests.twofactor_helpers import sign_in_staff
from wallets.models import AuditEntry

from .test_admin_access import admin_urls, records  # noqa: F401 (a fixture)
from .ui_helpers import give_audio, make_job, make_prompt

INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE),
    "event handler attribute": re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE),
    "style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE),
    "style element": re.compile(r"<style[\s>]", re.IGNORECASE),
}
# Admin URLs that are no page: downloads, POST-only actions, redirects, scripts.
NOT_A_PAGE = re.compile(r"export_csv|refresh|reconcile|rotate_keys|logout|view_on_site|jsi18n")

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
  `${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`
));
"""


def team_pages(member, wallet) -> tuple[list[str], dict]:
    # With a waveform: inline SVG, tinted through the CSSOM as it plays.
    done = give_audio(make_job(member, wallet, prompt="A finished track", audio_peaks=[0.5] * 300))
    running = make_job(
        member,
        wallet,
        prompt="A running track",
        state=Job.State.PROCESSING,
        queue_id="q-running",
        average_execution_time_ms=60_000,
        execution_duration_ms=15_000,
        progress_at=timezone.now(),
    )
    prompt = make_prompt(member, title="Rainy synthwave")
    # Two takes of one request, one finished and one running, on the page comparing them.
    group = uuid.uuid4()
    give_audio(make_job(member, wallet, take_group=group, take_number=1, audio_peaks=[0.4] * 300))
    make_job(member, wallet, take_group=group, take_number=2, state=Job.State.QUEUED)
    # A kept sound in a collection: the sound library's pages.
    done.kept_at, done.kept_by = timezone.now(), member
    done.save()
    level = Collection.objects.create(owner=member, name="Level 3")
    CollectionSound.objects.create(collection=level, job=done, added_by=member)
    pages = [
        "/",
        "/jobs/",
        f"/jobs/{done.pk}/",
        f"/jobs/{running.pk}/",
        "/library/",
        "/library/?sort=per_kept",
        "/library/new/",
        "/library/import/",
        f"/library/{prompt.pk}/",
        f"/library/{prompt.pk}/history/",
        f"/library/{prompt.pk}/history/?a=1&b=1",
        "/wallet/",
        "/usage/",
        reverse("sharing:shared", args=[links.token(links.create(member, done, days=7))]),
        f"/takes/{group}/",
        "/sounds/",
        "/sounds/?model=elevenlabs-music&length=short",
        "/sounds/collections/",
        f"/sounds/collections/{level.pk}/",
        f"/sounds/collections/{level.pk}/edit/",
        f"/sounds/jobs/{done.pk}/",
        reverse("sharing:shared", args=[links.token(links.create(member, level, days=7))]),
    ]
    return pages, {"done": done, "running": running}


def admin_pages(records) -> list[str]:  # noqa: F811 (the fixture's value)
    client = Client()
    sign_in_staff(client, records["admin"])
    pages = []
    for name, url in sorted(admin_urls(records).items()):
        if NOT_A_PAGE.search(name):
            continue
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            pages.append(url)
    return pages


@pytest.fixture
def everyone(records, admin_user, member, venice):  # noqa: F811
    """One of every record (the admin's pages need them), the team's wallet, the sandbox."""
    records["admin"] = admin_user
    return records


# --- without a browser: the header, and no inline code in any page's HTML ----------------------


@pytest.mark.django_db
def test_every_page_has_the_policy_and_no_inline_code(client, everyone, member):
    pages, _ = team_pages(member, everyone["wallet"])
    client.force_login(member)
    checked = []
    for url in pages:
        checked.append((url, client.get(url)))
    checked.append(("/library/quick/", client.post("/library/quick/", {"prompt": "/rainy"})))
    client.logout()
    checked.append(("/login/", client.get("/login/")))
    sign_in_staff(client, everyone["admin"])
    admin = admin_pages(everyone)
    assert len(admin) > 30, admin  # changelists, add, change, history and delete pages
    checked += [(url, client.get(url)) for url in admin]

    for url, response in checked:
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, url
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        html = response.content.decode()
        for what, pattern in INLINE.items():
            found = pattern.search(html)
            assert not found, f"{url}: {what}: {found.group(0)[:120]}"
        # A block left open in a template pours the page into its <title>.
        title = re.search(r"<title>(.*?)</title>", html, re.S)
        if "<html" in html:  # a page, not one of the fragments htmx swaps in
            assert title and "<" not in title.group(1), f"{url}: title {title.group(1)[:120]!r}"


# --- in the browser --------------------------------------------------------------------------


@pytest.fixture
def open_page(browser, live_server):
    """A new page that records CSP violations and console errors; none may happen."""
    contexts, problems = [], []

    def new_page():
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, base_url=live_server.url
        )
        context.set_default_timeout(15_000)
        context.add_init_script(WATCH)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda m: console(m, problems))
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status}: {r.url}")
                if r.status >= 400 and r.status != 429 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        return page

    yield new_page, problems
    for context in contexts:
        context.close()


def console(message, problems: list[str]) -> None:
    # The admin's pages name no icon, so chromium asks for /favicon.ico; the lockout page is a
    # 429 on purpose. Neither is the policy's doing.
    expected = message.location["url"].endswith("/favicon.ico") or "status of 429" in message.text
    if message.type == "error" and not expected:
        problems.append(f"console: {message.text} at {message.location['url']}")


def violations(page) -> list[str]:
    # Reports are queued tasks: give the page a moment to deliver them.
    return page.evaluate("() => new Promise((r) => setTimeout(() => r(window.__csp), 150))")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_page_violates_the_policy_and_the_pages_still_work(open_page, everyone, member):
    new_page, problems = open_page
    pages, jobs = team_pages(member, everyone["wallet"])
    found: dict[str, list[str]] = {}

    page = new_page()
    page.goto("/login/")
    found["/login/"] = violations(page)
    # The lockout page too (someone guessing at an account that does not exist; the member
    # at the same address is not locked by it).
    for _ in range(5):
        sign_in(page, "nobody", "guess")
    assert "Too many failed sign-ins" in page.locator(".errors").text_content()
    found["/login/ (locked out)"] = violations(page)
    shot(page, "csp-sign-in-locked")
    sign_in(page, "member", "member-pass-123")
    for url in pages:
        page.goto(url)
        page.wait_for_load_state()
        found[url] = violations(page)

    # htmx swaps under the policy: a model switch re-renders the form, the price follows typing,
    # and the counter counts.
    page.goto("/")
    with page.expect_response(switched_to("elevenlabs-sound-effects-v2")):
        page.get_by_label("Model").select_option("elevenlabs-sound-effects-v2")
    page.get_by_label("Make it loop seamlessly").wait_for()
    page.get_by_label("Prompt").fill("a wooden door creaking open slowly")
    assert page.locator("#prompt-count").text_content() == "34"
    page.get_by_label("Length in seconds").fill("4")
    page.wait_for_function(
        "() => (document.querySelector('#price') || {}).textContent === '$0.024'"
    )
    shot(page, "csp-generate")
    found["/ (after htmx swaps)"] = violations(page)

    # The progress bar: its CSS variables come from data attributes, set by studio.js, on load
    # and again when the live poll swaps a new report in.
    running = jobs["running"]
    page.goto(f"/jobs/{running.pk}/")
    bar = page.locator(f"#job-{running.pk}-live .bar span")
    styled = "s => [s.style.getPropertyValue('--from'), s.style.getPropertyValue('--left')]"
    percent, left = bar.evaluate("s => [s.dataset.from, s.dataset.left]")
    assert 25 <= int(percent) < 75 and bar.evaluate(styled) == [f"{percent}%", f"{left}s"]
    Job.objects.filter(pk=running.pk).update(
        execution_duration_ms=50_000, progress_at=timezone.now()
    )
    page.wait_for_function(
        "id => { const s = document.querySelector(`#job-${id}-live .bar span`);"
        " return s && Number(s.dataset.from) >= 83"
        " && s.style.getPropertyValue('--from') === `${s.dataset.from}%`; }",
        arg=running.pk,
    )
    shot(page, "csp-job-running")
    found[f"/jobs/{running.pk}/ (after a live swap)"] = violations(page)
    page.context.close()

    # The admin's pages, every one of them.
    admin = admin_pages(everyone)
    page = new_page()
    sign_in_admin(page, everyone["admin"])
    for url in admin:
        page.goto(url)
        page.wait_for_load_state()
        found[url] = violations(page)

    # The key rotation asks first (data-confirm, not onsubmit=""); saying no sends nothing.
    page.goto("/admin/wallets/wallet/")
    questions = []

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.get_by_role("button", name="Rotate encryption key").click()
    page.wait_for_timeout(300)
    assert questions and "Re-encrypt every wallet secret" in questions[0]
    assert page.url.endswith("/admin/wallets/wallet/")
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.KEYS_ROTATE).exists()
    shot(page, "csp-admin-wallets")

    assert len(found) > 40
    bad = {url: seen for url, seen in found.items() if seen}
    assert not bad, bad
    assert not problems, problems
