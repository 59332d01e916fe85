"""A member against another member's private work, and against everything that is not theirs.

Each member-facing URL is tried with another member's private job and prompt: 404, nothing
changed, and the private text (a unique marker) never appears on any page the member can open.
Then the whole URL map is walked as a member: every URL is either a member page or refuses.
(The admin's own URLs, every one of them, are tests/web/test_admin_access.py's.)
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from jobs.models import Job
from sharing.models import ShareLink
from sounds.models import Collection, CollectionSound, SoundTag
from studio.models import Prompt, PromptVersion
from tests.reliability_helpers import record
from wallets.models import Budget, Wallet

from .ui_helpers import give_audio, make_job, make_prompt, make_wallet

pytestmark = pytest.mark.django_db

MARKER = "zq-private-7f3a"  # appears only in the owner's private job and prompt


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password="owner-pass-123")


@pytest.fixture
def intruder(client, django_user_model, venice):
    user = django_user_model.objects.create_user("intruder", password="intruder-pass-123")
    client.force_login(user)
    return user


@pytest.fixture
def theirs(owner):
    """The owner's private finished job (with audio), private pending job, shared job, and
    private and shared library prompts."""
    wallet = make_wallet()
    done = give_audio(
        make_job(
            owner,
            wallet,
            private=True,
            prompt=f"a lullaby for my daughter {MARKER}",
            lyrics_prompt=f"sleep now {MARKER}",
            suggested_prompt=f"a lullaby {MARKER}",
            queue_id="q-private-done",
        )
    )
    pending = make_job(
        owner,
        wallet,
        private=True,
        state=Job.State.PENDING,
        prompt=f"my secret jingle {MARKER}",
        reserved_usd=Decimal("0.5"),
    )
    shared = make_job(owner, wallet, prompt="a shared warm beat", state=Job.State.PENDING)
    secret_prompt = make_prompt(
        owner,
        title=f"Diary {MARKER}",
        text=f"my private idea {MARKER}",
        lyrics=MARKER,
        private=True,
        tags=["secret"],
    )
    shared_prompt = make_prompt(owner, title="Shared idea", text="synthwave for everyone")
    done.kept_at, done.kept_by = done.created_at, owner
    done.save()
    collection = Collection.objects.create(owner=owner, name=f"Set {MARKER}", private=True)
    CollectionSound.objects.create(collection=collection, job=done, added_by=owner)
    group = uuid.uuid4()
    takes = [
        make_job(owner, wallet, private=True, take_group=group, take_number=n, prompt=MARKER)
        for n in (1, 2)
    ]
    return {
        "takes": takes,
        "done": done,
        "pending": pending,
        "shared": shared,
        "secret_prompt": secret_prompt,
        "shared_prompt": shared_prompt,
        "wallet": wallet,
        "collection": collection,
    }


def frozen(theirs) -> dict:
    """Everything a refused request must leave as it was."""
    return {
        "jobs": list(Job.objects.order_by("pk").values()),
        "prompts": list(Prompt.objects.order_by("pk").values()),
        "versions": list(PromptVersion.objects.order_by("pk").values()),
        "budgets": list(Budget.objects.order_by("pk").values()),
        "wallets": list(Wallet.objects.order_by("pk").values()),
        "collections": list(Collection.objects.order_by("pk").values()),
        "collection_sounds": list(CollectionSound.objects.order_by("pk").values()),
        "share_links": list(ShareLink.objects.order_by("pk").values()),
        "sound_tags": list(SoundTag.objects.order_by("pk").values()),
    }


def test_another_members_private_job_and_prompt_are_404_to_every_verb(client, intruder, theirs):
    done, pending = theirs["done"].pk, theirs["pending"].pk
    secret = theirs["secret_prompt"].pk
    kept = theirs["collection"].pk
    before = frozen(theirs)
    reads = [
        f"/jobs/{done}/",
        f"/jobs/{done}/timeline/",
        f"/jobs/{done}/audio/",
        f"/jobs/{done}/audio/?download=1",
        f"/jobs/{done}/audio.mp3",
        f"/takes/{theirs['takes'][0].take_group}/",
        f"/jobs/{pending}/",
        f"/?job={done}",
        f"/?job={done}&suggested=1",
        f"/?job={pending}",
        f"/library/{secret}/",
        f"/library/{secret}/use/",
        f"/share/jobs/{done}/",
        f"/library/{secret}/history/",
        f"/library/{secret}/history/?a=1&b=1",
        f"/library/{secret}/versions/1/use/",
        f"/library/again/{done}/",
        f"/sounds/collections/{kept}/",
        f"/sounds/collections/{kept}/edit/",
        f"/sounds/collections/{kept}/download.zip",
        f"/sounds/jobs/{done}/",
        f"/share/collections/{kept}/",
    ]
    for url in reads:
        assert client.get(url).status_code == 404, url
    assert client.get(f"/jobs/{done}/audio/", HTTP_RANGE="bytes=0-99").status_code == 404
    writes = [
        (f"/jobs/{pending}/cancel/", {}),
        (f"/library/from-job/{done}/", {}),
        (f"/library/{secret}/", {"title": "mine now", "text": "overwritten text"}),
        (f"/library/{secret}/delete/", {}),
        (f"/share/jobs/{done}/new/", {"days": "7"}),
        (f"/library/{secret}/versions/1/restore/", {}),
        (f"/library/{secret}/versions/1/approve/", {}),
        (f"/library/{secret}/unapprove/", {}),
        (f"/sounds/collections/{kept}/edit/", {"name": "mine now"}),
        (f"/sounds/collections/{kept}/delete/", {}),
        (f"/sounds/jobs/{done}/add/", {"collection": kept}),
        (f"/sounds/jobs/{done}/take-out/", {"collection": kept}),
        (f"/sounds/jobs/{done}/tag/", {"tags": "mine"}),
        (f"/sounds/jobs/{done}/untag/", {"tag": "mine"}),
        (f"/share/collections/{kept}/new/", {"days": "7"}),
    ]
    for url, data in writes:
        assert client.post(url, data).status_code == 404, url
    assert frozen(theirs) == before
    record(
        "Another member's private job, audio and prompt",
        "read, play (Range too), download, run again, cancel, save, edit, delete, use, share, "
        "the private collection and its zip: 404 for each, nothing changed",
        requests=len(reads) + 1 + len(writes),
    )


def test_shared_work_can_be_seen_but_not_changed_by_another_member(client, intruder, theirs):
    shared, shared_prompt = theirs["shared"].pk, theirs["shared_prompt"].pk
    assert client.get(f"/jobs/{shared}/").status_code == 200
    assert client.get(f"/library/{shared_prompt}/use/").status_code == 200
    before = frozen(theirs)
    assert client.post(f"/jobs/{shared}/cancel/").status_code == 404
    assert client.get(f"/library/{shared_prompt}/").status_code == 404
    assert client.post(f"/library/{shared_prompt}/", {"title": "x", "text": "y"}).status_code == 404
    assert client.post(f"/library/{shared_prompt}/delete/").status_code == 404
    assert frozen(theirs) == before


def test_the_private_text_appears_on_no_page_the_member_can_open(client, intruder, theirs):
    done, pending, shared = theirs["done"], theirs["pending"], theirs["shared"]
    pages = [
        "/",
        "/jobs/",
        "/jobs/?who=team",
        *(f"/jobs/?who=team&state={s}" for s in ("running", "completed", "failed")),
        f"/jobs/live/?who=team&s={done.pk}:queued:,{pending.pk}:submitting:,{shared.pk}:x:",
        f"/jobs/live/?view=detail&s={done.pk}:queued:",
        f"/jobs/live/?view=takes&s={theirs['takes'][0].pk}:queued:",
        f"/jobs/{shared.pk}/",
        f"/jobs/{shared.pk}/timeline/",
        "/library/",
        "/library/?q=private+idea",  # words of the private texts (the marker is echoed back)
        "/library/?q=Diary",
        "/library/?q=lullaby",
        "/library/?tag=secret",
        "/library/?mine=1",
        "/library/new/",
        # Export: words of the private prompt's title and text.
        "/library/export/",
        "/library/export/?q=Diary",
        "/library/export/?tag=secret",
        "/library/import/",
        "/wallet/",
        "/sounds/",
        "/sounds/?q=lullaby",  # words of the private job's prompt
        "/sounds/collections/",
        f"/library/{theirs['shared_prompt'].pk}/use/",
        f"/library/{theirs['shared_prompt'].pk}/history/",
        f"/library/{theirs['shared_prompt'].pk}/versions/1/use/",
        f"/?job={shared.pk}",
    ]
    # Generate's live parts, POSTed: quick insert with words of the private prompt's title and
    # text, the quote, a model switch.
    posts = [
        *(("/library/quick/", {"prompt": words}) for words in ("/Diary", "/private idea", "/")),
        ("/library/quick/", {"q": "/secret"}),
        ("/generate/quote/", {"model": "elevenlabs-music"}),
        ("/generate/form/", {"model": "elevenlabs-music"}),
    ]
    for url, response in [
        *((url, client.get(url)) for url in pages),
        *((url, client.post(url, data)) for url, data in posts),
    ]:
        assert response.status_code in (200, 204), (url, response.status_code)
        assert MARKER not in response.content.decode(), url
    record(
        "Private prompt text on no page of another member",
        "lists, team view, live updates, search, tags, library, wallet, prefills: the private "
        "job's and prompt's text never shown",
        pages=len(pages) + len(posts),
    )


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.name


# The URLs a member may use. Every other URL, today's and tomorrow's, must refuse a member.
MEMBER_PAGES = {
    "",
    "generate/form/",
    "generate/quote/",
    "generate/variables/",
    "jobs/",
    "jobs/live/",
    "jobs/<int:pk>/",
    "jobs/<int:pk>/timeline/",
    "jobs/<int:pk>/audio/",
    "jobs/<int:pk>/audio.mp3",
    "jobs/<int:pk>/cancel/",
    "takes/<uuid:group>/",
    "jobs/<int:pk>/keep/",
    "jobs/<int:pk>/unkeep/",
    "jobs/<int:pk>/discard/",
    "jobs/<int:pk>/restore/",
    "jobs/<int:pk>/favourite/",
    "library/",
    "library/new/",
    "library/quick/",
    "library/export/",
    "library/import/",
    "library/import/preview/",
    "library/import/confirm/",
    "library/<int:pk>/",
    "library/<int:pk>/delete/",
    "library/<int:pk>/use/",
    "library/<int:pk>/history/",
    "library/<int:pk>/star/",
    "library/<int:pk>/versions/<int:number>/use/",
    "library/<int:pk>/versions/<int:number>/restore/",
    # Answers a member only where the admin lets owners move the label (403 otherwise).
    "library/<int:pk>/versions/<int:number>/approve/",
    "library/<int:pk>/unapprove/",
    "library/again/<int:pk>/",
    "library/from-job/<int:pk>/",
    "wallet/",
    "usage/",
    "usage/ask/",
    "share/jobs/<int:pk>/",
    "share/jobs/<int:pk>/new/",
    "share/links/<int:pk>/revoke/",
    "share/collections/<int:pk>/",
    "share/collections/<int:pk>/new/",
    "sounds/",
    "sounds/collections/",
    "sounds/collections/<int:pk>/",
    # Answer 403 to a member who does not own the (team) collection.
    "sounds/collections/<int:pk>/edit/",
    "sounds/collections/<int:pk>/delete/",
    "sounds/collections/<int:pk>/download.zip",
    "sounds/jobs/<int:pk>/",
    "sounds/jobs/<int:pk>/add/",
    "sounds/jobs/<int:pk>/take-out/",
    "sounds/jobs/<int:pk>/tag/",
    "sounds/jobs/<int:pk>/untag/",
    "login/",
    "logout/",
}


# The admin's own sign-in page answers anyone (and its sign-out would sign the member out).
ADMIN_SIGN_IN = {"admin/login/", "admin/logout/"}
# A monitor polls it without signing in; it shows states, never data (tests/web/test_ops_health.py).
# A share link's page and audio answer whoever holds the signed link (tests/sharing).
PUBLIC = {
    "healthz",
    "s/<str:token>/",
    "s/<str:token>/audio/",
    "s/<str:token>/audio/<int:job>/",
    "s/<str:token>/zip/",
}


def test_every_url_is_a_member_page_or_refuses_a_member(client, intruder, theirs):
    """A member reaches no admin or wallet-management URL: walking the whole URL map, anything
    not listed as a member page sends them to the admin's sign-in, or answers 403/404/405."""
    before = frozen(theirs)
    checked = []
    for route, name in _routes(get_resolver().url_patterns):
        if route in MEMBER_PAGES | ADMIN_SIGN_IN | PUBLIC or route.startswith("^"):
            continue
        url = "/" + re.sub(r"<path:object_id>|<int:[^>]+>|<path:[^>]+>", "1", route)
        url = re.sub(r"<[^>]+>", "wallets", url).replace("^", "").replace("$", "")
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            refused = response.status_code in (403, 404, 405) or (
                response.status_code == 302 and "/admin/login/" in response["Location"]
            )
            assert refused, (name, url, method, response.status_code)
        checked.append(url)
    assert len(checked) > 60 and any(url.startswith("/admin/") for url in checked)
    assert "/wallet/top-up/" in checked and "/wallet/refresh/" in checked
    assert frozen(theirs) == before
    record(
        "A member against every non-member URL",
        "the whole URL map walked as a member, GET and POST: admin sign-in, 403, 404 or 405; "
        "no budget, policy, wallet, job or prompt changed",
        urls=len(checked),
    )
