"""Quick insert (`/` in Generate's prompt), and the library's export and import pages: what a
member sees, what they may not, and that a bad upload writes nothing and says why."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from studio import transfer, versioning
from studio.models import Prompt, PromptVersion

from .ui_helpers import make_prompt

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _catalogue(venice):
    """Model names come from Venice's catalogue (the sandbox here)."""


def quick(client, typed: str):
    return client.post(reverse("library:quick"), {"prompt": typed})


def upload(client, content: bytes, name: str = "prompts.json"):
    return client.post(reverse("library:import"), {"file": SimpleUploadedFile(name, content)})


def export_file(*records) -> bytes:
    return json.dumps({"format": "studio-prompts", "version": 1, "prompts": list(records)}).encode()


# --- quick insert --------------------------------------------------------------------------------


def test_quick_insert_lists_matching_prompts_with_model_tags_and_approved_badge(
    client, member, admin_user
):
    rain = make_prompt(member, title="Rainy cafe", tags=["lofi", "chill"], times_used=5)
    versioning.set_approved(rain, rain.versions.get(), admin_user)
    make_prompt(member, title="Boss fight", text="epic drums")
    client.force_login(member)
    page = quick(client, "/rain").content.decode()
    assert "Rainy cafe" in page and "Boss fight" not in page
    assert f'href="/library/{rain.pk}/use/"' in page
    assert "#lofi" in page and "#chill" in page and "v1 approved" in page
    assert "ElevenLabs" in page or "elevenlabs-music" in page
    # A bare slash lists the most used; words match title, tags or text, all of them.
    assert "Boss fight" in quick(client, "/").content.decode()
    assert "Boss fight" in quick(client, "/drums epic").content.decode()
    assert (
        "No library prompt matches “nothing here”"
        in quick(client, "/nothing here").content.decode()
    )


def test_quick_insert_answers_nothing_unless_the_prompt_starts_with_a_slash(client, member):
    make_prompt(member, title="Rainy cafe")
    client.force_login(member)
    for typed in ("rain", " /rain", "", "a/rain"):
        response = quick(client, typed)
        assert response.status_code == 200 and response.content == b"", typed


def test_quick_insert_escapes_and_never_shows_another_members_private_prompt(client, member, other):
    secret = make_prompt(other, title="Rain secret", text="rain", private=True)
    make_prompt(other, title="Rain <script>alert(1)</script>", text="rain")
    client.force_login(member)
    page = quick(client, "/rain").content.decode()
    assert "Rain secret" not in page and f"/library/{secret.pk}/" not in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert client.get(reverse("library:use", args=[secret.pk])).status_code == 404


def test_generate_carries_the_quick_insert_under_its_prompt(client, member, wallet):
    client.force_login(member)
    page = client.get(reverse("jobs:generate")).content.decode()
    assert 'id="quick-insert"' in page and 'hx-post="/library/quick/"' in page
    assert "from:#id_prompt" in page


# --- export --------------------------------------------------------------------------------------


def test_export_writes_what_the_list_shows_and_only_what_the_member_may_see(client, member, other):
    make_prompt(member, title="Rainy cafe", tags=["lofi"])
    make_prompt(member, title="Boss fight", tags=["game"])
    make_prompt(other, title="Their secret", private=True)
    client.force_login(member)
    response = client.get(reverse("library:export"))
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="studio-prompts-')
    titles = [p["title"] for p in json.loads(response.content)["prompts"]]
    assert sorted(titles) == ["Boss fight", "Rainy cafe"]
    filtered = json.loads(client.get(reverse("library:export"), {"tag": "lofi"}).content)
    assert [p["title"] for p in filtered["prompts"]] == ["Rainy cafe"]
    # The list's Export button carries its filter.
    page = client.get(reverse("library:list"), {"tag": "lofi"}).content.decode()
    assert 'href="/library/export/?tag=lofi"' in page and "Export these" in page


