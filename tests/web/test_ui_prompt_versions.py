"""A library prompt's history page, diff, restore and approved label, and the version a job
records and runs again (studio/views.py, studio/versioning.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job
from studio.models import LibrarySettings, PromptRun, PromptVersion
from wallets.models import AuditEntry

from .ui_helpers import make_job, make_prompt, make_wallet

pytestmark = pytest.mark.django_db

SFX = "elevenlabs-sound-effects-v2"


@pytest.fixture(autouse=True)
def _catalogue(venice):
    """Generate and the library name models from Venice's catalogue (the sandbox here)."""


def form_data(prompt, **changes) -> dict:
    data = {
        "title": prompt.title,
        "text": prompt.text,
        "lyrics": prompt.lyrics,
        "model_id": prompt.model_id,
        "tags_text": " ".join(prompt.tag_list),
        "note": "",
    }
    data.update(changes)
    return data


def history(client, prompt, **params):
    return client.get(reverse("library:history", args=[prompt.pk]), params)


def test_each_edit_from_the_form_is_a_version_with_its_note(client, member):
    prompt = make_prompt(member, model_id=SFX, text="a door creaks")
    client.force_login(member)
    url = reverse("library:edit", args=[prompt.pk])
    response = client.post(url, form_data(prompt, text="a door slams", note="louder"), follow=True)
    assert "Version 2." in response.content.decode()
    client.post(url, form_data(prompt, text="a door slams", title="Slam"))
    client.post(url, form_data(prompt, text="a door slams", title="Slam"))  # no change
    assert [(v.number, v.text, v.note) for v in prompt.versions.order_by("number")] == [
        (1, "a door creaks", ""),
        (2, "a door slams", "louder"),
        (3, "a door slams", ""),
    ]
    page = history(client, prompt).content.decode()
    assert "Version 3" in page and "louder" in page and "by member" in page
    # Opened plainly, the page shows the last edit: the title.
    assert "Version 2 → version 3" in page and "<del>a door slams</del>" not in page


def test_the_diff_is_escaped_and_marks_what_changed(client, member):
    prompt = make_prompt(member, text="<script>alert(1)</script> soft rain")
    client.force_login(member)
    client.post(
        reverse("library:edit", args=[prompt.pk]),
        form_data(prompt, text="<b>bold</b> soft rain"),
    )
    page = history(client, prompt, a=1, b=2).content.decode()
    assert "<script>alert(1)" not in page and "<b>bold</b>" not in page
    assert "<del>&lt;script&gt;alert(1)&lt;/script&gt;</del>" in page
    assert "<ins>&lt;b&gt;bold&lt;/b&gt;</ins>" in page
    assert 'class="removed"' in page and 'class="added"' in page


@pytest.mark.parametrize(
    "params",
    [{"a": 1, "b": 9}, {"a": "x", "b": 1}, {"a": 1}, {"b": ""}, {"a": "-1", "b": 1}],
)
def test_bad_version_numbers_in_the_diff_are_404(client, member, params):
    prompt = make_prompt(member)
    client.force_login(member)
    assert history(client, prompt, **params).status_code == 404


def test_bad_version_numbers_elsewhere_are_404(client, member, admin_user):
    prompt = make_prompt(member)
    client.force_login(member)
    assert client.get(f"/library/{prompt.pk}/versions/9/use/").status_code == 404
    assert client.post(f"/library/{prompt.pk}/versions/9/restore/").status_code == 404
    assert client.get(f"/library/{prompt.pk + 1}/history/").status_code == 404
    client.force_login(admin_user)
    assert client.post(f"/library/{prompt.pk}/versions/9/approve/").status_code == 404
    assert not AuditEntry.objects.exists()


def test_restore_from_the_history_page_adds_a_version(client, member, other):
    prompt = make_prompt(member, text="first")
    client.force_login(member)
    client.post(reverse("library:edit", args=[prompt.pk]), form_data(prompt, text="second"))
    restore = reverse("library:version_restore", args=[prompt.pk, 1])
    response = client.post(restore, follow=True)
    assert "Version 1 is restored as version 3." in response.content.decode()
    prompt.refresh_from_db()
    assert prompt.text == "first" and prompt.versions.count() == 3
    assert prompt.versions.get(number=2).text == "second"  # history kept
    # A member who may see the prompt but not edit it cannot restore, nor sees the button.
    client.force_login(other)
    assert "/restore/" not in history(client, prompt).content.decode()
    assert client.post(restore).status_code == 404
    assert prompt.versions.count() == 3


