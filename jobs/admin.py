from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from wallets.admin.base import ModelIdFilter, ReadOnlyAdmin, SingletonAdmin, money, wallet_name
from wallets.admin.csv_export import CsvExportMixin
from wallets.admin.dates import LooseDatesMixin

from . import resolution
from .models import Job, JobEvent, Retention


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "state", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(LooseDatesMixin, CsvExportMixin, ReadOnlyAdmin):
    """Jobs are money records too (quoted, charged, refunded, settled): read-only here."""

    list_display = [
        "pk",
        "created_at",
        "user",
        "model_id",
        "state",
        money("quoted_usd", "Quoted"),
        money("charged_usd", "Charged"),
        money("refunded_usd", "Refunded"),
        money("settled_usd", "Settled"),
        wallet_name,
        "error_code",
        "review_link",
    ]
    list_filter = [
        "state",
        ("kept_at", admin.EmptyFieldListFilter),
        ("discarded_at", admin.EmptyFieldListFilter),
        ModelIdFilter,
        ("user", admin.RelatedFieldListFilter),
        "wallet",
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["user", "wallet"]
    search_fields = ["prompt", "queue_id", "user__username"]
    search_help_text = "A job number, a queue id, a member, or words of the prompt."
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [JobEventInline]
    exclude = ["lease_until"]
    csv_fields = (
        "id",
        "created_at",
        "user__username",
        "wallet__name",
        "model_id",
        "state",
        "quoted_usd",
        "charged_usd",
        "refunded_usd",
        "settled_usd",
        "budget_month",
        "queue_id",
        "duration_seconds",
        "error_code",
        "finished_at",
        "prompt",
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isdigit():  # a job number
            return queryset.filter(Q(pk=int(term)) | Q(queue_id=term)), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="")
    def review_link(self, job):
        if not resolution.open_for_review(job):
            return ""
        return format_html(
            '<a class="button" href="{}">Resolve</a>',
            reverse("admin:jobs_job_review", args=[job.pk]),
        )

    def can_resolve(self, request) -> bool:
        return request.user.has_perm("jobs.change_job")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/review/", wrap(self.review_view), name="jobs_job_review"),
            *super().get_urls(),
        ]

    def review_view(self, request, pk):
        """A job under review that the ledger cannot settle: adopt a candidate charge, or close
        it as never accepted (jobs.resolution; each step goes to the audit log)."""
        if not self.can_resolve(request):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        job = Job.objects.select_related("wallet", "user").filter(pk=pk).first()
        if job is None:
            raise Http404("No such job")
        if request.method == "POST":
            note = (request.POST.get("note") or "").strip()[:1000]
            try:
                if request.POST.get("do") == "adopt":
                    charge = (request.POST.get("charge") or "").strip()
                    resolution.adopt_charge(job, charge, actor=request.user, note=note)
                    self.message_user(
                        request,
                        f"Job {job.pk} adopted charge {charge}: it is polled from now on.",
                        messages.SUCCESS,
                    )
                elif request.POST.get("do") == "close":
                    resolution.close_never_accepted(job, actor=request.user, note=note)
                    self.message_user(
                        request,
                        f"Job {job.pk} closed as never accepted; its reservation is released.",
                        messages.SUCCESS,
                    )
                else:
                    self.message_user(request, "Choose adopt or close.", messages.ERROR)
                    return HttpResponseRedirect(request.path)
            except resolution.CannotResolve as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(request.path)
            return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Resolve job {job.pk}",
            "opts": self.opts,
            "job": job,
            "open": resolution.open_for_review(job),
            "candidates": resolution.candidates(job),
        }
        return TemplateResponse(request, "admin/jobs/job/review.html", context)


@admin.register(Retention)
class RetentionAdmin(SingletonAdmin):
    """The one retention row: how long a discarded take's audio stays (jobs.keepers)."""

    fields = ["discarded_audio_days", "updated_at"]
    readonly_fields = ["updated_at"]
