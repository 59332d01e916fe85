"""An admin resolves a job under review in Debian's chromium: the Resolve page lists the
candidate charge with the rival job, adopting it queues the job, and closing the rival releases
its reservation (issue 17, item 3).

With STUDIO_SCREENSHOTS=<folder> set, the page is saved there as admin-job-review.png.
"""

from __future__ import annotations

import re

import pytest

from jobs import resolution
from jobs.models import Job
from tests.browser_helpers import shot, sign_in_admin
from tests.review_helpers import two_jobs_one_charge
from wallets.models import AuditEntry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_adopts_a_charge_and_closes_the_job_venice_never_took(
    page, admin_user, member, wallet, venice, settings, django_user_model
):
    accepted, refused = two_jobs_one_charge(wallet, member, venice, settings, django_user_model)
    (charge,) = resolution.candidates(accepted)

    sign_in_admin(page, admin_user)
    page.goto("/admin/jobs/job/?state__exact=needs_review")
    page.locator(f'a[href$="/admin/jobs/job/{accepted.pk}/review/"]').click()
    page.wait_for_url(re.compile(rf"/admin/jobs/job/{accepted.pk}/review/$"))
    table = page.locator("#candidates")
    assert charge.request_id in table.text_content()
    assert f"job {refused.pk}" in table.text_content()
    shot(page, "admin-job-review")

    page.get_by_label(f"Note for adopting {charge.request_id}").fill("the team confirmed it")
    page.get_by_role("button", name=f"Adopt {charge.request_id}").click()
    page.wait_for_url(re.compile(rf"/admin/jobs/job/{accepted.pk}/change/$"))
    assert "adopted charge" in page.locator(".messagelist").text_content()

    page.goto(f"/admin/jobs/job/{refused.pk}/change/")
    page.get_by_role("link", name="Resolve").click()
    assert "No unclaimed charge" in page.locator("#content-main").text_content()
    page.get_by_role("button", name=re.compile("Close as never accepted")).click()
    assert "closed as never accepted" in page.locator(".messagelist").text_content()

    accepted.refresh_from_db()
    refused.refresh_from_db()
    assert accepted.state == Job.State.QUEUED and accepted.queue_id == charge.request_id
    assert refused.state == Job.State.FAILED and refused.reserved_usd == 0
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        AuditEntry.Action.JOB_ADOPT,
        AuditEntry.Action.JOB_CLOSE,
    }