def test_only_admins_approve_unless_owners_are_allowed(client, member, admin_user):
    prompt = make_prompt(member, text="first")
    approve = reverse("library:version_approve", args=[prompt.pk, 1])
    client.force_login(member)
    assert "/approve/" not in history(client, prompt).content.decode()
    assert client.post(approve).status_code == 403
    assert not prompt.versions.filter(approved=True).exists()

    LibrarySettings.objects.update_or_create(pk=1, defaults={"owners_may_approve": True})
    assert "/approve/" in history(client, prompt).content.decode()
    assert client.post(approve).status_code == 302
    assert prompt.versions.get(number=1).approved

    client.force_login(admin_user)
    assert client.post(reverse("library:unapprove", args=[prompt.pk])).status_code == 302
    assert not prompt.versions.filter(approved=True).exists()
    actors = AuditEntry.objects.filter(action=AuditEntry.Action.PROMPT_APPROVAL)
    assert sorted(e.actor.username for e in actors) == ["admin", "member"]


def test_use_and_the_list_take_the_approved_version(client, member, admin_user):
    prompt = make_prompt(member, model_id=SFX, text="approved take")
    client.force_login(member)
    client.post(reverse("library:edit", args=[prompt.pk]), form_data(prompt, text="newer draft"))
    one = prompt.versions.get(number=1)
    use = reverse("library:use", args=[prompt.pk])
    assert "newer draft</textarea>" in client.get(use).content.decode()  # none approved: latest

    client.force_login(admin_user)
    client.post(reverse("library:version_approve", args=[prompt.pk, 1]))
    client.force_login(member)
    page = client.get(use).content.decode()
    assert "approved take</textarea>" in page
    assert f'name="library_version" value="{one.pk}"' in page
    assert "v1 approved" in client.get(reverse("library:list")).content.decode()


def make_from_library(client, prompt, version, text: str) -> Job:
    response = client.post(
        reverse("jobs:generate"),
        {
            "model": SFX,
            "prompt": text,
            "duration_seconds": "5",
            "library_prompt": prompt.pk,
            "library_version": version.pk if version else "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Job.objects.latest("pk")


def test_a_job_records_its_prompt_version_and_run_again_uses_it(signed_in, member):
    prompt = make_prompt(
        member, model_id=SFX, text="thunder far away", settings={"duration_seconds": 7}
    )
    one = prompt.versions.get()
    job = make_from_library(signed_in, prompt, one, "thunder far away")
    run = PromptRun.objects.get(job=job)
    assert (run.prompt, run.version) == (prompt, one)
    prompt.refresh_from_db()
    assert prompt.times_used == 1

    # The prompt moves on; Run again on the job still runs version 1, with its settings.
    signed_in.post(
        reverse("library:edit", args=[prompt.pk]),
        form_data(prompt, text="thunder overhead"),
    )
    page = signed_in.get(reverse("library:run_again", args=[job.pk])).content.decode()
    assert "thunder far away</textarea>" in page and 'value="7"' in page
    assert f'name="library_version" value="{one.pk}"' in page
    assert f'name="library_prompt" value="{prompt.pk}"' in page
    # The job page's Run again goes there.
    detail = signed_in.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert f'href="/library/again/{job.pk}/">Run again</a>' in detail


def test_a_job_without_a_version_id_records_the_one_use_takes(signed_in, member):
    prompt = make_prompt(member, model_id=SFX, text="rain")
    elsewhere = make_prompt(member, model_id=SFX, text="wind").versions.get()
    job = make_from_library(signed_in, prompt, elsewhere, "rain")  # another prompt's version
    assert PromptRun.objects.get(job=job).version == prompt.versions.get()
    job = make_from_library(signed_in, prompt, None, "rain")
    assert PromptRun.objects.get(job=job).version == prompt.versions.get()


def test_run_again_of_a_job_from_no_library_prompt_is_generates_own(client, member, other):
    wallet = make_wallet()
    job = make_job(member, wallet)
    client.force_login(member)
    response = client.get(reverse("library:run_again", args=[job.pk]))
    assert response.status_code == 302 and response["Location"] == f"/?job={job.pk}"
    private = make_job(other, wallet, private=True)
    assert client.get(reverse("library:run_again", args=[private.pk])).status_code == 404


def test_run_again_never_shows_a_private_prompt_to_another_member(client, member, other):
    """A shared job made from its author's private prompt: another member runs the job's own
    request again, not the private prompt."""
    secret = make_prompt(other, text="my secret words", private=True)
    job = make_job(other, make_wallet(), prompt="shared words")
    PromptRun.objects.create(job=job, prompt=secret, version=secret.versions.get())
    client.force_login(member)
    response = client.get(reverse("library:run_again", args=[job.pk]))
    assert response.status_code == 302 and response["Location"] == f"/?job={job.pk}"
    client.force_login(other)
    assert "my secret words" in client.get(f"/library/again/{job.pk}/").content.decode()


def test_private_prompts_history_is_404_to_other_members(client, member, other):
    secret = make_prompt(other, private=True)
    client.force_login(member)
    for url in (
        f"/library/{secret.pk}/history/",
        f"/library/{secret.pk}/history/?a=1&b=1",
        f"/library/{secret.pk}/versions/1/use/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/library/{secret.pk}/versions/1/restore/").status_code == 404
    assert PromptVersion.objects.count() == 1