# --- import --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"hello", "notes.txt", "is not a .json file"),
        (b"{oops", "prompts.json", "not valid JSON"),
        (b'{"format": "other"}', "prompts.json", "not a Studio prompt export"),
        (b"\xff\xfe\x00", "prompts.json", "not UTF-8"),
        (b" " * (transfer.MAX_FILE_BYTES + 10), "big.json", "at most 2 MB"),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_message_and_writes_nothing(
    client, member, content, name, words
):
    client.force_login(member)
    response = upload(client, content, name)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported" in page and words in page
    assert transfer_key() not in client.session
    assert not Prompt.objects.exists()


def transfer_key() -> str:
    from studio.views import IMPORT_KEY

    return IMPORT_KEY


def test_no_file_chosen_says_so(client, member):
    client.force_login(member)
    response = client.post(reverse("library:import"))
    assert response.status_code == 400 and "Choose a file to import." in response.content.decode()


def test_preview_then_confirm_imports_and_nothing_before(client, member):
    make_prompt(member, title="Same", text="same text")
    client.force_login(member)
    content = export_file(
        {"title": "Same", "text": "same text"},
        {"title": "Fresh <b>idea</b>", "text": "new text", "tags": ["new"]},
    )
    response = upload(client, content)
    assert response.status_code == 302 and response["Location"] == reverse("library:import_preview")
    page = client.get(reverse("library:import_preview")).content.decode()
    assert "1 to create" in page and "1 to skip" in page and "Import 1 prompt" in page
    assert "Fresh &lt;b&gt;idea&lt;/b&gt;" in page
    assert Prompt.objects.count() == 1  # nothing written by the upload or the preview

    digest = client.session[transfer_key()]["digest"]
    response = client.post(reverse("library:import_confirm"), {"digest": digest})
    assert response.status_code == 302
    assert Prompt.objects.get(title="Fresh <b>idea</b>").author == member
    assert transfer_key() not in client.session
    message = client.get(reverse("library:list")).content.decode()
    assert "1 created, 0 updated, 1 skipped" in message


def test_a_file_with_a_bad_record_cannot_be_confirmed(client, member):
    client.force_login(member)
    upload(client, export_file({"title": "Good", "text": "fine"}, {"title": "Bad", "text": "{{x"}))
    page = client.get(reverse("library:import_preview")).content.decode()
    assert "Nothing can be imported" in page and "unclosed {{" in page
    assert "import/confirm/" not in page
    digest = client.session[transfer_key()]["digest"]
    response = client.post(reverse("library:import_confirm"), {"digest": digest})
    assert response.status_code == 400
    assert not Prompt.objects.exists() and not PromptVersion.objects.exists()


def test_confirm_plans_again_from_the_session_not_from_the_page(client, member):
    client.force_login(member)
    upload(client, export_file({"title": "Rain", "text": "rain"}))
    digest = client.session[transfer_key()]["digest"]
    # Another file uploaded in another tab: the first preview's confirm does not import it.
    upload(client, export_file({"title": "Other", "text": "other"}))
    response = client.post(reverse("library:import_confirm"), {"digest": digest})
    assert response.status_code == 302 and response["Location"] == reverse("library:import_preview")
    assert not Prompt.objects.exists()
    # Between preview and confirm someone added the same prompt: it is skipped, not doubled.
    make_prompt(member, title="Other", text="other")
    digest = client.session[transfer_key()]["digest"]
    client.post(reverse("library:import_confirm"), {"digest": digest})
    assert Prompt.objects.filter(title="Other").count() == 1


def test_confirm_without_an_upload_goes_back_to_the_upload(client, member):
    client.force_login(member)
    response = client.post(reverse("library:import_confirm"), {"digest": "x"})
    assert response.status_code == 302 and response["Location"] == reverse("library:import")
    response = client.get(reverse("library:import_preview"))
    assert response.status_code == 302 and response["Location"] == reverse("library:import")
